// Package nemesis injects faults into a running cluster from the host, and
// heals them. One file per fault kind; the [Schedule] turns a scenario's
// fault list into concrete occurrences from the run's seed.
//
// Partitions ([Partitioner]) are cut inside each node's own network
// namespace, entered through the PID of the node's process, with nftables
// rules written over netlink: no iptables binary is needed in the node's
// image, and the host's own tables are never touched. Each fault gets a table
// of its own (lab-f<id>) in every namespace it touches, so healing a fault
// deletes exactly that table, and nothing else. Rules drop every packet to
// and from the peers cut off, whatever its connection-tracking state, so
// established connections are cut too. The lab's clients reach the nodes
// from the bridge's gateway address, which no rule names: the clients on each
// side of a partition keep talking to their node.
//
// Disk faults (power-loss, corrupt, truncate, snapshot-rollback,
// disk-errors, disk-slow) act on the nodes' data directories, which a run
// with one of them puts on the lab's FUSE layer (internal/faultfs) through
// the runtime's [runtime.Disks]; the kinds that change files stop the
// nodes first and start them at the heal.
//
// Every inject is paired with a heal: the runner heals in a defer, on Ctrl-C
// and SIGTERM, and calls [Partitioner.HealAll] as a last resort, with a
// context that the run's cancellation cannot end.
package nemesis
