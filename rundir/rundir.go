// Package rundir owns the run directory: where a run's files go, what
// they are called, the store/latest link, and the schema of the files the
// lab writes there for others to read (results.json, faults.json). The
// runner writes through it; `lab check`, `lab serve` and the reports read
// through it, so the layout is written down once.
//
//	store/
//	  latest -> <scenario>/<timestamp>
//	  <scenario>/<timestamp>[-N]/
//	    scenario.yaml   the scenario as run: defaults and seed written out
//	    faults.json     the faults the seed planned, before the run
//	    history.jsonl   every operation and fault event, as it happened
//	    results.json    the verdict, anomalies and what the run knew
//	    history.html    the history, drawn
//	    report.md, report.html, *.png   the incident review
//	    logs/<node>.log every node's output
package rundir

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lab-chaos/lab/checker"
)

// Names of the files of a run directory.
const (
	Scenario = "scenario.yaml"
	Faults   = "faults.json"
	History  = "history.jsonl"
	Results  = "results.json"
	Picture  = "history.html"
	Logs     = "logs"
	Latest   = "latest"
	// Stuck is where the goroutines of a workload that did not stop are
	// dumped.
	Stuck = "stuck-goroutines.txt"
)

// Dir is one run's directory.
type Dir string

// Path is the path of a file of the run.
func (d Dir) Path(name string) string { return filepath.Join(string(d), name) }

// Log is the path of node's log.
func (d Dir) Log(node string) string { return filepath.Join(string(d), Logs, node+".log") }

// Create makes store/<scenario>/<timestamp>[-N], points store/latest at
// it, and returns it with a run ID made of the timestamp and a random
// suffix (the ID labels everything the run makes).
func Create(store, scenario string, t time.Time) (Dir, string, error) {
	ts := t.UTC().Format("20060102T150405")
	base := filepath.Join(store, scenario)
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", "", err
	}
	leaf := ts
	for i := 2; ; i++ {
		err := os.Mkdir(filepath.Join(base, leaf), 0o755)
		if err == nil {
			break
		}
		if !os.IsExist(err) || i > 100 {
			return "", "", err
		}
		leaf = fmt.Sprintf("%s-%d", ts, i)
	}
	// The link is replaced in one rename, so a reader never finds it
	// missing.
	latest := filepath.Join(store, Latest)
	tmp := latest + ".tmp"
	os.Remove(tmp)
	if err := os.Symlink(filepath.Join(scenario, leaf), tmp); err == nil {
		os.Rename(tmp, latest)
	}
	var r [3]byte
	rand.Read(r[:])
	return Dir(filepath.Join(base, leaf)), strings.ToLower(ts) + "-" + hex.EncodeToString(r[:]), nil
}

// ResultsFile is results.json: the checker's result and what the run knew.
type ResultsFile struct {
	checker.Result
	Run RunInfo `json:"run"`
}

// RunInfo describes the run in results.json.
type RunInfo struct {
	ID          string    `json:"id"`
	Scenario    string    `json:"scenario"`
	Seed        uint64    `json:"seed"`
	System      string    `json:"system"`
	Started     time.Time `json:"started"`
	Interrupted bool      `json:"interrupted"`
	Command     string    `json:"command"`
	// Settings are the system's options that matter to the result.
	Settings []string `json:"settings,omitempty"`
	// Offered, Begun, Late and Skipped say how well the rate was held.
	Offered int64 `json:"ops_offered"`
	Begun   int64 `json:"ops_started"`
	Late    int64 `json:"ops_late"`
	Skipped int64 `json:"ops_skipped"`
	// Truncated is set if the history's last line was cut short.
	Truncated bool `json:"history_truncated,omitempty"`
	// CheckError says why the check failed, when it did (a lab failure:
	// the verdict is then unknown, and the report says so).
	CheckError string `json:"check_error,omitempty"`
}

// ResultsSummary is the part of results.json that lists of runs read.
type ResultsSummary struct {
	Verdict   string            `json:"valid"`
	Counts    struct{ Ops int } `json:"counts"`
	Anomalies []json.RawMessage `json:"anomalies"`
	Run       struct {
		Scenario string    `json:"scenario"`
		Seed     uint64    `json:"seed"`
		Started  time.Time `json:"started"`
	} `json:"run"`
}

// ReadSummary reads the summary of the run in dir.
func ReadSummary(dir string) (ResultsSummary, error) {
	var r ResultsSummary
	b, err := os.ReadFile(filepath.Join(dir, Results))
	if err != nil {
		return r, err
	}
	return r, json.Unmarshal(b, &r)
}

// PlanFile is faults.json: the plan the seed gave, before the run (the
// history says what happened, and when).
type PlanFile struct {
	Seed     uint64        `json:"seed"`
	Schedule string        `json:"schedule"`
	Faults   []PlannedLine `json:"faults"`
}

// PlannedLine is one planned fault occurrence.
type PlannedLine struct {
	ID       int    `json:"id"`
	Fault    string `json:"fault"`
	StartsAt string `json:"starts_at"`
	EndsAt   string `json:"ends_at"`
}

// WriteJSON writes v, indented, to the run's file name.
func (d Dir) WriteJSON(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(d.Path(name), append(b, '\n'), 0o644)
}
