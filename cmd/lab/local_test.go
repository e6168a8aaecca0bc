package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/internal/labtest"
)

// TestLocalRuntimeRun runs a scenario with runtime: local (no Docker
// involved) and checks it is valid, its faults took effect, and nothing of
// the run is left: no namespace, no link.
func TestLocalRuntimeRun(t *testing.T) {
	labtest.Root(t)
	store := t.TempDir()
	code, stdout, stderr := runLab(t, "run", "testdata/local.yaml", "--store", store)
	t.Logf("%s", stdout)
	if code != ExitValid {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	dir, _ := filepath.EvalSymlinks(filepath.Join(store, "latest"))
	h := loadRun(t, dir)
	part, pause := h.window(t, 0), h.window(t, 1)
	minority := part.Fault.Groups[0]
	if len(minority) != 1 {
		t.Fatalf("minority %v", minority)
	}
	if n := h.served(minority[0], part.Start+2*sec, part.End-healMargin); n != 0 {
		t.Errorf("cut-off %s served %d operations during the partition (%d-%d)", minority[0], n, part.Start, part.End)
		for _, o := range h.ops {
			if o.Node == minority[0] && o.Type == history.OK && o.Call >= part.Start+2*sec && o.Return <= part.End-healMargin {
				t.Logf("  %+v", o)
			}
		}
	}
	if c := h.count(minority[0], part.Start+2*sec, part.End); c[history.Info]+c[history.Fail] == 0 {
		t.Errorf("no operation on cut-off %s failed or timed out: %v", minority[0], c)
	}
	victim := pause.Fault.Groups[0][0]
	if n := h.served(victim, pause.Start+sec/2, pause.End-healMargin); n != 0 {
		t.Errorf("paused %s served %d operations while frozen", victim, n)
	}
	runID := runIDOf(t, stderr)
	out, _ := exec.Command("ip", "netns", "list").CombinedOutput()
	if strings.Contains(string(out), runID) {
		t.Errorf("namespaces of run %s remain:\n%s", runID, out)
	}
}
