package workloads

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/systems"
)

// testClient is a client that says whether it was closed.
type testClient struct {
	node   string
	closed bool
}

func (c *testClient) Close() error {
	c.closed = true
	return nil
}

func testEnv(nodes ...string) Env {
	env := Env{}
	for _, n := range nodes {
		env.Nodes = append(env.Nodes, systems.Peer{Name: n})
	}
	return env
}

func TestOpenClientsRoundRobin(t *testing.T) {
	env := testEnv("n1", "n2", "n3")
	clients, err := openClients(context.Background(), env, 5, func(_ context.Context, n systems.Peer) (*testClient, error) {
		return &testClient{node: n.Name}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range clients {
		got = append(got, c.node)
	}
	if want := []string{"n1", "n2", "n3", "n1", "n2"}; !slices.Equal(got, want) {
		t.Errorf("clients opened through %v, want %v", got, want)
	}
	closeClients(clients)
	for i, c := range clients {
		if !c.closed {
			t.Errorf("client %d not closed by closeClients", i)
		}
	}
}

// A client that cannot be opened ends the opening with its error, as it
// came, and closes the clients opened before it, and only those.
func TestOpenClientsClosesOnError(t *testing.T) {
	env := testEnv("n1", "n2")
	refused := errors.New("connection refused")
	var opened []*testClient
	clients, err := openClients(context.Background(), env, 4, func(_ context.Context, n systems.Peer) (*testClient, error) {
		if len(opened) == 2 {
			return nil, refused
		}
		c := &testClient{node: n.Name}
		opened = append(opened, c)
		return c, nil
	})
	if err != refused {
		t.Fatalf("err = %v, want the open's own error %v", err, refused)
	}
	if clients != nil {
		t.Errorf("clients = %v, want none", clients)
	}
	if len(opened) != 2 {
		t.Fatalf("%d clients opened, want 2 (the opening stops at the error)", len(opened))
	}
	for i, c := range opened {
		if !c.closed {
			t.Errorf("client %d, opened before the error, not closed", i)
		}
	}
}

// Every worker gets its client, its node (the one its client was opened
// through) and process i; wait waits for all of them.
func TestGoClientsBindsNodesAndProcesses(t *testing.T) {
	env := testEnv("n1", "n2")
	clients := []string{"c0", "c1", "c2"}
	type call struct {
		c, node string
		proc    history.Process
	}
	var mu sync.Mutex
	got := make([]call, len(clients))
	wait := goClients(env, clients, func() { t.Error("cancel called without a panic") }, func(i int, c, node string, proc history.Process) {
		mu.Lock()
		got[i] = call{c, node, proc}
		mu.Unlock()
	})
	if err := wait(); err != nil {
		t.Fatalf("wait() = %v, want nil", err)
	}
	want := []call{{"c0", "n1", 0}, {"c1", "n2", 1}, {"c2", "n1", 2}}
	if !slices.Equal(got, want) {
		t.Errorf("workers ran with %v, want %v", got, want)
	}
}

// A panicking worker does not take the process down: its panic becomes
// the error wait returns, the run's context is cancelled, and the other
// workers finish.
func TestGoClientsPanicIsAnError(t *testing.T) {
	env := testEnv("n1", "n2")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var finished atomic.Int32
	wait := goClients(env, make([]int, 3), cancel, func(i int, _ int, _ string, _ history.Process) {
		if i == 1 {
			panic("garbage from the client library")
		}
		// The others run until the panic cancels the run.
		<-ctx.Done()
		finished.Add(1)
	})
	err := wait()
	if err == nil {
		t.Fatal("wait() = nil, want the panic as an error")
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "client 1 panicked: garbage from the client library\n") || !strings.Contains(msg, "goroutine") {
		t.Errorf("wait() = %q, want the client, the panic and its stack", msg)
	}
	if ctx.Err() == nil {
		t.Error("the panic did not cancel the run")
	}
	if n := finished.Load(); n != 2 {
		t.Errorf("%d other workers finished, want 2", n)
	}
}

func TestNeeds(t *testing.T) {
	if _, err := needs[systems.Registers](nil, "register", "register clients"); err == nil || err.Error() != "the register workload needs a system with register clients, and <nil> has none" {
		t.Errorf("needs(nil) = %v", err)
	}
	var inst systems.Instance = fakeInstance{}
	if _, err := needs[systems.Locks](inst, "lock", "leased locks"); err == nil || err.Error() != "the lock workload needs a system with leased locks, and workloads.fakeInstance has none" {
		t.Errorf("needs(fakeInstance) = %v", err)
	}
	if got, err := needs[systems.Instance](inst, "any", "anything"); err != nil || got != inst {
		t.Errorf("needs(inst) = %v, %v; want inst, nil", got, err)
	}
}

type fakeInstance struct{ systems.Instance }
