// Package logcheck reads the logs of the nodes of a run and finds the lines
// a reviewer should see: Go panics, fatal errors and data races (problems in
// the system under test, whatever the checker says about its history), and
// leader changes and restarts (context for the timeline), by the patterns
// the system under test gives ([Patterns]).
//
// # Lifecycle
//
// The runner saves each node's output as logs/<node>.log, one line per log
// line, each prefixed by Docker with an RFC 3339 timestamp. Once the run is
// over, [CheckDir] (or [Check] on one reader) scans the files line by line
// and returns [Finding]s in file order. A finding keeps the node, the line
// number, the wall-clock time of the line (from Docker's prefix, or from a
// JSON "ts" field, as zap writes it) and the line itself; the report places it on the
// run's timeline.
//
// # Trust
//
// Log lines come from the system under test and are data: findings carry
// them as they were (clipped to [MaxText] bytes), and whoever shows them must
// escape them.
//
// # Rules
//
// A line is a [Panic] when it starts with "panic: " or has a zap level of
// panic or dpanic; a [Fatal] when it starts with "fatal error: " or has a
// level of fatal; a [Race] when it holds "WARNING: DATA RACE". A
// [LeaderChange] is a line holding one of [Patterns.Leader] ([Finding.Term]
// is the term when the line says "term N"). A [Restart] is the second and
// later line of one node's log holding one of [Patterns.Start] (the first
// one is the node's first start), or a line holding one of
// [Patterns.Restarting] that follows no start line.
package logcheck
