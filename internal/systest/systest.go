// Package systest starts a system under test on a runtime for the lab's
// own tests: the artifact built (or found in the cache), the runtime made,
// every node started and awaited, and everything removed when the test
// ends. Only _test.go files import it.
package systest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/lab-chaos/lab/runtime"
	"github.com/lab-chaos/lab/systems"
)

// Cluster is a started system: its runtime and its nodes as clients see
// them.
type Cluster struct {
	RT    runtime.Runtime
	Peers []systems.Peer
	Art   runtime.Artifact
}

// Start builds inst's artifact, prepares it for drv, starts one node per
// name under runID and waits until each is ready. The runtime is closed in
// t.Cleanup.
func Start(ctx context.Context, t testing.TB, drv runtime.Driver, inst systems.Instance, runID string, names ...string) *Cluster {
	t.Helper()
	art, _, err := inst.Artifact(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := drv.Prepare(ctx, art, os.Stderr); err != nil {
		t.Fatal(err)
	}
	rt, err := drv.New(ctx, runID, art, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rt.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	places := rt.Place(names)
	c := systems.Cluster{Nodes: places, Token: runID}
	specs := make([]runtime.NodeSpec, len(places))
	for i, p := range places {
		specs[i] = inst.Node(p, c)
	}
	if err := rt.Start(ctx, specs); err != nil {
		t.Fatal(err)
	}
	peers := systems.Peers(places)
	for _, p := range peers {
		if err := Ready(ctx, rt, inst, p, 60*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	return &Cluster{RT: rt, Peers: peers, Art: art}
}

// Ready waits until the node serves requests, with the last lines of its
// log in the error when it does not.
func Ready(ctx context.Context, rt runtime.Runtime, inst systems.Instance, p systems.Peer, within time.Duration) error {
	err := runtime.WaitFor(ctx, within, 100*time.Millisecond, func(ctx context.Context) error { return inst.Ready(ctx, p) })
	if err != nil {
		logs, _ := rt.Logs(context.WithoutCancel(ctx), p.Name, 20)
		return fmt.Errorf("%s not ready: %w\n%s", p.Name, err, logs)
	}
	return nil
}

// RunID is a run ID unique to this test process and moment.
func RunID(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), time.Now().UnixNano()%1e6)
}
