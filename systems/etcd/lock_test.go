package etcd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/lab-chaos/lab/internal/labtest"
	"github.com/lab-chaos/lab/internal/systest"
	"github.com/lab-chaos/lab/runtime"
	"github.com/lab-chaos/lab/runtime/docker"
	"github.com/lab-chaos/lab/systems"
)

// TestLockWire: the v3lock messages as etcd's generated code writes them
// (bytes taken from v3lockpb's Marshal of the same values).
func TestLockWire(t *testing.T) {
	got, err := wireCodec{}.Marshal(&lockRequest{name: "l/0", lease: 300})
	// name: tag 1 bytes "l/0"; lease: tag 2 varint 300 (0xac 0x02).
	want := []byte{0x0a, 3, 'l', '/', '0', 0x10, 0xac, 0x02}
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("Marshal(lock request) = % x, %v; want % x", got, err, want)
	}
	if got, _ := (wireCodec{}).Marshal(&unlockRequest{key: "k"}); !bytes.Equal(got, []byte{0x0a, 1, 'k'}) {
		t.Errorf("Marshal(unlock request) = % x", got)
	}
	// A response: header {cluster_id 7, revision 42, raft_term 3}, key.
	var hdr []byte
	hdr = protowire.AppendTag(hdr, 1, protowire.VarintType)
	hdr = protowire.AppendVarint(hdr, 7)
	hdr = protowire.AppendTag(hdr, 3, protowire.VarintType)
	hdr = protowire.AppendVarint(hdr, 42)
	hdr = protowire.AppendTag(hdr, 4, protowire.VarintType)
	hdr = protowire.AppendVarint(hdr, 3)
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, hdr)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendString(b, "l/0/694d7e1c")
	b = protowire.AppendTag(b, 9, protowire.Fixed64Type) // unknown, skipped
	b = protowire.AppendFixed64(b, 1)
	var resp lockResponse
	if err := (wireCodec{}).Unmarshal(b, &resp); err != nil || resp.revision != 42 || resp.key != "l/0/694d7e1c" {
		t.Errorf("Unmarshal(lock response) = %+v, %v", resp, err)
	}
	if err := (wireCodec{}).Unmarshal(b[:len(b)-3], &resp); err == nil {
		t.Error("Unmarshal of a cut response: no error")
	}
	if _, err := (wireCodec{}).Marshal("x"); err == nil {
		t.Error("Marshal of a string: no error")
	}
}

// TestLockContention starts three etcd nodes in Docker and makes two
// leases, on two nodes, contend for one lock with each method: the second
// acquires only once the first released, its token is larger, and a
// lease's ValidUntil grows with its keepalives. A revoked lease releases
// its lock, and a lock taken under a revoked lease is refused as a
// definite failure.
func TestLockContention(t *testing.T) {
	labtest.Docker(t)
	labtest.Root(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	inst, err := System{}.Open(systems.Config{BuildOutput: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	sys := inst.(*Etcd)
	drv := &docker.Driver{}
	defer drv.Close()
	c := systest.Start(ctx, t, drv, sys, systest.RunID("lock"), "n1", "n2", "n3")

	client := func(i int) systems.LockClient {
		lc, err := sys.LockClient(ctx, c.Peers[i])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { lc.Close() })
		return lc
	}
	c1, c2 := client(0), client(1)
	grant := func(lc systems.LockClient) systems.LockLease {
		l, err := lc.Grant(ctx, 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.End(context.Background()) })
		return l
	}
	op := func(f func(ctx context.Context) error) error {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return f(ctx)
	}

	for _, methods := range [][2]string{{MethodV3Lock, MethodMutex}, {MethodMutex, MethodV3Lock}, {MethodV3Lock, MethodV3Lock}, {MethodMutex, MethodMutex}} {
		t.Run(methods[0]+"-then-"+methods[1], func(t *testing.T) {
			a, b := grant(c1), grant(c2)
			name := "lab-lock/" + methods[0] + "-" + methods[1]
			var ha systems.LockHold
			if err := op(func(ctx context.Context) (err error) { ha, err = a.Acquire(ctx, name, methods[0]); return err }); err != nil {
				t.Fatalf("first acquire: %v", err)
			}
			if ha.Token <= 0 || ha.Key == "" {
				t.Fatalf("first hold = %+v, want a key and a token", ha)
			}
			type result struct {
				h   systems.LockHold
				err error
				at  time.Time
			}
			second := make(chan result, 1)
			go func() {
				var r result
				r.err = op(func(ctx context.Context) (err error) { r.h, err = b.Acquire(ctx, name, methods[1]); return err })
				r.at = time.Now()
				second <- r
			}()
			select {
			case r := <-second:
				t.Fatalf("second acquire returned while the first held the lock: %+v", r)
			case <-time.After(time.Second):
			}
			released := time.Now()
			if err := op(func(ctx context.Context) error { return a.Release(ctx, ha) }); err != nil {
				t.Fatalf("release: %v", err)
			}
			r := <-second
			if r.err != nil {
				t.Fatalf("second acquire: %v", r.err)
			}
			if r.at.Before(released) {
				t.Errorf("second acquire returned at %v, before the release began at %v", r.at, released)
			}
			if r.h.Token <= ha.Token {
				t.Errorf("tokens %d then %d, want increasing", ha.Token, r.h.Token)
			}
			t.Logf("%s token %d, then %s token %d", methods[0], ha.Token, methods[1], r.h.Token)
			if err := op(func(ctx context.Context) error { return b.Release(ctx, r.h) }); err != nil {
				t.Fatalf("second release: %v", err)
			}
			// Releasing again deletes a key that is gone: no error.
			if err := op(func(ctx context.Context) error { return b.Release(ctx, r.h) }); err != nil {
				t.Errorf("release of a released lock: %v", err)
			}
		})
	}

	t.Run("keepalives and revoke", func(t *testing.T) {
		a, b := grant(c1), grant(c2)
		v0 := a.ValidUntil()
		if d := time.Until(v0); d <= 0 || d > 3*time.Second {
			t.Errorf("ValidUntil right after the grant is %v away, want within the TTL", d)
		}
		if err := runtime.WaitFor(ctx, 5*time.Second, 100*time.Millisecond, func(context.Context) error {
			if !a.ValidUntil().After(v0) {
				return errors.New("not renewed yet")
			}
			return nil
		}); err != nil {
			t.Errorf("ValidUntil never grew: %v", err)
		}
		var ha systems.LockHold
		if err := op(func(ctx context.Context) (err error) {
			ha, err = a.Acquire(ctx, "lab-lock/revoke", MethodV3Lock)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if err := op(a.End); err != nil {
			t.Fatalf("End: %v", err)
		}
		// The revoke released the lock.
		var hb systems.LockHold
		if err := op(func(ctx context.Context) (err error) {
			hb, err = b.Acquire(ctx, "lab-lock/revoke", MethodMutex)
			return err
		}); err != nil {
			t.Fatalf("acquire after the revoke: %v", err)
		}
		if hb.Token <= ha.Token {
			t.Errorf("tokens %d then %d, want increasing", ha.Token, hb.Token)
		}
		// The revoked lease takes no lock, and that is certain.
		for _, m := range []string{MethodV3Lock, MethodMutex} {
			err := op(func(ctx context.Context) error { _, err := a.Acquire(ctx, "lab-lock/other", m); return err })
			if err == nil || !systems.IsDefinite(err) {
				t.Errorf("%s acquire under a revoked lease: %v, want a definite failure", m, err)
			}
		}
		if !a.Gone() {
			t.Error("a revoked lease is not Gone")
		}
	})
}
