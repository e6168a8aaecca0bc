package scenarios_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lab-chaos/lab/nemesis"
	"github.com/lab-chaos/lab/scenarios"
)

// TestDiskFaultErrors: every field of the disk fault kinds, and
// system.disk, is checked when the scenario loads, each error at its
// file, line and field.
func TestDiskFaultErrors(t *testing.T) {
	path := filepath.Join("testdata", "bad", "disk.yaml")
	_, err := load(path)
	var errs scenarios.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("load(%s) = %v, want Errors", path, err)
	}
	var got []pos
	for _, e := range errs {
		got = append(got, pos{e.Line, e.Column, e.Field})
	}
	want := []pos{
		{2, 28, "system.disk"},
		{5, 5, "faults[0].files"},
		{6, 11, "faults[0].bits"},
		{10, 12, "faults[1].files"},
		{14, 12, "faults[2].files"},
		{18, 15, "faults[3].fraction"},
		{19, 10, "faults[3].ops"},
		{22, 5, "faults[4].delay"},
		{28, 12, "faults[5].nodes"},
		{29, 12, "faults[5].files"},
		{33, 12, "faults[6].files"},
		{38, 10, "faults[7].ops"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("errors at\n%v, want\n%v\nerrors:\n%v", got, want, err)
	}
	for _, s := range []string{`unknown disk "fuse"`, `required field "files" is missing for kind corrupt`, `is absolute`, `is not a glob`,
		`fraction 0 fails nothing`, `"flush" is not an operation disk-errors can fail`, `required field "delay" is missing`,
		`files does not apply to kind power-loss`, `globs stay inside the data directory`, `"write" is named twice`} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("errors lack %q:\n%v", s, err)
		}
	}
}

// TestDiskFaultsDecode: the kinds' defaults, and scenario.yaml written back
// loads to the same scenario.
func TestDiskFaultsDecode(t *testing.T) {
	src := `name: disks
seed: 3
system: {name: etcd, disk: faultfs}
time_limit: 60s
faults:
  - {kind: power-loss, target: all, at: 1s, duration: 2s}
  - {kind: power-loss, target: one, writeback: 500ms, at: 22s, duration: 2s}
  - {kind: corrupt, files: member/wal/*.wal, at: 4s, duration: 2s}
  - {kind: truncate, target: minority, files: "member/**", at: 7s, duration: 2s}
  - {kind: snapshot-rollback, target: nodes, nodes: [n2], files: "**", at: 10s, duration: 2s}
  - {kind: disk-errors, fraction: 0.25, at: 13s, duration: 2s}
  - {kind: disk-errors, fraction: 1, ops: [write, fsync], at: 16s, duration: 2s}
  - {kind: disk-slow, target: leader, delay: 40ms, at: 19s, duration: 2s}
`
	s, err := parse([]byte(src), "disks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.System.Disk != scenarios.DiskFaultFS {
		t.Errorf("system.disk = %q", s.System.Disk)
	}
	one := nemesis.Target{Target: nemesis.TargetOne}
	want := []any{
		nemesis.PowerLossParams{Target: nemesis.Target{Target: nemesis.TargetAll}},
		nemesis.CorruptParams{Target: one, Files: "member/wal/*.wal", Bits: 1},
		nemesis.TruncateParams{Target: nemesis.Target{Target: nemesis.TargetMinority}, Files: "member/**"},
		nemesis.SnapshotRollbackParams{Target: nemesis.Target{Target: nemesis.TargetNodes, Nodes: []string{"n2"}}, Files: "**"},
		nemesis.DiskErrorsParams{Target: one, Fraction: 0.25, Ops: []string{"fsync"}},
		nemesis.DiskErrorsParams{Target: one, Fraction: 1, Ops: []string{"write", "fsync"}},
		nemesis.DiskSlowParams{Target: nemesis.Target{Target: nemesis.TargetLeader}, Delay: scenarios.Duration(40 * time.Millisecond)},
	}
	want = append(want[:1], append([]any{nemesis.PowerLossParams{Target: one, Writeback: scenarios.Duration(500 * time.Millisecond)}}, want[1:]...)...)
	for i, f := range s.Faults {
		if !reflect.DeepEqual(f.Params, want[i]) {
			t.Errorf("faults[%d] (%s) params %#v, want %#v", i, f.Kind, f.Params, want[i])
		}
	}
	b, err := s.Resolved()
	if err != nil {
		t.Fatal(err)
	}
	again, err := parse(b, "resolved.yaml")
	if err != nil {
		t.Fatalf("scenario.yaml does not load: %v\n%s", err, b)
	}
	again.Path = s.Path
	for i := range again.Faults {
		again.Faults[i].Line = s.Faults[i].Line
	}
	if !reflect.DeepEqual(again, s) {
		t.Errorf("written back and loaded:\n%+v\nwant\n%+v\n%s", again, s, b)
	}
}

// TestDiskScenariosShipped: the two etcd disk scenarios load, with their
// power losses of one node, a minority and every node.
func TestDiskScenariosShipped(t *testing.T) {
	for _, p := range []string{"etcd-power-loss.yaml", "etcd-unsafe-no-fsync.yaml"} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		s, err := load(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		targets := map[string]bool{}
		for _, f := range s.Faults {
			if f.Kind == nemesis.KindPowerLoss {
				targets[f.Params.(nemesis.PowerLossParams).Target.Target] = true
			}
		}
		for _, want := range []string{nemesis.TargetAll} {
			if !targets[want] {
				t.Errorf("%s has no power loss of target %s: %v", p, want, targets)
			}
		}
	}
}

// TestOverheadScenarios: the two runs docs/performance.md compares load,
// and differ in system.disk alone.
func TestOverheadScenarios(t *testing.T) {
	plain, err := load(filepath.Join("bench", "etcd-overhead-plain.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	fuse, err := load(filepath.Join("bench", "etcd-overhead-faultfs.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if plain.System.Disk != "" || fuse.System.Disk != scenarios.DiskFaultFS {
		t.Errorf("disks %q and %q, want none and faultfs", plain.System.Disk, fuse.System.Disk)
	}
	plain.System.Disk, plain.Name, plain.Path = fuse.System.Disk, fuse.Name, fuse.Path
	if !reflect.DeepEqual(plain, fuse) {
		t.Errorf("the runs differ beyond system.disk:\n%+v\n%+v", plain, fuse)
	}
}
