// Package reports turns one finished run into the documents people read
// afterwards: a self-contained HTML report (report.html), the same in
// Markdown (report.md), and its plots as PNG and SVG: latency of every
// operation by operation kind (latency), throughput and success rate
// (rate), the timeline with one lane per node (timeline), and clock offsets
// when clock faults recorded them (clock). It also writes the store's
// index of runs (index.html, [WriteIndex]).
//
// The reports are shaped like a blameless incident review: Summary, Impact
// (by node, by phase and by fault, unavailability windows, p50/p99),
// Timeline (faults, outages, error bursts, leader changes, restarts and
// problems found in the node logs by package logcheck, first and last
// anomaly), Anomalies (with the operations involved, linked to
// history.html), Contributing factors (the conditions that overlapped each
// anomaly), Recovery (per heal, throughput and success rate), What held,
// Follow-ups, and the command that reproduces the run. docs/reports.md
// defines each measure.
//
// # Lifecycle
//
// The runner fills a [Run] once the history is closed, the checker has
// spoken and the node logs were checked, then calls [Write] with the run
// directory and [WriteIndex] with the store. [Write] derives every number
// from [Run.Events] (through [history.Pair] and [history.FaultWindows]) and
// [Run.Logs], and renders the files; [WriteLatencyPlot], [WriteMarkdown]
// and [WriteHTML] are single steps. Nothing is
// read from the network and nothing is kept between calls.
//
// # Trust
//
// Everything that comes from the system under test (values, error texts, node
// names, log lines) is data, never markup: the HTML report is rendered with
// html/template and carries a Content-Security-Policy that allows no script,
// and the Markdown report escapes HTML and table syntax.
//
// # Words
//
// The reports say "contributing" where a cause might be tempting, and state
// what the record shows without blame or counterfactuals.
package reports
