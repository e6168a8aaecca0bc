// Package runtime is the contract between a run and the thing that runs its
// nodes: Docker containers (runtime/docker), processes in network
// namespaces (runtime/local), or an in-memory stand-in for tests
// (runtime/fake).
//
// The contract is plain data and one interface. A system under test says
// what every node runs as an [Artifact] (one static executable, built once
// and cached by content) and how to start each node as a [NodeSpec]
// (arguments and environment); the runtime says where each node lives
// ([Placement]: its address and data directory), starts it, and controls
// its process (kill, stop, start, pause, resume), hands out the PID whose
// network namespace is the node's, saves the logs and removes everything
// it made. Nothing here knows of faults or of any particular system: the
// fault code asks a runtime for PIDs and process control, never the other
// way round. A run that asks for disks ([Options.Disks]) gets each node's
// data directory on a [Disk] (the lab's FUSE layer), which the disk faults
// find through [Disks] by type assertion.
package runtime
