package reports

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lab-chaos/lab/checker"
	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/logcheck"
)

// Verdicts a [Run] can carry, as the checker reports them.
const (
	Valid   = "valid"
	Invalid = "invalid"
	Unknown = "unknown"
)

// Run is everything a report says about one run. The runner fills it once
// the history is closed and the checker has given its verdict; every count,
// phase and recovery time in the reports is derived from Events.
type Run struct {
	// Scenario is the scenario's name.
	Scenario string
	// ScenarioFile is the scenario path as the user gave it.
	ScenarioFile string
	// Seed is the run's seed.
	Seed uint64
	// System describes the system under test, such as "etcd 3.6.16, 3 nodes".
	System string
	// Nodes are the node names, in the order the report lists them.
	Nodes []string
	// Workload is a one-line description of the workload.
	Workload string
	// Command is the exact command that reproduces the run.
	Command string
	// Started is the wall-clock time of time 0 of the history.
	Started time.Time
	// Wall is the run's duration as the runner measured it.
	Wall time.Duration
	// Events is the whole history, client operations and fault events.
	Events []history.Event
	// Verdict is [Valid], [Invalid] or [Unknown]; anything else is shown as
	// unknown.
	Verdict string
	// VerdictNote explains the verdict where it needs it, such as why the
	// check could not decide.
	VerdictNote string
	// Anomalies are what the checker found, in the order it found them.
	Anomalies []Anomaly
	// Queue is the checker's account of a queue history (its
	// [checker.Result.Queue]); when set, the report adds the queue's
	// account and the plot of every publish's fate.
	Queue *checker.QueueReport
	// Lock is the checker's account of a lock history (its
	// [checker.Result.Lock]); when set, the report adds the lock account:
	// holds, two holders by kind, fencing tokens, per lock.
	Lock *checker.LockReport
	// Lease is the checker's account of a lease history (its
	// [checker.Result.Lease]); when set, the report adds the lease account:
	// what became of every lease granted.
	Lease *checker.LeaseReport
	// Set is the checker's account of a set history (its
	// [checker.Result.Set]); when set, the report adds the set account and
	// names the lost elements.
	Set *checker.SetReport
	// Notes are things the lab noticed about the run itself, such as
	// "rate not held: 120 operations started late".
	Notes []string
	// Logs are what [logcheck] found in the nodes' logs; their times are
	// placed on the run's clock through Started.
	Logs []logcheck.Finding
	// LogsChecked says the nodes' logs were read, so that no finding means
	// none was there.
	LogsChecked bool
	// Files are other files of the run directory to link, relative to it
	// (history.html, results.json, logs/n1.log, ...).
	Files []string
}

// Anomaly is one violation the checker found: the checker's own type.
type Anomaly = checker.Anomaly

// File names [Write] produces inside a run directory. Each plot is written
// as PNG and as SVG (the same name ending in .svg).
const (
	PlotFile     = "latency.png"
	RatePlotFile = "rate.png"
	TimelineFile = "timeline.png"
	ClockFile    = "clock.png" // only when the history records clock offsets
	MarkdownFile = "report.md"
	HTMLFile     = "report.html"
)

// Write renders the plots, the Markdown report and the HTML report into dir
// (created if needed).
func Write(dir string, run *Run) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report directory: %w", err)
	}
	v := newView(run)
	figs, svgs, err := renderFigures(v)
	if err != nil {
		return err
	}
	var names []string
	for _, f := range figs {
		names = append(names, f.Name)
		if err := os.WriteFile(filepath.Join(dir, f.Name+".png"), f.PNG, 0o644); err != nil {
			return fmt.Errorf("%s plot: %w", f.Name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, f.Name+".svg"), svgs[f.Name], 0o644); err != nil {
			return fmt.Errorf("%s plot: %w", f.Name, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, MarkdownFile), renderMarkdown(v, names), 0o644); err != nil {
		return fmt.Errorf("markdown report: %w", err)
	}
	html, err := renderHTML(v, figs)
	if err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, HTMLFile), html, 0o644); err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	return nil
}

// WriteMarkdown writes the Markdown report to path, without plots.
func WriteMarkdown(path string, run *Run) error {
	if err := os.WriteFile(path, renderMarkdown(newView(run), nil), 0o644); err != nil {
		return fmt.Errorf("markdown report: %w", err)
	}
	return nil
}

// WriteHTML writes the HTML report to path as one self-contained file, its
// plots embedded.
func WriteHTML(path string, run *Run) error {
	v := newView(run)
	figs, _, err := renderFigures(v)
	if err != nil {
		return err
	}
	b, err := renderHTML(v, figs)
	if err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	return nil
}
