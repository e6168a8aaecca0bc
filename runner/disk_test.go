package runner_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lab-chaos/lab/checker"
	"github.com/lab-chaos/lab/nemesis"
	"github.com/lab-chaos/lab/plugins"
	"github.com/lab-chaos/lab/rundir"
	"github.com/lab-chaos/lab/runner"
	"github.com/lab-chaos/lab/runtime"
	fakert "github.com/lab-chaos/lab/runtime/fake"
	"github.com/lab-chaos/lab/scenarios"
	"github.com/lab-chaos/lab/systems"
	"github.com/lab-chaos/lab/workloads"
)

// diskScenario is the fakes' short run with system.disk as given ("" for
// none) and faults.
func (l *lab) diskScenario(t *testing.T, set plugins.Set, disk, faults string) *scenarios.Scenario {
	t.Helper()
	sys := "{name: fake, nodes: 3}"
	if disk != "" {
		sys = "{name: fake, nodes: 3, disk: " + disk + "}"
	}
	src := `name: fake-run
seed: 7
runtime: fake
system: ` + sys + `
workload: {rate: 200, concurrency: 6, keys: 4, timeout: 300ms}
time_limit: 5s
recovery: 0s
` + faults
	sc, err := scenarios.Parse([]byte(src), "fake-run.yaml", set.Vocabulary())
	if err != nil {
		t.Fatalf("scenario: %v", err)
	}
	return sc
}

const diskFaults = `faults:
  - {kind: power-loss, target: nodes, nodes: [n2], at: 500ms, duration: 1s}
  - {kind: corrupt, target: nodes, nodes: [n1], files: "**", at: 1600ms, duration: 500ms}
  - {kind: disk-errors, target: nodes, nodes: [n3], fraction: 0.5, ops: [write, fsync], at: 2200ms, duration: 500ms}
  - {kind: disk-slow, target: nodes, nodes: [n1], delay: 20ms, at: 2800ms, duration: 500ms}
  - {kind: snapshot-rollback, target: nodes, nodes: [n3], files: "**", at: 3400ms, duration: 500ms}
  - {kind: truncate, target: nodes, nodes: [n2], files: "**", at: 4000ms, duration: 500ms}
`

// TestDiskFaultsOnFakes: a run with disk faults gets disks from its
// runtime, and each kind does what it says to the nodes and their disks,
// in order, and heals.
func TestDiskFaultsOnFakes(t *testing.T) {
	l := newLab()
	out, err := l.run(context.Background(), t, l.diskScenario(t, l.plugins(), "", diskFaults))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if out.Verdict != checker.Valid {
		t.Errorf("verdict %s (%s), want valid", out.Verdict, out.Result.Reason)
	}
	want := []string{"start n1", "start n2", "start n3",
		"kill n2 SIGKILL", "power-loss n2", "start n2",
		"stop n1", "start n1",
		"disk-errors n3 0.5 write,fsync", "disk-errors n3 0",
		"disk-slow n1 20ms", "disk-slow n1 0s",
		"stop n3", "start n3", "stop n3", "start n3",
		"stop n2", "start n2",
		"close"}
	if got := withoutSaves(l.lines(t)); !slices.Equal(got, want) {
		t.Errorf("runtime lines\n%q, want\n%q", got, want)
	}
	b, err := os.ReadFile(out.Dir + "/" + rundir.Results)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "faultfs") {
		t.Error("results.json does not say the data directories were on the lab's FUSE layer")
	}
}

// TestDiskFaultHealedOnCancel: Ctrl-C while a power loss holds a node
// down starts it again before the cluster is removed.
func TestDiskFaultHealedOnCancel(t *testing.T) {
	l := newLab()
	sc := l.diskScenario(t, l.plugins(), "", `faults:
  - {kind: power-loss, target: nodes, nodes: [n3], at: 1s, duration: 3s}
`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for {
			if rt := l.drv.Last(); rt != nil && slices.Contains(rt.Lines(), "power-loss n3") {
				cancel()
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	out, err := l.run(ctx, t, sc)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !out.Interrupted {
		t.Error("the run was not interrupted")
	}
	want := []string{"start n1", "start n2", "start n3", "kill n3 SIGKILL", "power-loss n3", "start n3", "close"}
	if got := withoutSaves(l.lines(t)); !slices.Equal(got, want) {
		t.Errorf("runtime lines %q, want %q", got, want)
	}
}

// TestDiskFaultHealedOnPanic: a panic in the nemesis while a power loss
// holds a node down ends the run with an error, and the cleanup stack
// starts the node before removing the cluster.
func TestDiskFaultHealedOnPanic(t *testing.T) {
	l := newLab()
	l.sys.LeaderPanics = true // asked a few seconds into a power loss
	sc := l.diskScenario(t, l.plugins(), "", `faults:
  - {kind: power-loss, target: nodes, nodes: [n2], at: 500ms, duration: 4s}
`)
	_, err := l.run(context.Background(), t, sc)
	if err == nil || !strings.Contains(err.Error(), "the nemesis panicked") {
		t.Fatalf("Run error %v, want the nemesis' panic", err)
	}
	want := []string{"start n1", "start n2", "start n3", "kill n2 SIGKILL", "power-loss n2", "start n2", "close"}
	if got := withoutSaves(l.lines(t)); !slices.Equal(got, want) {
		t.Errorf("runtime lines %q, want %q", got, want)
	}
}

// noDisks is a runtime that cannot give its nodes disks.
type noDisks struct{ *fakert.Driver }

func (noDisks) Abilities() runtime.Abilities { return runtime.Abilities{Processes: true} }

// noFUSE is a runtime whose disks need FUSE, which this machine lacks.
type noFUSE struct{ *fakert.Driver }

func (noFUSE) CheckDisks(context.Context) error {
	return errors.New("no /dev/fuse: load the fuse kernel module (modprobe fuse)")
}

// TestDiskFaultRefusedBeforeAnythingStarts: a disk fault (or system.disk)
// on a runtime without disks, or on a machine without FUSE, is bad input
// that names what is missing, with nothing made.
func TestDiskFaultRefusedBeforeAnythingStarts(t *testing.T) {
	tests := []struct {
		name  string
		drv   func(*fakert.Driver) runtime.Driver
		disk  string
		fault string
		want  []string
	}{
		{"runtime without disks", func(d *fakert.Driver) runtime.Driver { return noDisks{d} }, "",
			"  - {kind: power-loss, target: one, at: 1s, duration: 1s}\n", []string{"fake-run.yaml:9", "faults[0]", "runtime docker or local"}},
		{"machine without FUSE", func(d *fakert.Driver) runtime.Driver { return noFUSE{d} }, "",
			"  - {kind: disk-slow, delay: 5ms, at: 1s, duration: 1s}\n", []string{"faults[0]", "need FUSE on this machine", "no /dev/fuse"}},
		{"system.disk without FUSE", func(d *fakert.Driver) runtime.Driver { return noFUSE{d} }, "faultfs",
			"", []string{"system.disk", "needs FUSE on this machine", "no /dev/fuse"}},
		{"system.disk on a runtime without disks", func(d *fakert.Driver) runtime.Driver { return noDisks{d} }, "faultfs",
			"", []string{"system.disk", "cannot put the nodes' data directories"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLab()
			set := plugins.Set{Systems: []systems.System{*l.sys}, Workloads: workloads.All, Faults: nemesis.All, Runtimes: []runtime.Driver{tt.drv(l.drv)}}
			faults := ""
			if tt.fault != "" {
				faults = "faults:\n" + tt.fault
			}
			sc := l.diskScenario(t, set, tt.disk, faults)
			store := t.TempDir()
			_, err := runner.Run(context.Background(), runner.Options{Scenario: sc, Store: store, Plugins: set})
			var bad *runner.BadInput
			if !errors.As(err, &bad) {
				t.Fatalf("Run error %v (%T), want *runner.BadInput", err, err)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if l.drv.Last() != nil {
				t.Error("a runtime was made")
			}
			if entries, _ := os.ReadDir(store); len(entries) != 0 {
				t.Errorf("the store holds %d entries", len(entries))
			}
		})
	}
}

// TestSystemDiskAsksForDisks: system.disk: faultfs puts the nodes on
// disks without any disk fault; without it (and without disk faults) the
// run asks for none.
func TestSystemDiskAsksForDisks(t *testing.T) {
	for _, disk := range []string{"faultfs", ""} {
		l := newLab()
		out, err := l.run(context.Background(), t, l.diskScenario(t, l.plugins(), disk, ""))
		if err != nil {
			t.Fatal(err)
		}
		if out.Verdict != checker.Valid {
			t.Errorf("disk %q: verdict %s", disk, out.Verdict)
		}
		rt := l.drv.Last()
		if _, ok := rt.Disk("n1"); ok != (disk != "") {
			t.Errorf("disk %q: n1 has a disk: %v", disk, ok)
		}
	}
}
