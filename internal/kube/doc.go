// Package kube runs a real one-node Kubernetes cluster that the lab builds
// itself: the first slice of the Kubernetes runtime.
//
// # Binaries
//
// [Binaries] builds kube-apiserver, kube-controller-manager, kube-scheduler
// and kubelet of Kubernetes [Version] from the Go module proxy with one go
// build of a wrapper module (buildmod/: it requires k8s.io/kubernetes and
// replaces each staging module that it requires at v0.0.0 with the
// published v0.x release of the same number), static and cached by content
// under os.UserCacheDir()/lab/kubernetes-<version>-<hash>/ (about 11
// minutes cold on 2 cores, then found there). etcd is the lab's own build
// (systems/etcd). The lab's own go.mod never requires k8s.io/kubernetes.
//
// # The cluster
//
// [Start] makes a cluster in a directory the caller owns:
//
//	pki/                 CA, API server serving certificate (127.0.0.1, the node IP,
//	                     the first service address), service-account key pair,
//	                     client certificates (admin, kubelet, controller manager,
//	                     scheduler, the API server's to the kubelet)
//	admin.kubeconfig     the admin's kubeconfig; kubeconfig/ the others'
//	etcd/                etcd's data (etcd on loopback, plain HTTP)
//	containerd/          a private containerd: its config.toml, root, state and
//	                     sockets (the system's containerd is never touched)
//	cni/net.d, cni/ipam  a bridge network (labk<id>, a 10.218.X.0/24), host-local state
//	kubelet/, kubelet.yaml  the kubelet's root directory and configuration
//	pod-logs/            the pods' logs
//	logs/<server>.log    every server's output
//	cluster.json         the record of what was made (see Cleanup)
//
// The API server, controller manager and scheduler listen on loopback on
// free ports; the kubelet serves on the node IP (the address of the host's
// default route) for the API server's logs and exec. The sandbox image is
// the lab's pause image (a static Go program, FROM scratch), built with
// Docker and imported into containerd like any other image
// ([Cluster.ImportImage]): the cluster reaches no registry. Start returns
// once the node is Ready and the default service account exists.
//
// # Ownership and cleanup
//
// Every server runs in its own process group with LAB_KUBE_CLUSTER=<dir> in
// its environment (containerd hands it to its shims), and is recorded with
// its start time in dir/cluster.json before Start goes on, together with
// the bridge, the kubelet's cgroup root (lab-kube-<id> in every cgroup
// hierarchy: each v1 one, and the v2 one of a hybrid host), the kernel
// settings the kubelet changes (their values before) and the host
// directories the servers make. [Cluster.Close]
// deletes the pods through the API, then does what [Cleanup] does from the
// record alone: stops the servers (kubelet first, etcd last), kills what is
// left in the cgroups, deletes containerd's tasks and containers, kills
// leftover shims and removes their sockets, unmounts everything under dir,
// removes the cgroups and the bridge (and any veth on it), writes back the
// kernel settings, and removes the kubelet's log links and the directories
// it made if empty. No iptables or nftables rule is made: the kubelet's
// chains are off and the bridge does not masquerade.
package kube
