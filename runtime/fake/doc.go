// Package fake is an in-memory [runtime.Driver] for tests: its runtimes
// start nothing and record every action as a line of text ("start n1",
// "kill n2 SIGKILL", "close"), so that a test compares what a run did to
// its nodes with a literal, as Tailscale tests its router against a fake OS.
//
// Lifecycle: a test makes a [Driver], hands it to the runner (or calls
// [Driver.New] itself), and after the run reads each [Runtime] the driver
// made ([Driver.Runtimes], [Driver.Last]) for its [Runtime.Lines]. Nodes
// are placed on loopback addresses that nothing ever dials: a system under
// test that works with this runtime must live in the test's process, such
// as systems/fake.
//
// The runtime knows nothing of any system. [Driver.OnChange] is how a
// test lets an in-process system follow its nodes' states ("running",
// "killed", "stopped", "paused") without either package importing the
// other: assign the system's callback to it before the run starts nodes.
package fake
