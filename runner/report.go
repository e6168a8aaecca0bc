package runner

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/lab-chaos/lab/checker"
	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/logcheck"
	"github.com/lab-chaos/lab/reports"
	"github.com/lab-chaos/lab/rundir"
	"github.com/lab-chaos/lab/systems"
	"github.com/lab-chaos/lab/workloads"
)

// check reads the history back from disk (what a later `lab check` would
// see), checks it with the workload's model and writes results.json,
// history.html and the reports. A check that fails is a lab failure, and
// the report still says what the run did.
func (r *run) check(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	t := time.Now()
	if r.out.Interrupted {
		r.say("interrupted: faults healed; checking what was recorded")
	} else {
		r.say("checking the history")
	}
	events, truncated, err := history.ReadFile(r.dir.Path(rundir.History))
	if err != nil {
		return fmt.Errorf("read back history: %w", err)
	}
	opts := checker.Options{Model: r.wl.Model(), Timeout: r.opt.CheckTimeout}
	if q, ok := r.wl.(interface{ ExactlyOnce(params any) bool }); ok {
		opts.ExactlyOnce = q.ExactlyOnce(r.sc.Workload.Params)
	}
	res, cerr := checker.Check(ctx, events, opts)
	if cerr != nil {
		res = checker.Result{Verdict: checker.Unknown, Reason: "the check failed: " + cerr.Error()}
	}
	if r.out.Interrupted && res.Verdict == checker.Valid {
		// An anomaly found in a prefix is real; a clean prefix proves
		// nothing about the run that was asked for.
		res.Verdict = checker.Unknown
		res.Reason = joinNote(res.Reason, "the run was interrupted; the recorded prefix is linearizable")
	}
	r.out.Timings.Check = time.Since(t)
	r.out.Result, r.out.Verdict = res, res.Verdict
	if err := r.writeResults(events, res, truncated, cerr); err != nil {
		return err
	}
	if cerr != nil {
		return fmt.Errorf("check: %w", cerr)
	}
	return nil
}

func (r *run) systemDesc() string {
	return fmt.Sprintf("%s %s, %d nodes", systems.NameOf(r.sys.kind, r.sys.inst), r.sys.inst.Version(), r.sc.System.Nodes)
}

func (r *run) command() string {
	if r.opt.Command != "" {
		return r.opt.Command
	}
	return fmt.Sprintf("lab run %s --seed %d", r.sc.Path, r.sc.Seed)
}

// writeResults writes results.json, history.html and the reports.
func (r *run) writeResults(events []history.Event, res checker.Result, truncated bool, cerr error) error {
	sc, out := r.sc, r.out
	info := rundir.RunInfo{
		ID: out.RunID, Scenario: sc.Name, Seed: sc.Seed, System: r.systemDesc(), Started: r.began,
		Interrupted: out.Interrupted, Command: r.command(), Settings: r.settings(),
		Offered: out.Stats.Offered, Begun: out.Stats.Started, Late: out.Stats.Late, Skipped: out.Stats.Skipped,
		Truncated: truncated,
	}
	if cerr != nil {
		info.CheckError = cerr.Error()
	}
	if err := r.dir.WriteJSON(rundir.Results, rundir.ResultsFile{Result: res, Run: info}); err != nil {
		return err
	}
	if f, err := os.Create(r.dir.Path(rundir.Picture)); err == nil {
		verr := checker.WriteVisualization(f, events, res)
		cerr := f.Close()
		if verr != nil || cerr != nil {
			r.opt.Log.Warn("history.html", "err", verr, "close", cerr)
		}
	}
	// Time zero of the history is when the workload began, FirstOp after
	// the run itself began.
	zero := r.began.Add(out.Timings.FirstOp)
	wenv := r.workloadEnvForReport()
	run := &reports.Run{
		Scenario: sc.Name, ScenarioFile: sc.Path, Seed: sc.Seed, System: r.systemDesc(),
		Nodes: sc.NodeNames(), Workload: r.wl.Describe(wenv), Command: r.command(),
		Started: zero, Wall: time.Since(zero), Events: events,
		Verdict: string(res.Verdict), VerdictNote: res.Reason,
		Files: []string{rundir.Results, rundir.Picture, rundir.History, rundir.Scenario},
	}
	for _, n := range sc.NodeNames() {
		run.Files = append(run.Files, rundir.Logs+"/"+n+".log")
	}
	run.Anomalies = res.Anomalies
	run.Queue = res.Queue
	run.Lock = res.Lock
	run.Lease = res.Lease
	run.Set = res.Set
	run.Logs, run.LogsChecked = r.checkLogs()
	run.Notes = rateNotes(out)
	for _, s := range r.settings() {
		run.Notes = append(run.Notes, "System setting: "+s+".")
	}
	if out.Interrupted {
		run.Notes = append(run.Notes, "The run was interrupted before its end; faults were healed at once and what was recorded was checked.")
	}
	if truncated {
		run.Notes = append(run.Notes, "The history's last line was cut short (the lab was killed while writing it) and was left out.")
	}
	if cerr != nil {
		run.Notes = append(run.Notes, "The check itself failed, so the verdict is unknown: "+cerr.Error())
	}
	if err := reports.Write(string(r.dir), run); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := reports.WriteIndex(r.opt.Store); err != nil {
		r.opt.Log.Warn("store index", "err", err)
	}
	return nil
}

func (r *run) workloadEnvForReport() workloads.Env {
	sc := r.sc
	return workloads.Env{Rate: sc.Workload.Rate, Concurrency: sc.Workload.Concurrency, Timeout: time.Duration(sc.Workload.Timeout), Params: sc.Workload.Params}
}

// checkLogs runs the log checker over the node logs saved in the run
// directory, with the system's own patterns. It reports whether the logs
// could be read.
func (r *run) checkLogs() ([]logcheck.Finding, bool) {
	fs, err := logcheck.CheckDir(r.dir.Path(rundir.Logs), r.sys.inst.LogPatterns())
	if err != nil {
		r.opt.Log.Warn("log check", "err", err)
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
