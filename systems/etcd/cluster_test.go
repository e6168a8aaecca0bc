package etcd_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/lab-chaos/lab/internal/labtest"
	"github.com/lab-chaos/lab/internal/systest"
	"github.com/lab-chaos/lab/nemesis"
	"github.com/lab-chaos/lab/runtime"
	"github.com/lab-chaos/lab/runtime/docker"
	"github.com/lab-chaos/lab/systems"
	"github.com/lab-chaos/lab/systems/etcd"
)

// nodes adapts the runtime to what the nemesis needs.
func nodes(rt interface {
	Pid(context.Context, string) (int, error)
}, peers []systems.Peer) *nemesis.NodeSet {
	names, addrs := systems.Split(peers)
	return nemesis.NewNodeSet(names, addrs, rt.Pid)
}

// TestPartitionCutsARealCluster starts three etcd nodes in Docker, isolates
// n3 with nftables in its namespace, and checks what each side sees: the
// majority still takes writes, n3 can serve no linearizable read, and its
// serializable reads are stale. After the heal n3 catches up.
func TestPartitionCutsARealCluster(t *testing.T) {
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
	art, _, err := sys.Artifact(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := drv.Prepare(ctx, art, os.Stderr); err != nil {
		t.Fatal(err)
	}
	// A second prepare must find the image by its content and not rebuild.
	if _, built, err := drv.Prepare(ctx, art, os.Stderr); err != nil || built {
		t.Fatalf("second Prepare: built=%v err=%v, want a cache hit", built, err)
	}
	c := systest.Start(ctx, t, drv, sys, systest.RunID("test"), "n1", "n2", "n3")
	cl, peers := c.RT, c.Peers
	c1, err := sys.RegisterClient(ctx, peers[0], systems.Linearizable)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c3, err := sys.RegisterClient(ctx, peers[2], systems.Linearizable)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	c3s, err := sys.RegisterClient(ctx, peers[2], systems.Serializable)
	if err != nil {
		t.Fatal(err)
	}
	defer c3s.Close()
	op := func(f func(ctx context.Context) error) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		return f(ctx)
	}
	if err := op(func(ctx context.Context) error { return c1.Write(ctx, "k", "1") }); err != nil {
		t.Fatal(err)
	}
	// Wait until n3 has applied the write, so the stale read below is
	// really stale and not merely not yet replicated.
	if err := runtime.WaitFor(ctx, 10*time.Second, 100*time.Millisecond, func(ctx context.Context) error {
		v, _, err := c3s.Read(ctx, "k")
		if err == nil && v != "1" {
			err = errors.New("n3 has not applied the write yet")
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}

	part := nemesis.NewPartitioner(nodes(cl, peers))
	groups, cut, err := nemesis.PlanPartition(nemesis.ShapeIsolate, "n3", []string{"n1", "n2", "n3"}, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cutting %v", groups)
	if err := part.Cut(ctx, 1, cut); err != nil {
		t.Fatal(err)
	}
	defer part.HealAll(context.Background())

	// The majority goes on.
	if err := runtime.WaitFor(ctx, 15*time.Second, 100*time.Millisecond, func(ctx context.Context) error {
		return op(func(ctx context.Context) error { return c1.Write(ctx, "k", "2") })
	}); err != nil {
		t.Fatalf("majority write during the partition: %v", err)
	}
	// n3 cannot serve a linearizable read...
	if err := op(func(ctx context.Context) error { _, _, err := c3.Read(ctx, "k"); return err }); err == nil {
		t.Fatal("linearizable read through isolated n3 succeeded")
	} else {
		t.Logf("linearizable read through n3: %v", err)
	}
	// ... and its serializable read is stale.
	var v string
	if err := op(func(ctx context.Context) (err error) { v, _, err = c3s.Read(ctx, "k"); return err }); err != nil {
		t.Fatalf("serializable read through n3: %v", err)
	}
	if v != "1" {
		t.Fatalf("serializable read through isolated n3 = %q, want the stale %q", v, "1")
	}

	if err := part.Heal(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if got := part.Active(); len(got) != 0 {
		t.Fatalf("after heal, active faults = %v", got)
	}
	if err := runtime.WaitFor(ctx, 30*time.Second, 200*time.Millisecond, func(ctx context.Context) error {
		var v string
		err := op(func(ctx context.Context) (err error) { v, _, err = c3.Read(ctx, "k"); return err })
		if err == nil && v != "2" {
			err = errors.New("n3 read " + v)
		}
		return err
	}); err != nil {
		t.Fatalf("n3 after the heal: %v", err)
	}
}
