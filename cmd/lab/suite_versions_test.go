package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lab-chaos/lab/nemesis"
	"github.com/lab-chaos/lab/plugins"
	"github.com/lab-chaos/lab/runtime"
	fakert "github.com/lab-chaos/lab/runtime/fake"
	"github.com/lab-chaos/lab/systems"
	fakesys "github.com/lab-chaos/lab/systems/fake"
	"github.com/lab-chaos/lab/workloads"
)

func TestSuiteItems(t *testing.T) {
	tests := []struct {
		name     string
		files    []string
		versions []string
		want     string // file@version, comma-separated
		wantErr  bool
	}{
		{"no versions", []string{"a.yaml", "b.yaml"}, nil, "a.yaml@,b.yaml@", false},
		{"file by file", []string{"a.yaml", "b.yaml"}, []string{"3.5.5", "3.6.16"}, "a.yaml@3.5.5,a.yaml@3.6.16,b.yaml@3.5.5,b.yaml@3.6.16", false},
		{"twice", []string{"a.yaml"}, []string{"3.5.5", "3.5.5"}, "", true},
		{"empty", []string{"a.yaml"}, []string{"3.5.5", ""}, "", true},
		{"space", []string{"a.yaml"}, []string{" 3.5.5"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, err := suiteItems(tt.files, tt.versions)
			if (err != nil) != tt.wantErr {
				t.Fatalf("suiteItems(%v, %q) error %v, want error %v", tt.files, tt.versions, err, tt.wantErr)
			}
			var got []string
			for _, it := range items {
				got = append(got, it.File+"@"+it.Version)
			}
			if strings.Join(got, ",") != tt.want {
				t.Errorf("suiteItems(%v, %q)=%v, want %s", tt.files, tt.versions, got, tt.want)
			}
		})
	}
}

func TestVersionedName(t *testing.T) {
	for _, tt := range []struct{ name, system, version, want string }{
		{"partition", "etcd", "3.5.5", "partition-etcd-3.5.5"},
		{"partition", "etcd", "v3.4.3", "partition-etcd-3.4.3"},
		{"q", "nats", "2.11.0-RC.1", "q-nats-2.11.0-rc.1"},
		{"p", "etcd", "3.5.5+x", "p-etcd-3.5.5-x"},
	} {
		if got := versionedName(tt.name, tt.system, tt.version); got != tt.want {
			t.Errorf("versionedName(%q, %q, %q)=%q, want %q", tt.name, tt.system, tt.version, got, tt.want)
		}
	}
}

// TestSuiteAcrossVersions runs one scenario of the fake system on the
// fake runtime at two versions: the fake has version 1 only, so the
// suite has one valid testcase and one bad input, each named with its
// version, and the valid run is stored under its versioned name.
func TestSuiteAcrossVersions(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "fakesuite.yaml")
	os.WriteFile(file, []byte(`name: fakesuite
runtime: fake
system: {name: fake, nodes: 3}
workload: {rate: 50, concurrency: 3, keys: 2, timeout: 300ms}
time_limit: 5s
recovery: 0s
`), 0o644)
	store := filepath.Join(dir, "store")
	items, err := suiteItems([]string{file}, []string{"1", "2"})
	if err != nil {
		t.Fatal(err)
	}
	o := suiteOptions{store: store, parallel: 1, checkTimeout: time.Minute, plugins: func() plugins.Set {
		return plugins.Set{
			Systems:   []systems.System{fakesys.System{}},
			Workloads: workloads.All,
			Faults:    nemesis.All,
			Runtimes:  []runtime.Driver{&fakert.Driver{}},
		}
	}}
	var progress bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	results := runSuite(ctx, items, o, &progress)
	if len(results) != 2 {
		t.Fatalf("%d results, want 2", len(results))
	}
	if r := results[0]; r.Code != ExitValid || r.label() != "fakesuite [fake 1]" {
		t.Errorf("version 1: %s exit %d (%v), want fakesuite [fake 1] valid\n%s", r.label(), r.Code, r.Err, progress.String())
	}
	if r := results[1]; r.Code != ExitBadInput || r.label() != "fakesuite [fake 2]" || r.Err == nil || !strings.Contains(r.Err.Error(), "version 1 only") {
		t.Errorf("version 2: %s exit %d (%v), want fakesuite [fake 2] refused as bad input", r.label(), r.Code, r.Err)
	}
	if got := worstCode(results); got != ExitBadInput {
		t.Errorf("worst code %d, want %d", got, ExitBadInput)
	}
	if runs, _ := filepath.Glob(filepath.Join(store, "fakesuite-fake-1", "*", "results.json")); len(runs) != 1 {
		t.Errorf("store holds %d runs of fakesuite-fake-1, want 1", len(runs))
	}
	if runs, _ := filepath.Glob(filepath.Join(store, "fakesuite-fake-2", "*")); len(runs) != 0 {
		t.Errorf("the refused version left %v in the store", runs)
	}

	out := filepath.Join(dir, "out.xml")
	if err := writeJUnit(out, results); err != nil {
		t.Fatal(err)
	}
	d := readJUnit(t, out)
	if d.Tests != 2 || d.Errors != 1 || d.Failures != 0 {
		t.Fatalf("JUnit = %+v, want 2 tests, 1 error", d)
	}
	cs := d.Suites[0].Cases
	if cs[0].Name != "fakesuite [fake 1]" || cs[0].Error != nil || cs[1].Name != "fakesuite [fake 2]" || cs[1].Error == nil {
		t.Errorf("testcases %q (error %v), %q (error %v); want version 1 passed, version 2 an error",
			cs[0].Name, cs[0].Error, cs[1].Name, cs[1].Error)
	}
	var table bytes.Buffer
	printSuite(&table, results)
	if !strings.Contains(table.String(), "fakesuite [fake 1]") || !strings.Contains(table.String(), "fakesuite [fake 2]") {
		t.Errorf("summary table lacks the versions:\n%s", table.String())
	}
}

// TestSuiteVersionsFlag: a version named twice is bad input before
// anything runs.
func TestSuiteVersionsFlag(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "x.yaml")
	os.WriteFile(file, []byte("name: x\n"), 0o644)
	code, _, stderr := runLab(t, "suite", file, "--versions", "3.5.5,3.5.5", "--store", filepath.Join(dir, "store"))
	if code != ExitBadInput || !strings.Contains(stderr, "named twice") {
		t.Errorf("exit %d, stderr %q; want %d naming the repeated version", code, stderr, ExitBadInput)
	}
}
