package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/lab-chaos/lab/internal/labtest"
)

// runLab runs the lab's command line in-process and returns its exit code
// and output.
func runLab(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	code = run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestRunBadScenarioIsBadInputAndStartsNothing(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("name: x\nsystem: {name: etcd, nodes: 3}\ntime_limit: 10\nworkload: {keys: 2}\n"), 0o644)
	store := t.TempDir()
	code, _, stderr := runLab(t, "run", bad, "--store", store)
	if code != ExitBadInput {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, ExitBadInput, stderr)
	}
	for _, want := range []string{bad + ":3:", "time_limit", "Try:"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if entries, _ := os.ReadDir(store); len(entries) != 0 {
		t.Errorf("a bad scenario left %d entries in the store", len(entries))
	}
}

func TestRunUnknownFlagIsBadInput(t *testing.T) {
	if code, _, _ := runLab(t, "run", "--no-such-flag", "x.yaml"); code != ExitBadInput {
		t.Errorf("exit %d, want %d", code, ExitBadInput)
	}
}

type resultsFile struct {
	Valid     any `json:"valid"`
	Anomalies []struct {
		Kind    string `json:"kind"`
		Key     string `json:"key"`
		Summary string `json:"summary"`
	} `json:"anomalies"`
	Counts struct {
		Ops, OK, Fail, Info int
	} `json:"counts"`
	Run struct {
		Seed uint64 `json:"seed"`
	} `json:"run"`
}

// checkRunDir asserts every file of a run directory is there and returns
// the parsed results.json.
func checkRunDir(t *testing.T, store, scenario string) (string, resultsFile) {
	t.Helper()
	latest, err := filepath.EvalSymlinks(filepath.Join(store, "latest"))
	if err != nil {
		t.Fatalf("store/latest: %v", err)
	}
	if filepath.Base(filepath.Dir(latest)) != scenario {
		t.Errorf("store/latest points at %s, want a run of %s", latest, scenario)
	}
	for _, f := range []string{"scenario.yaml", "faults.json", "history.jsonl", "results.json", "report.md", "report.html", "latency.png", "history.html", "logs/n1.log", "logs/n2.log", "logs/n3.log"} {
		st, err := os.Stat(filepath.Join(latest, f))
		if err != nil {
			t.Errorf("run directory lacks %s: %v", f, err)
		} else if st.Size() == 0 {
			t.Errorf("%s is empty", f)
		}
	}
	var res resultsFile
	b, err := os.ReadFile(filepath.Join(latest, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	return latest, res
}

// runIDOf reads the run ID from a run's output ("lab: run <id>, seed ...").
func runIDOf(t *testing.T, output string) string {
	t.Helper()
	m := regexp.MustCompile(`lab: run (\S+), seed`).FindStringSubmatch(output)
	if m == nil {
		t.Fatalf("no run ID in the output:\n%s", output)
	}
	return m[1]
}

// assertNothingLeft checks that no container or network of the run
// remains. It looks only at the run's own label: tests of other packages
// may have clusters of their own up at the same time.
func assertNothingLeft(t *testing.T, runID string) {
	t.Helper()
	d := labtest.Docker(t)
	ctx := context.Background()
	f := filters.NewArgs(filters.Arg("label", "lab.run="+runID))
	cs, err := d.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := d.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs)+len(ns) != 0 {
		t.Errorf("after run %s, %d containers and %d networks labelled with it remain", runID, len(cs), len(ns))
	}
}

// TestPartitionScenarioIsValid is the main job end to end: a real etcd
// cluster, linearizable reads, majority/minority and isolate partitions.
// It must pass on every run: no false alarms.
func TestPartitionScenarioIsValid(t *testing.T) {
	labtest.Docker(t)
	labtest.Root(t)
	store := t.TempDir()
	start := time.Now()
	code, stdout, stderr := runLab(t, "run", "../../scenarios/partition.yaml", "--store", store)
	t.Logf("lab run took %s\n%s", time.Since(start).Round(time.Second), stdout)
	if code != ExitValid {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitValid, stdout, stderr)
	}
	dir, res := checkRunDir(t, store, "partition")
	if res.Valid != true {
		t.Errorf("results.json valid = %v, want true", res.Valid)
	}
	if res.Counts.OK < 500 {
		t.Errorf("only %d ok operations: the workload did not run at its rate", res.Counts.OK)
	}
	hist, _ := os.ReadFile(filepath.Join(dir, "history.jsonl"))
	if n := strings.Count(string(hist), `"fault-start"`); n != 2 {
		t.Errorf("history has %d fault starts, want 2", n)
	}
	if n := strings.Count(string(hist), `"fault-end"`); n != 2 {
		t.Errorf("history has %d fault ends, want 2", n)
	}
	// During the partitions some operations must have had unknown outcomes
	// (the minority side times out): the fault had an effect.
	if res.Counts.Info == 0 {
		t.Error("no operation had an unknown outcome: did the partitions cut anything?")
	}
	assertNothingLeft(t, runIDOf(t, stderr))
}

// TestSerializableReadsAreCaughtStale: etcd documents that serializable
// reads may be stale. With n3 isolated while the majority takes writes,
// the clients bound to n3 read old values, and the lab must say so.
func TestSerializableReadsAreCaughtStale(t *testing.T) {
	labtest.Docker(t)
	labtest.Root(t)
	store := t.TempDir()
	start := time.Now()
	code, stdout, stderr := runLab(t, "run", "../../scenarios/etcd-serializable-reads.yaml", "--store", store)
	t.Logf("lab run took %s\n%s", time.Since(start).Round(time.Second), stdout)
	if code != ExitInvalid {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitInvalid, stdout, stderr)
	}
	dir, res := checkRunDir(t, store, "etcd-serializable-reads")
	if res.Valid != false {
		t.Errorf("results.json valid = %v, want false", res.Valid)
	}
	stale := false
	for _, a := range res.Anomalies {
		if a.Kind == "stale-read" {
			stale = true
		}
	}
	if !stale {
		t.Errorf("no stale-read anomaly in results.json: %+v", res.Anomalies)
	}
	report, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	if !strings.Contains(string(report), "stale") {
		t.Error("report.md does not mention the stale read")
	}
	assertNothingLeft(t, runIDOf(t, stderr))
}
