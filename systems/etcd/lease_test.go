package etcd_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/lab-chaos/lab/checker"
	"github.com/lab-chaos/lab/internal/labtest"
	"github.com/lab-chaos/lab/internal/systest"
	"github.com/lab-chaos/lab/runtime/docker"
	"github.com/lab-chaos/lab/systems"
	"github.com/lab-chaos/lab/systems/etcd"
)

// TestLeaseClient starts three etcd nodes in Docker and drives one lease
// through the lease client: granted through n1 (a TTL below etcd's minimum
// is raised to 2 s), a key put under it, kept alive through n2 (a follower
// forwards to the leader) for twice its TTL while n3 still reads the key;
// then left alone, the key goes no sooner than the TTL after the last
// keepalive was sent and no later than the TTL and the checker's margin
// after it returned. A keepalive or a put naming the expired lease is a
// definite error.
func TestLeaseClient(t *testing.T) {
	labtest.Docker(t)
	labtest.Root(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	inst, err := etcd.System{}.Open(systems.Config{BuildOutput: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	sys := inst.(*etcd.Etcd)
	drv := &docker.Driver{}
	defer drv.Close()
	c := systest.Start(ctx, t, drv, sys, systest.RunID("lease"), "n1", "n2", "n3")
	client := func(i int) systems.LeaseClient {
		lc, err := sys.LeaseClient(ctx, c.Peers[i])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { lc.Close() })
		return lc
	}
	c1, c2, c3 := client(0), client(1), client(2)
	op := func(f func(ctx context.Context) error) error {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		return f(ctx)
	}

	var id int64
	var ttl time.Duration
	if err := op(func(ctx context.Context) (err error) { id, ttl, err = c1.Grant(ctx, time.Second); return err }); err != nil {
		t.Fatal(err)
	}
	if ttl != 2*time.Second {
		t.Fatalf("Grant(1s) gave a TTL of %s, want etcd's minimum, 2s", ttl)
	}
	if err := op(func(ctx context.Context) error { return c1.Put(ctx, "lease-k", "v1", id) }); err != nil {
		t.Fatal(err)
	}
	read := func(lc systems.LeaseClient) (v string, found bool) {
		if err := op(func(ctx context.Context) (err error) { v, found, err = lc.Read(ctx, "lease-k"); return err }); err != nil {
			t.Fatal(err)
		}
		return v, found
	}

	// Kept alive through n2 for twice the TTL: the key stays.
	var sent, returned time.Time
	for end := time.Now().Add(2 * ttl); time.Now().Before(end); {
		sent = time.Now()
		var got time.Duration
		if err := op(func(ctx context.Context) (err error) { got, err = c2.KeepAliveOnce(ctx, id); return err }); err != nil {
			t.Fatalf("keepalive through n2: %v", err)
		}
		returned = time.Now()
		if got != ttl {
			t.Fatalf("KeepAliveOnce = %s, want the TTL %s", got, ttl)
		}
		if v, found := read(c3); !found || v != "v1" {
			t.Fatalf("read through n3 while kept alive = %q, %v; want v1", v, found)
		}
		time.Sleep(ttl / 3)
	}

	// Let go: the key goes with the lease.
	var gone time.Time
	for deadline := returned.Add(ttl + checker.LeaseMargin + 2*time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, found := read(c3); !found {
			gone = time.Now()
			break
		}
	}
	switch {
	case gone.IsZero():
		t.Fatalf("the key was still there %s after the last keepalive (TTL %s)", time.Since(returned), ttl)
	case gone.Before(sent.Add(ttl)):
		t.Fatalf("the key went %s after the last keepalive was sent, before the TTL (%s)", gone.Sub(sent), ttl)
	case gone.After(returned.Add(ttl + checker.LeaseMargin)):
		t.Fatalf("the key went %s after the last keepalive returned, later than the TTL and the margin (%s + %s)", gone.Sub(returned), ttl, checker.LeaseMargin)
	}
	t.Logf("the key went %s after the last keepalive was sent (TTL %s)", gone.Sub(sent).Round(time.Millisecond), ttl)

	err = op(func(ctx context.Context) error { _, err := c2.KeepAliveOnce(ctx, id); return err })
	if err == nil || !systems.IsDefinite(err) {
		t.Errorf("keepalive of the expired lease: %v, want a definite error", err)
	}
	err = op(func(ctx context.Context) error { return c1.Put(ctx, "lease-k2", "v2", id) })
	if err == nil || !systems.IsDefinite(err) {
		t.Errorf("put under the expired lease: %v, want a definite error", err)
	}
	if _, found := read(c1); found {
		t.Error("the key is back")
	}
}
