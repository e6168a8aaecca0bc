// Package fake is a system under test that lives in the test's process: a
// register and set server ([Instance]) whose nodes are names, not
// processes. It is linearizable by default; its modes break it on purpose,
// deterministically, so that tests of the runner and the checker have a
// system that is known to be right and ones known to be wrong:
//
//   - "linearizable": every operation, through any node, acts on one store
//     under one lock, so no history it produces can be invalid.
//   - "stale-reads": register reads through any node but the leader (the
//     lowest-named running node) are served from a copy of the store that
//     is refreshed only every tenth write. Sets are not affected.
//   - "lost-writes": every fifth write (all nodes together) is
//     acknowledged but never applied; so is every fifth add to a set.
//
// A client is bound to one node and follows the state the node is in, as
// a runtime reports it through [Instance.NodeState]: through a killed or
// stopped node an operation fails at once with a definite "connection
// refused" (the request never reached a server); through a paused node it
// waits until the node resumes or its context ends (outcome unknown). Every
// node is taken to be running until told otherwise.
//
// Wiring it to runtime/fake without either package importing the other:
//
//	drv := &rtfake.Driver{}
//	sys := fake.System{OnOpen: func(i *fake.Instance) { drv.OnChange = i.NodeState }}
//
// The runner opens the system (calling OnOpen) before it asks the driver
// for a runtime, so every runtime made for the run reports to the instance.
package fake
