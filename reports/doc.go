// Package reports turns one finished run into the documents people read
// afterwards: a latency plot (latency.png), a Markdown report (report.md) and
// a self-contained HTML report (report.html).
//
// The reports are a first version of a blameless incident review. They answer
// what was run and against which system, what the checker concluded, how many
// operations were attempted and how they ended (in total, per node and per
// phase of the fault schedule), when faults were injected and healed, which
// anomalies were found and which operations they involve, how long the system
// took to get back to its earlier rate of successful operations after each
// heal, and the exact command that reproduces the run.
//
// # Lifecycle
//
// The runner fills a [Run] once the history is closed and the checker has
// spoken, then calls [Write] with the run directory. [Write] derives every
// number from [Run.Events] (through [history.Pair] and
// [history.FaultWindows]) and renders the three files; [WriteLatencyPlot],
// [WriteMarkdown] and [WriteHTML] are the same steps one at a time. Nothing is
// read from the network and nothing is kept between calls.
//
// # Trust
//
// Everything that comes from the system under test (values, error texts, node
// names, log lines) is data, never markup: the HTML report is rendered with
// html/template, and the Markdown report escapes HTML and table syntax.
//
// # Words
//
// The reports say "contributing" where a cause might be tempting, and state
// what the record shows without blame or counterfactuals.
package reports
