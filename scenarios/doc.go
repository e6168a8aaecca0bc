// Package scenarios loads the lab's scenario files: what system to start, how
// many nodes, which workload to run against it, which faults to inject and
// when, and how long to run.
//
// A scenario is a YAML file (see docs/scenarios.md and the files beside this
// package). [Load] reads one, parses it strictly, fills in defaults and
// validates it. Strict means that an unknown field, a value of the wrong type,
// a duration without a unit, a value out of range, a duplicate key, a second
// YAML document, an anchor or alias, or a node name that does not exist is an
// error. Load collects every such problem in the file, not only the first,
// and returns them as [Errors], a list of [*Error] each naming the file, line,
// column and field path with a hint, so a user fixes the whole file in one go.
// If Load fails, the lab starts nothing.
//
// Lifecycle of a [Scenario] in a run:
//
//  1. [Load] returns it with defaults filled in. Without a seed in the file,
//     SeedSet is false.
//  2. The runner calls [Scenario.Resolve] with a seed of its choosing; a seed
//     from the file wins.
//  3. The runner writes [Scenario.Resolved] into the run directory: the
//     scenario with every default and the seed written out, which Load reads
//     back to the same Scenario, so a run can be repeated exactly.
//  4. The nemesis schedules each [Fault] from [Fault.Occurrences], and binds
//     clients to [Scenario.NodeNames] round robin.
//
// This package imports nothing of the lab's own but internal/seed, which
// names the random streams (the random plan is one).
package scenarios
