// Package cluster runs the nodes of a system under test as Docker containers
// on a private bridge network, and owns them from creation to removal.
//
// Lifecycle: [New] creates a user-defined bridge network with a subnet of its
// own; [Cluster.Start] creates one container per node at a fixed address and
// starts them; faults reach a node through [Cluster.Pid] (its network
// namespace, for netlink) or the container ID (Docker API); [Cluster.SaveLogs]
// copies every node's output into the run directory; [Cluster.Close] removes
// the containers, the data directories and the network. Each node's /data
// is a directory of the host, os.TempDir()/lab-docker-<id>/<node>/data,
// bind-mounted; when the run asks for disks ([runtime.Options.Disks]) it is
// a mount of the lab's FUSE layer (internal/faultfs, served by the lab's own
// process) over <node>/disk, made before the container is created, and
// [Cluster.Disk] hands it to the disk faults. Every container and the network carry the
// labels lab.run=<run id> and lab.node=<name>, so that [Cleanup] can find and
// remove exactly what a killed run left behind, and nothing else.
//
// Images are built locally through the Docker API ([EnsureImage]), from a
// build context the system under test provides, and cached by the hash of
// their content: there is no registry to pull from.
package docker
