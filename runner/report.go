package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lab-chaos/lab/checker"
	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/logcheck"
	"github.com/lab-chaos/lab/reports"
	"github.com/lab-chaos/lab/scenarios"
	"github.com/lab-chaos/lab/systems"
)

// Results is results.json: the checker's result and what the run knew.
type Results struct {
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
	// Offered, Started, Late and Skipped say how well the rate was held.
	Offered int64 `json:"ops_offered"`
	Begun   int64 `json:"ops_started"`
	Late    int64 `json:"ops_late"`
	Skipped int64 `json:"ops_skipped"`
	// Truncated is set if the history's last line was cut short.
	Truncated bool `json:"history_truncated,omitempty"`
}

// checkAndReport reads the history back from disk (what a later `lab check`
// would see), checks it and writes results.json, history.html and the
// reports.
func checkAndReport(ctx context.Context, dir string, sc *scenarios.Scenario, sys systems.System, opt Options, out Outcome, began time.Time) (checker.Result, error) {
	events, truncated, err := history.ReadFile(filepath.Join(dir, "history.jsonl"))
	if err != nil {
		return checker.Result{Verdict: checker.Unknown}, fmt.Errorf("read back history: %w", err)
	}
	res, err := checker.Check(ctx, events, checker.Options{Model: "cas-register", Timeout: opt.CheckTimeout})
	if err != nil {
		return checker.Result{Verdict: checker.Unknown}, fmt.Errorf("check: %w", err)
	}
	if out.Interrupted && res.Verdict == checker.Valid {
		// An anomaly found in a prefix is real; a clean prefix proves
		// nothing about the run that was asked for.
		res.Verdict = checker.Unknown
		res.Reason = joinNote(res.Reason, "the run was interrupted; the recorded prefix is linearizable")
	}
	systemDesc := fmt.Sprintf("%s %s, %d nodes", sys.Name(), sys.Version(), sc.System.Nodes)
	command := opt.Command
	if command == "" {
		command = fmt.Sprintf("lab run %s --seed %d", sc.Path, sc.Seed)
	}
	info := RunInfo{
		ID: out.RunID, Scenario: sc.Name, Seed: sc.Seed, System: systemDesc, Started: began,
		Interrupted: out.Interrupted, Command: command,
		Offered: out.Stats.Offered, Begun: out.Stats.Started, Late: out.Stats.Late, Skipped: out.Stats.Skipped,
		Truncated: truncated,
	}
	if err := writeJSON(filepath.Join(dir, "results.json"), Results{Result: res, Run: info}); err != nil {
		return res, err
	}
	if f, err := os.Create(filepath.Join(dir, "history.html")); err == nil {
		verr := checker.WriteVisualization(f, events, res)
		cerr := f.Close()
		if verr != nil || cerr != nil {
			opt.Log.Warn("history.html", "err", verr, "close", cerr)
		}
	}
	// Time zero of the history is when the workload began, FirstOp after
	// the run itself began.
	zero := began.Add(out.Timings.FirstOp)
	run := &reports.Run{
		Scenario: sc.Name, ScenarioFile: sc.Path, Seed: sc.Seed, System: systemDesc,
		Nodes: sc.NodeNames(), Workload: describeWorkload(sc), Command: command,
		Started: zero, Wall: time.Since(zero), Events: events,
		Verdict: string(res.Verdict), VerdictNote: res.Reason,
		Files: []string{"results.json", "history.html", "history.jsonl", "scenario.yaml"},
	}
	for _, n := range sc.NodeNames() {
		run.Files = append(run.Files, "logs/"+n+".log")
	}
	for _, a := range res.Anomalies {
		run.Anomalies = append(run.Anomalies, reports.Anomaly{Kind: a.Kind, Key: a.Key, Time: a.Time, Summary: a.Summary, Ops: a.Ops})
	}
	run.Logs, run.LogsChecked = checkLogs(dir, opt)
	run.Notes = rateNotes(out)
	if out.Interrupted {
		run.Notes = append(run.Notes, "The run was interrupted before its end; faults were healed at once and what was recorded was checked.")
	}
	if truncated {
		run.Notes = append(run.Notes, "The history's last line was cut short (the lab was killed while writing it) and was left out.")
	}
	if err := reports.Write(dir, run); err != nil {
		return res, fmt.Errorf("report: %w", err)
	}
	if err := reports.WriteIndex(opt.Store); err != nil {
		opt.Log.Warn("store index", "err", err)
	}
	return res, nil
}

// checkLogs runs the log checker over the node logs the runner saved in
// dir/logs. It reports whether the logs could be read.
func checkLogs(dir string, opt Options) ([]logcheck.Finding, bool) {
	fs, err := logcheck.CheckDir(filepath.Join(dir, "logs"))
	if err != nil {
		opt.Log.Warn("log check", "err", err)
	}
	return fs, err == nil
}

func rateNotes(out Outcome) []string {
	s := out.Stats
	if s.Offered == 0 {
		return nil
	}
	var notes []string
	if s.Late > 0 {
		notes = append(notes, fmt.Sprintf("%d of %d operations started later than one interval (%s) after their intended time: every client was busy, so the system's slowness shows as lateness and latency, not as a lower rate.", s.Late, s.Started, s.Interval))
	}
	if s.Skipped > 0 {
		notes = append(notes, fmt.Sprintf("%d scheduled operations were skipped because the backlog was over a second long.", s.Skipped))
	}
	return notes
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
