package adapter

import (
	"context"
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lab-chaos/lab/systems"
)

type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func op(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestAWorkingAdapter(t *testing.T) {
	c := NewClient(Command{Path: "testdata/register.sh"}, nil)
	defer c.Close()
	if _, found, err := c.Read(op(t), "k"); err != nil || found {
		t.Fatalf("first read: found=%v err=%v, want no value", found, err)
	}
	if err := c.Write(op(t), "k", "v1"); err != nil {
		t.Fatal(err)
	}
	if v, found, err := c.Read(op(t), "k"); err != nil || !found || v != "v1" {
		t.Fatalf("read %q found=%v err=%v, want v1", v, found, err)
	}
	// fail is a definite failure; info an unknown outcome.
	if _, err := c.CAS(op(t), "k", "v1", true, "v2"); err == nil || !systems.IsDefinite(err) {
		t.Errorf("cas answered fail: err %v, want a definite failure", err)
	}
	if err := c.Add(op(t), "s", "e"); err == nil || systems.IsDefinite(err) || !strings.Contains(err.Error(), "maybe") {
		t.Errorf("add answered info: err %v, want an unknown outcome with the adapter's reason", err)
	}
}

// TestBrokenAdaptersAreUnknownAndReplaced: garbage, an exit, a hang, an
// answer to another request and a value of the wrong shape each make the
// operation an unknown outcome (never a definite failure), kill the
// adapter, and the next operation runs on a new one.
func TestBrokenAdaptersAreUnknownAndReplaced(t *testing.T) {
	for _, mode := range []string{"garbage", "exit", "hang", "wrong-id", "bad-shape"} {
		t.Run(mode, func(t *testing.T) {
			var stderr lockedBuf
			c := NewClient(Command{Path: "testdata/broken.sh", Args: []string{mode}}, &stderr)
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			t0 := time.Now()
			_, _, err := c.Read(ctx, "k")
			if err == nil || systems.IsDefinite(err) {
				t.Fatalf("err %v, want an unknown outcome", err)
			}
			if took := time.Since(t0); took > 5*time.Second {
				t.Errorf("the read took %s", took)
			}
			t.Logf("%s: %v", mode, err)
			first := c.proc
			if first != nil {
				t.Fatal("the broken adapter was kept")
			}
			// The next operation starts another adapter (which breaks the same way).
			ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
			defer cancel2()
			if _, _, err := c.Read(ctx2, "k"); err == nil || systems.IsDefinite(err) {
				t.Fatalf("second read: err %v, want an unknown outcome again", err)
			}
			if n := strings.Count(stderr.String(), "adapter: hello from"); n != 2 {
				t.Errorf("%d adapters started, want 2:\n%s", n, stderr.String())
			}
		})
	}
}

func TestAMissingAdapterIsADefiniteFailure(t *testing.T) {
	c := NewClient(Command{Path: "testdata/no-such-adapter"}, nil)
	defer c.Close()
	err := c.Write(op(t), "k", "v")
	if err == nil || !systems.IsDefinite(err) {
		t.Fatalf("err %v, want a definite failure: nothing was sent", err)
	}
}

func TestCloseLeavesNoProcess(t *testing.T) {
	c := NewClient(Command{Path: "testdata/register.sh"}, nil)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	pid := c.proc.cmd.Process.Pid
	c.Close()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("adapter pid %d still exists after Close: %v", pid, err)
	}
}
