package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lab-chaos/lab/internal/labtest"
)

// TestFaultsThatActTogether runs etcd-partition-pause.yaml: a partition
// and a pause in effect at once. Both windows are in the history, they
// overlap, both were healed, the report's timeline names both, and etcd
// stays linearizable.
func TestFaultsThatActTogether(t *testing.T) {
	labtest.Docker(t)
	labtest.Root(t)
	store := t.TempDir()
	code, stdout, stderr := runLab(t, "run", "../../scenarios/etcd-partition-pause.yaml", "--store", store)
	t.Logf("%s", stdout)
	if code != ExitValid {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitValid, stdout, stderr)
	}
	dir, err := filepath.EvalSymlinks(filepath.Join(store, "latest"))
	if err != nil {
		t.Fatal(err)
	}
	h := loadRun(t, dir)
	if len(h.windows) != 2 {
		t.Fatalf("%d fault windows, want the partition and the pause", len(h.windows))
	}
	a, b := h.windows[0], h.windows[1]
	if !a.Healed || !b.Healed {
		t.Fatalf("windows %+v %+v: want both healed", a, b)
	}
	if a.Fault.Kind != "partition" || b.Fault.Kind != "pause" || !(b.Start < a.End && a.Start < b.End) {
		t.Fatalf("windows %s %d-%d and %s %d-%d: want a partition and a pause that overlap", a.Fault.Kind, a.Start, a.End, b.Fault.Kind, b.Start, b.End)
	}
	report, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"partition", "pause"} {
		if !strings.Contains(string(report), w) {
			t.Errorf("the report does not name the %s", w)
		}
	}
}
