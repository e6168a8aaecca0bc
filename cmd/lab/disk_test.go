package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/internal/faultfs"
	"github.com/lab-chaos/lab/internal/labtest"
	"github.com/lab-chaos/lab/runtime/docker"
)

// The disk scenarios, shortened: the same cluster settings and kinds of
// power loss as scenarios/etcd-power-loss.yaml and
// scenarios/etcd-unsafe-no-fsync.yaml, on three nodes, in half a minute.
const (
	shortPowerLoss = `name: etcd-power-loss-short
seed: 11
system: {name: etcd, nodes: 3}
workload: {name: register, keys: 6, rate: 50, concurrency: 6, timeout: 1s, reads: linearizable}
time_limit: 30s
faults:
  - {kind: power-loss, target: one, at: 4s, duration: 4s}
  - {kind: power-loss, target: all, at: 12s, duration: 4s}
  - {kind: power-loss, target: all, writeback: 1s, at: 21s, duration: 4s}
recovery: 8s
`
	shortUnsafe = `name: etcd-unsafe-no-fsync-short
seed: 12
system: {name: etcd, nodes: 3, unsafe_no_fsync: true}
workload: {name: register, keys: 6, rate: 50, concurrency: 6, timeout: 1s, reads: linearizable}
time_limit: 20s
faults:
  - {kind: power-loss, target: all, writeback: 2s, at: 6s, duration: 6s}
recovery: 8s
`
)

// runDiskScenario runs src and returns the exit code, the results, the
// history and the output, after checking that nothing of the run is left:
// containers, network, faultfs mounts, data directories.
func runDiskScenario(t *testing.T, name, src string) (int, resultsFile, runHistory, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	store := t.TempDir()
	start := time.Now()
	code, stdout, stderr := runLab(t, "run", path, "--store", store)
	t.Logf("lab run took %s, exit %d\n%s\n%s", time.Since(start).Round(time.Second), code, stdout, stderr)
	dir, res := checkRunDir(t, store, name)
	runID := runIDOf(t, stderr)
	assertNothingLeft(t, runID)
	left, err := faultfs.Leftovers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range left {
		if l.RunID == runID {
			t.Errorf("faultfs mount %s of run %s left", l.Mountpoint, runID)
		}
	}
	if _, err := os.Stat(docker.DataRoot(runID)); !os.IsNotExist(err) {
		t.Errorf("data directories of run %s left: %v", runID, err)
	}
	return code, res, loadRun(t, dir), stdout + stderr
}

// powerLosses returns the start events of the run's power losses.
func (h runHistory) powerLosses() []*history.Fault {
	var out []*history.Fault
	for _, e := range h.events {
		if e.F == history.FaultStart && e.Fault != nil && e.Fault.Kind == "power-loss" {
			out = append(out, e.Fault)
		}
	}
	return out
}

// TestEtcdSurvivesPowerLoss: etcd with its default settings fsyncs what it
// acknowledges, so power losses of one node and of every node at once lose
// nothing acknowledged: the history is valid, and each power loss is
// recorded with what each disk dropped.
func TestEtcdSurvivesPowerLoss(t *testing.T) {
	labtest.Docker(t)
	labtest.Root(t)
	code, res, h, out := runDiskScenario(t, "etcd-power-loss-short", shortPowerLoss)
	if code != ExitValid || res.Valid != true {
		t.Fatalf("exit %d, valid %v, want %d and true; anomalies %+v", code, res.Valid, ExitValid, res.Anomalies)
	}
	pl := h.powerLosses()
	if len(pl) != 3 {
		t.Fatalf("%d power losses recorded, want 3", len(pl))
	}
	if len(pl[1].Disk) != 3 || len(pl[1].Groups[0]) != 3 {
		t.Errorf("the power loss of all nodes recorded %d disks, %v: want 3", len(pl[1].Disk), pl[1].Groups)
	}
	if !strings.Contains(pl[2].Detail, "1s after the disks wrote everything back") {
		t.Errorf("detail %q does not say when the disks wrote back", pl[2].Detail)
	}
	for _, w := range h.windows {
		if !w.Healed {
			t.Errorf("fault %d was not healed", w.Fault.ID)
		}
	}
	// The clients were served again after the last power loss.
	last := h.window(t, len(h.windows)-1)
	served := 0
	for _, n := range []string{"n1", "n2", "n3"} {
		served += h.served(n, last.End, 1<<62)
	}
	if served == 0 {
		t.Errorf("no operation succeeded after the last power loss:\n%s", out)
	}
}

// TestEtcdUnsafeNoFsyncLosesWrites: with --unsafe-no-fsync, etcd
// acknowledges writes before they are on disk; a power loss of every node
// two seconds after the disks last wrote back takes those two seconds
// away, and the lab must say so: invalid, with a read of a value that an
// acknowledged write had replaced, the write named.
func TestEtcdUnsafeNoFsyncLosesWrites(t *testing.T) {
	labtest.Docker(t)
	labtest.Root(t)
	code, res, h, _ := runDiskScenario(t, "etcd-unsafe-no-fsync-short", shortUnsafe)
	if code != ExitInvalid || res.Valid != false {
		t.Fatalf("exit %d, valid %v, want %d and false", code, res.Valid, ExitInvalid)
	}
	lost := false
	for _, a := range res.Anomalies {
		t.Logf("%s: %s", a.Kind, a.Summary)
		// "read of key 2 ... returned 24, but the write of 32 had
		// completed at 11.568 s and nothing wrote 24 after it": the
		// acknowledged write that was lost, by name.
		if (a.Kind == "stale-read" || a.Kind == "nonlinearizable") && strings.Contains(a.Summary, "had completed at") {
			lost = true
		}
	}
	if !lost {
		t.Errorf("no anomaly names an acknowledged write that was lost: %+v", res.Anomalies)
	}
	pl := h.powerLosses()
	if len(pl) != 1 || len(pl[0].Disk) != 3 {
		t.Fatalf("power losses %+v, want one of three disks", pl)
	}
	for _, e := range pl[0].Disk {
		var bytes int64
		for _, l := range e.Lost {
			bytes += l.Bytes
		}
		if bytes == 0 {
			t.Errorf("%s's disk dropped nothing: %+v", e.Node, e)
		}
	}
}
