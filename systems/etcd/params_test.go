package etcd

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/lab-chaos/lab/runtime"
	"github.com/lab-chaos/lab/scenarios"
	"github.com/lab-chaos/lab/systems"
)

func loadSystem(t *testing.T, system string) (*scenarios.Scenario, error) {
	t.Helper()
	src := "name: p\nsystem: " + system + "\ntime_limit: 10s\n"
	v := scenarios.Vocabulary{Systems: []scenarios.SystemKind{System{}}, Workloads: []scenarios.Plugin{stubWorkload{}}, Runtimes: []string{"docker"}}
	return scenarios.Parse([]byte(src), "p.yaml", v)
}

type stubWorkload struct{}

func (stubWorkload) Name() string                 { return "register" }
func (stubWorkload) Keys() []string               { return nil }
func (stubWorkload) Decode(*scenarios.Fields) any { return nil }

// TestUnsafeNoFsync: the setting decodes, is written back, turns into
// the flag on every member and into a line of the report's settings, and
// is refused for etcd 3.4, which has no such flag.
func TestUnsafeNoFsync(t *testing.T) {
	sc, err := loadSystem(t, "{name: etcd, unsafe_no_fsync: true}")
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := sc.System.Params.(Params); !ok || !p.UnsafeNoFsync {
		t.Fatalf("params %#v, want unsafe_no_fsync true", sc.System.Params)
	}
	resolved, err := sc.Resolved()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(resolved), "unsafe_no_fsync: true") {
		t.Errorf("scenario.yaml lacks the setting:\n%s", resolved)
	}
	inst, err := System{}.Open(systems.Config{Params: sc.System.Params})
	if err != nil {
		t.Fatal(err)
	}
	p := runtime.Placement{Name: "n1", Addr: netip.MustParseAddr("10.0.0.11"), DataDir: "/data"}
	spec := inst.Node(p, systems.Cluster{Nodes: []runtime.Placement{p}, Token: "t"})
	if !slices.Contains(spec.Args, "--unsafe-no-fsync") {
		t.Errorf("args %q lack --unsafe-no-fsync", spec.Args)
	}
	if s := strings.Join(inst.Settings(), "\n"); !strings.Contains(s, "fsync: off") {
		t.Errorf("settings do not say fsync is off:\n%s", s)
	}

	// The default: fsync on, no flag, nothing said.
	sc, err = loadSystem(t, "{name: etcd}")
	if err != nil {
		t.Fatal(err)
	}
	inst, err = System{}.Open(systems.Config{Params: sc.System.Params})
	if err != nil {
		t.Fatal(err)
	}
	if spec := inst.Node(p, systems.Cluster{Nodes: []runtime.Placement{p}}); slices.Contains(spec.Args, "--unsafe-no-fsync") {
		t.Errorf("default args %q have --unsafe-no-fsync", spec.Args)
	}

	if _, err := loadSystem(t, "{name: etcd, unsafe_no_fsync: maybe}"); err == nil || !strings.Contains(err.Error(), "unsafe_no_fsync") {
		t.Errorf("unsafe_no_fsync: maybe loaded, or the error does not name it: %v", err)
	}
	if _, err := (System{}).Open(systems.Config{Version: "3.4.3", Params: Params{UnsafeNoFsync: true}}); err == nil || !strings.Contains(err.Error(), "3.4.3") {
		t.Errorf("etcd 3.4.3 with unsafe_no_fsync: %v, want a refusal naming the version", err)
	}
}
