// Package history is the lab's record of what happened during a run: every
// client operation as an invocation followed by its completion (ok, fail or
// info), and every fault the nemesis injected or healed, in one stream.
//
// The record is written as JSON lines while the run goes on, one [Event] per
// line, by a [Writer] that issues one write per event, so a run that is killed
// leaves a prefix that [Read] can still load and the checker can still judge.
// Times are nanoseconds since the run's start, taken from one monotonic clock
// ([Clock]), so they never go backwards when the wall clock is stepped.
//
// [Pair] turns the event stream into [Op]s, the unit every checker and report
// works on: an invocation matched with its completion. An invocation with no
// completion (the run was killed, or the client never returned) is an
// operation whose outcome is unknown, exactly like an explicit info.
//
// This package is a leaf: it imports nothing of the lab's own.
package history
