package fake_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/lab-chaos/lab/runtime"
	"github.com/lab-chaos/lab/runtime/fake"
)

// started returns a runtime of a fresh driver with nodes n1..n3 placed and
// started, and the state changes it reported.
func started(t *testing.T) (*fake.Driver, *fake.Runtime, *[]string) {
	t.Helper()
	ctx := context.Background()
	var changes []string
	d := &fake.Driver{OnChange: func(node, state string) { changes = append(changes, node+" "+state) }}
	rt, err := d.New(ctx, "r1", runtime.Artifact{Name: "fake"}, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"n1", "n2", "n3"}
	var specs []runtime.NodeSpec
	for _, p := range rt.Place(names) {
		specs = append(specs, runtime.NodeSpec{Name: p.Name})
	}
	if err := rt.Start(ctx, specs); err != nil {
		t.Fatal(err)
	}
	return d, d.Last(), &changes
}

func TestActions(t *testing.T) {
	ctx := context.Background()
	type step func(rt *fake.Runtime) error
	kill := func(n string) step { return func(rt *fake.Runtime) error { return rt.Kill(ctx, n, "SIGKILL") } }
	stop := func(n string) step { return func(rt *fake.Runtime) error { return rt.Stop(ctx, n, 10) } }
	start := func(n string) step { return func(rt *fake.Runtime) error { return rt.StartNode(ctx, n) } }
	pause := func(n string) step { return func(rt *fake.Runtime) error { return rt.Pause(ctx, n) } }
	resume := func(n string) step { return func(rt *fake.Runtime) error { return rt.Resume(ctx, n) } }
	closeRT := func(rt *fake.Runtime) error { return rt.Close(ctx) }
	boot := []string{"start n1", "start n2", "start n3"}
	bootChanges := []string{"n1 running", "n2 running", "n3 running"}
	tests := []struct {
		name    string
		steps   []step
		want    []string
		changes []string
		// states of n1..n3 at the end
		states []string
	}{
		{
			name:    "kill and restart",
			steps:   []step{kill("n2"), start("n2")},
			want:    []string{"kill n2 SIGKILL", "start n2"},
			changes: []string{"n2 killed", "n2 running"},
			states:  []string{"running", "running", "running"},
		},
		{
			name:    "stop",
			steps:   []step{stop("n3")},
			want:    []string{"stop n3"},
			changes: []string{"n3 stopped"},
			states:  []string{"running", "running", "stopped"},
		},
		{
			name:    "pause and resume",
			steps:   []step{pause("n1"), resume("n1")},
			want:    []string{"pause n1", "resume n1"},
			changes: []string{"n1 paused", "n1 running"},
			states:  []string{"running", "running", "running"},
		},
		{
			name:    "defensive heals are recorded and harmless",
			steps:   []step{kill("n2"), kill("n2"), stop("n2"), resume("n1"), start("n1"), start("n2"), start("n2")},
			want:    []string{"kill n2 SIGKILL", "kill n2 SIGKILL", "stop n2", "resume n1", "start n1", "start n2", "start n2"},
			changes: []string{"n2 killed", "n2 running"},
			states:  []string{"running", "running", "running"},
		},
		{
			name:    "kill a paused node",
			steps:   []step{pause("n1"), kill("n1")},
			want:    []string{"pause n1", "kill n1 SIGKILL"},
			changes: []string{"n1 paused", "n1 killed"},
			states:  []string{"killed", "running", "running"},
		},
		{
			name:    "close stops the nodes, once",
			steps:   []step{kill("n1"), pause("n2"), closeRT, closeRT},
			want:    []string{"kill n1 SIGKILL", "pause n2", "close"},
			changes: []string{"n1 killed", "n2 paused", "n2 stopped", "n3 stopped"},
			states:  []string{"killed", "stopped", "stopped"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, rt, changes := started(t)
			for i, s := range tt.steps {
				if err := s(rt); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
			}
			if got, want := rt.Lines(), append(slices.Clone(boot), tt.want...); !slices.Equal(got, want) {
				t.Errorf("Lines()=%q, want %q", got, want)
			}
			if want := append(slices.Clone(bootChanges), tt.changes...); !slices.Equal(*changes, want) {
				t.Errorf("OnChange calls %q, want %q", *changes, want)
			}
			for i, want := range tt.states {
				n := []string{"n1", "n2", "n3"}[i]
				if got := rt.State(n); got != want {
					t.Errorf("State(%s)=%q, want %q", n, got, want)
				}
			}
		})
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name string
		do   func(rt *fake.Runtime) error
		want string
	}{
		{"kill unknown", func(rt *fake.Runtime) error { return rt.Kill(ctx, "n9", "SIGKILL") }, `no node "n9"`},
		{"pause killed", func(rt *fake.Runtime) error {
			rt.Kill(ctx, "n1", "SIGKILL")
			return rt.Pause(ctx, "n1")
		}, "pause n1: not running (killed)"},
		{"start twice", func(rt *fake.Runtime) error {
			return rt.Start(ctx, []runtime.NodeSpec{{Name: "n1"}})
		}, "start n1: already started (running)"},
		{"start unplaced", func(rt *fake.Runtime) error {
			return rt.Start(ctx, []runtime.NodeSpec{{Name: "n7"}})
		}, "start n7: the node was never placed"},
		{"pid", func(rt *fake.Runtime) error { _, err := rt.Pid(ctx, "n1"); return err }, "no host processes"},
		{"ended context", func(rt *fake.Runtime) error { return rt.Stop(canceled, "n1", 1) }, "context canceled"},
		{"after close", func(rt *fake.Runtime) error {
			rt.Close(ctx)
			return rt.StartNode(ctx, "n1")
		}, "closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, rt, _ := started(t)
			err := tt.do(rt)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err=%v, want one saying %q", err, tt.want)
			}
		})
	}
	_, rt, _ := started(t)
	if _, err := rt.Pid(ctx, "n1"); !errors.Is(err, fake.ErrNoProcesses) {
		t.Errorf("Pid(n1) err=%v, want ErrNoProcesses", err)
	}
}

func TestDriver(t *testing.T) {
	ctx := context.Background()
	d := &fake.Driver{}
	var _ runtime.Driver = d
	if got := d.Name(); got != "fake" {
		t.Errorf("Name()=%q", got)
	}
	if got, want := d.Abilities(), (runtime.Abilities{Processes: true, Disks: true}); got != want {
		t.Errorf("Abilities()=%+v, want %+v", got, want)
	}
	what, built, err := d.Prepare(ctx, runtime.Artifact{Name: "etcd"}, nil)
	if what != "fake etcd" || built || err != nil {
		t.Errorf("Prepare()=%q, %v, %v", what, built, err)
	}
	if d.Last() != nil {
		t.Errorf("Last() before New is not nil")
	}
	a, _ := d.New(ctx, "a", runtime.Artifact{}, runtime.Options{})
	b, _ := d.New(ctx, "b", runtime.Artifact{}, runtime.Options{})
	if got := d.Runtimes(); len(got) != 2 || runtime.Runtime(got[0]) != a || runtime.Runtime(got[1]) != b || runtime.Runtime(d.Last()) != b {
		t.Errorf("Runtimes() do not hold the two runtimes in order")
	}
	if got := b.Network(); got != "fake-b" {
		t.Errorf("Network()=%q", got)
	}
	if b.Gateway().IsValid() {
		t.Errorf("Gateway()=%s, want invalid", b.Gateway())
	}
	ps := b.Place([]string{"n1", "n2"})
	want := []runtime.Placement{
		{Name: "n1", Addr: netip.MustParseAddr("127.0.10.1"), DataDir: "/fake/b/n1"},
		{Name: "n2", Addr: netip.MustParseAddr("127.0.10.2"), DataDir: "/fake/b/n2"},
	}
	if !slices.Equal(ps, want) {
		t.Errorf("Place()=%v, want %v", ps, want)
	}
	if !slices.Equal(b.Place([]string{"n1", "n2"}), want) {
		t.Errorf("a second Place differs")
	}
	if run, state, err := b.Running(ctx, "n1"); run || state != "not started" || err != nil {
		t.Errorf("Running(n1) before Start=%v, %q, %v", run, state, err)
	}
	if rm, err := d.Cleanup(ctx, ""); rm != nil || err != nil {
		t.Errorf("Cleanup()=%v, %v", rm, err)
	}
}

func TestRunningAndLogs(t *testing.T) {
	ctx := context.Background()
	_, rt, _ := started(t)
	rt.Kill(ctx, "n2", "SIGTERM")
	rt.StartNode(ctx, "n2")
	rt.Pause(ctx, "n3")
	for _, tt := range []struct {
		node  string
		run   bool
		state string
	}{{"n1", true, "running"}, {"n2", true, "running"}, {"n3", true, "paused"}} {
		run, state, err := rt.Running(ctx, tt.node)
		if run != tt.run || state != tt.state || err != nil {
			t.Errorf("Running(%s)=%v, %q, %v, want %v, %q", tt.node, run, state, err, tt.run, tt.state)
		}
	}
	rt.Stop(ctx, "n1", 5)
	if run, state, _ := rt.Running(ctx, "n1"); run || state != "stopped" {
		t.Errorf("Running(n1) after Stop=%v, %q", run, state)
	}
	if got, want := mustLogs(t, rt, "n2", 0), "start n2\nkill n2 SIGTERM\nstart n2"; got != want {
		t.Errorf("Logs(n2, 0)=%q, want %q", got, want)
	}
	if got, want := mustLogs(t, rt, "n2", 2), "kill n2 SIGTERM\nstart n2"; got != want {
		t.Errorf("Logs(n2, 2)=%q, want %q", got, want)
	}
	rt.Close(ctx)
	dir := t.TempDir()
	if err := rt.SaveLogs(ctx, dir); err != nil {
		t.Fatal(err)
	}
	for node, want := range map[string]string{
		"n1": "start n1\nstop n1\n",
		"n2": "start n2\nkill n2 SIGTERM\nstart n2\n",
		"n3": "start n3\npause n3\n",
	} {
		b, err := os.ReadFile(filepath.Join(dir, node+".log"))
		if err != nil || string(b) != want {
			t.Errorf("%s.log=%q (%v), want %q", node, b, err, want)
		}
	}
}

func mustLogs(t *testing.T, rt *fake.Runtime, node string, tail int) string {
	t.Helper()
	s, err := rt.Logs(context.Background(), node, tail)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestConcurrent is for the race detector: faults and heals from many
// goroutines, as the nemesis and the runner's cleanup may overlap.
func TestConcurrent(t *testing.T) {
	ctx := context.Background()
	_, rt, _ := started(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := []string{"n1", "n2", "n3"}[i%3]
			for range 100 {
				rt.Kill(ctx, n, "SIGKILL")
				rt.StartNode(ctx, n)
				rt.Pause(ctx, n)
				rt.Resume(ctx, n)
				rt.Running(ctx, n)
				rt.Lines()
			}
		}()
	}
	wg.Wait()
	if got, want := len(rt.Lines()), 3+8*100*4; got != want {
		t.Errorf("%d lines, want %d", got, want)
	}
}
