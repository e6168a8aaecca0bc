package adapter

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/lab-chaos/lab/systems"
)

// TestQueueThroughAnAdapter: publish answers positions, consume takes
// what no one took, read-from and last read the whole log; a position that
// is not one makes the publish unknown, never failed, and the next
// operation gets a new adapter.
func TestQueueThroughAnAdapter(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatal("python3 is needed (make test-deps installs it)")
	}
	c := NewClient(Command{Path: "testdata/queue.py"}, nil)
	defer c.Close()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	for i, v := range []string{"a", "b", "c"} {
		seq, err := c.Publish(op(t), v)
		if err != nil || seq != uint64(i+1) {
			t.Fatalf("publish %s = %d, %v; want %d", v, seq, err, i+1)
		}
	}
	got, err := c.Consume(op(t), 2, 100*time.Millisecond)
	if err != nil || len(got) != 2 || got[0] != (systems.Message{Seq: 1, Value: "a"}) || got[1].Seq != 2 {
		t.Fatalf("consume = %v, %v; want a and b", got, err)
	}
	from, err := c.ReadFrom(op(t), 2, 10)
	if err != nil || len(from) != 2 || from[1] != (systems.Message{Seq: 3, Value: "c"}) {
		t.Fatalf("read-from 2 = %v, %v", from, err)
	}
	if last, err := c.Last(op(t)); err != nil || last != 3 {
		t.Fatalf("last = %d, %v; want 3", last, err)
	}
	_, err = c.Publish(op(t), "garble")
	if err == nil || systems.IsDefinite(err) {
		t.Fatalf("publish answered with a non-position: %v; want an unknown outcome", err)
	}
	// A new adapter, with nothing of the old one's queue.
	if last, err := c.Last(context.Background()); err != nil || last != 0 {
		t.Fatalf("last after the broken adapter = %d, %v; want 0 from a new one", last, err)
	}
}
