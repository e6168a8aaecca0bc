// Package local runs the nodes of a system under test as plain processes,
// each in a network namespace the lab makes, for machines without Docker and
// for fast tests. It mirrors [cluster.Cluster] method for method, so the
// runner and the fault code ([nemesis.Partitioner] through [Runtime.Pid],
// process faults through [nemesis.Processes]) work on either.
//
// # Topology
//
// For run <id>, with a short id <s> (six hex digits of a hash of the run id,
// so that link names fit in the kernel's 15 characters):
//
//	host netns                hub netns lab-<id>-hub          node netns lab-<id>-n1
//	lab<s>gw 10.214.X.1/24 ── lab<s>up ─┐                      ┌─ lab<s>p0 10.214.X.11/24
//	                                    ├─ bridge lab<s>br ─ lab<s>n0
//	                                    ├─ lab<s>n1 ─ ... lab-<id>-n2 (.12)
//	                                    └─ lab<s>n2 ─ ... lab-<id>-n3 (.13)
//
// The hub namespace holds a Linux bridge; each node has a veth pair from its
// namespace to the bridge, with a fixed address .11, .12, ... (like
// [cluster.Cluster.AddressOf]); one more veth pair joins the host to the
// bridge, with the gateway address .1 on the host side. That address, and
// the connected route of the /24 that comes with it, are the only change
// to the host's network namespace: no forwarding, no iptables, no sysctls.
// The lab's clients run on the host and reach the nodes from .1, which no
// partition names, as in Docker. The /24 is the first 10.214.X.0/24, from a
// starting X derived from the run id, that overlaps no route of the host
// and no other local run.
//
// Namespaces are named and bind-mounted under /var/run/netns as `ip netns
// add` does, so `ip netns list` shows them. Nodes are started with `ip netns
// exec <netns> <binary> <args>`: ip execs the binary, so the PID the lab
// holds is the server itself, and its network namespace is the node's.
//
// # Lifecycle
//
// [New] checks for root, picks the subnet, and makes the hub namespace, the
// bridge and the host link. [Runtime.Start] makes one namespace per node and
// starts each node in it, in its own working directory
// os.TempDir()/lab-<id>/<node> (arguments are passed as they are: a system
// asks [Runtime.DataDir] for the node's data directory), with its output
// appended to os.TempDir()/lab-<id>/<node>.log. Process faults act on the
// process: signals for kill and stop, the cgroup v2 freezer for pause (one
// cgroup per node under lab/<id> in the cgroup2 hierarchy; SIGSTOP where
// there is none); [Runtime.StartNode] restarts a dead node with the same
// arguments and data. [Runtime.Close] kills the processes, unmounts the
// disks, then removes the namespaces, the host link (and with it its
// route), the cgroups and the working directory.
//
// # Disks
//
// When the run asks for disks ([runtime.Options.Disks]: a disk fault, or
// system.disk: faultfs), Start mounts the lab's FUSE layer
// (internal/faultfs, served by the lab's own process) at each node's data
// directory, over a backing directory beside it, os.TempDir()/lab-<id>/<node>/disk,
// before the node starts; [Runtime.Disk] hands it to the disk faults.
//
// # Cleanup
//
// Before it makes anything, the runtime writes what it is about to make
// (namespaces, host link, cgroups, working directory, and each process with
// its start time, so a reused PID is never killed) to /run/lab/<id>/local.json.
// [Cleanup] reads these files and removes exactly what they list, whatever
// state it is in (running, stopped, frozen), the lab's faultfs mounts in the
// working directory first (a killed lab's answer ENOTCONN), and nothing
// else: a namespace or
// link that no marker names is never touched. /run is a tmpfs, so the
// markers live exactly as long as the namespaces they describe. The empty
// parent cgroup "lab" is left in place, shared by all runs.
//
// Root (CAP_NET_ADMIN and CAP_SYS_ADMIN) is required, and iproute2's ip.
package local
