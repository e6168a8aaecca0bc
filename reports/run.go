package reports

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lab-chaos/lab/history"
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
	// Notes are things the lab noticed about the run itself, such as
	// "rate not held: 120 operations started late".
	Notes []string
	// Files are other files of the run directory to link, relative to it
	// (history.html, results.json, logs/n1.log, ...).
	Files []string
}

// Anomaly is one violation the checker found.
type Anomaly struct {
	// Kind names the anomaly, such as "stale read" or "not linearizable".
	Kind string
	// Key is the key it concerns, if any.
	Key string
	// Time is when it was observed, in nanoseconds since the start of the
	// run (typically the completion of the offending operation).
	Time int64
	// Summary says in plain words what happened.
	Summary string
	// Ops are the operations involved.
	Ops []history.Op
}

// File names [Write] produces inside a run directory.
const (
	PlotFile     = "latency.png"
	MarkdownFile = "report.md"
	HTMLFile     = "report.html"
)

// Write renders the latency plot, the Markdown report and the HTML report
// into dir (created if needed) as [PlotFile], [MarkdownFile] and [HTMLFile].
func Write(dir string, run *Run) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report directory: %w", err)
	}
	v := newView(run)
	png, err := renderPlot(v, formatPNG)
	if err != nil {
		return fmt.Errorf("latency plot: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, PlotFile), png, 0o644); err != nil {
		return fmt.Errorf("latency plot: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, MarkdownFile), renderMarkdown(v, PlotFile), 0o644); err != nil {
		return fmt.Errorf("markdown report: %w", err)
	}
	html, err := renderHTML(v, png)
	if err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, HTMLFile), html, 0o644); err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	return nil
}

// WriteMarkdown writes the Markdown report to path. plotFile is the plot's
// path relative to the report, shown as an image; empty leaves it out.
func WriteMarkdown(path string, run *Run, plotFile string) error {
	if err := os.WriteFile(path, renderMarkdown(newView(run), plotFile), 0o644); err != nil {
		return fmt.Errorf("markdown report: %w", err)
	}
	return nil
}

// WriteHTML writes the HTML report to path as one self-contained file, with
// plotPNG (the bytes of a PNG, as [WriteLatencyPlot] makes) embedded; nil
// leaves the plot out.
func WriteHTML(path string, run *Run, plotPNG []byte) error {
	b, err := renderHTML(newView(run), plotPNG)
	if err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	return nil
}
