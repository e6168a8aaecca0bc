package main

import (
	"context"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lab-chaos/lab/systems"
)

// TestAdapterAgainstEtcd runs the adapter against one real etcd member
// through the lab's side of the protocol: a register's read, write and
// compare-and-set, a set's add and read, a request it does not serve. Then
// etcd is frozen (a write sent and unanswered is info), and killed: every
// operation must end in fail or info, answered by the adapter itself,
// which neither crashes nor hangs, and fail once it has no connection.
func TestAdapterAgainstEtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd, built through the Go module proxy on first use")
	}
	m := startEtcd(t)
	c := adapterClient(t, buildAdapter(t), m.endpoint, "1s")
	ctx := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		t.Cleanup(cancel)
		return ctx
	}
	read := func(key, want string, wantFound bool) {
		t.Helper()
		v, found, err := c.Read(ctx(), key)
		if err != nil || v != want || found != wantFound {
			t.Fatalf("read %q = %q, found %v, %v; want %q, found %v", key, v, found, err, want, wantFound)
		}
	}
	cas := func(key, old string, oldFound bool, new string, want bool) {
		t.Helper()
		swapped, err := c.CAS(ctx(), key, old, oldFound, new)
		if err != nil || swapped != want {
			t.Fatalf("cas %q from %q (found %v) to %q = %v, %v; want %v", key, old, oldFound, new, swapped, err, want)
		}
	}

	read("absent", "", false)
	if err := c.Write(ctx(), "k", "1"); err != nil {
		t.Fatal(err)
	}
	read("k", "1", true)
	cas("k", "1", true, "2", true)
	cas("k", "1", true, "3", false)
	read("k", "2", true)
	cas("new", "", false, "a", true)
	cas("new", "", false, "b", false)
	read("new", "a", true)

	// The register is at the key itself: the lab's Go client sees it.
	g := goClient(t, m.endpoint)
	defer g.Close()
	if v, found, err := g.Read(ctx(), "k"); err != nil || !found || v != "2" {
		t.Fatalf("the Go client reads k = %q, found %v, %v; want 2", v, found, err)
	}

	for _, e := range []string{"x", "y", "x"} {
		if err := c.Add(ctx(), "s", e); err != nil {
			t.Fatal(err)
		}
	}
	// A key holding a slash has its own prefix, not a part of s's.
	if err := c.Add(ctx(), "s/x", "z"); err != nil {
		t.Fatal(err)
	}
	if got, err := c.ReadSet(ctx(), "s"); err != nil || !slices.Equal(got, []string{"x", "y"}) {
		t.Fatalf("read-set s = %q, %v; want [x y]", got, err)
	}
	if got, err := c.ReadSet(ctx(), "empty"); err != nil || len(got) != 0 {
		t.Fatalf("read-set of an empty set = %q, %v; want []", got, err)
	}
	if _, err := c.Do(ctx(), "dequeue", "q", nil); !systems.IsDefinite(err) {
		t.Fatalf("an f the adapter does not serve: %v; want a fail", err)
	}

	// A frozen etcd keeps its connection: the write is sent and gets no
	// answer, so its outcome is unknown (info).
	if err := m.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	err := c.Write(ctx(), "k", "8")
	if err == nil || systems.IsDefinite(err) || strings.HasPrefix(err.Error(), "adapter") {
		t.Fatalf("write to a frozen etcd: %v; want an info of the adapter", err)
	}
	t.Logf("write to a frozen etcd: %v", err)

	m.kill()
	ops := []struct {
		name string
		run  func() error
	}{
		{"write", func() error { return c.Write(ctx(), "k", "9") }},
		{"read", func() error { _, _, err := c.Read(ctx(), "k"); return err }},
		{"cas", func() error { _, err := c.CAS(ctx(), "k", "2", true, "9"); return err }},
		{"add", func() error { return c.Add(ctx(), "s", "w") }},
		{"write", func() error { return c.Write(ctx(), "k", "10") }},
	}
	fails := 0
	for _, op := range ops {
		err := op.run()
		if err == nil {
			t.Fatalf("%s with etcd killed: ok", op.name)
		}
		// Errors of the lab's side (a dead, silent or confused adapter)
		// start with "adapter"; the adapter's own answers do not.
		if strings.HasPrefix(err.Error(), "adapter") {
			t.Fatalf("%s with etcd killed: %v; want an answer of the adapter", op.name, err)
		}
		if systems.IsDefinite(err) {
			fails++
		}
		t.Logf("%s with etcd killed: definite %v: %v", op.name, systems.IsDefinite(err), err)
	}
	// Once the connection is gone, the adapter sends nothing, and says so.
	if fails == 0 {
		t.Fatal("no operation failed definitely with etcd killed; want fail once the adapter has no connection")
	}
}
