package kube

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// cniBinDir is where Debian's containernetworking-plugins installs the
// bridge, host-local and loopback plugins.
const cniBinDir = "/usr/lib/cni"

// layout names every file and directory of a cluster under its dir.
type layout struct {
	dir string
}

func (l layout) path(parts ...string) string {
	return strings.Join(append([]string{l.dir}, parts...), "/")
}

func (l layout) pki() string             { return l.path("pki") }
func (l layout) logs() string            { return l.path("logs") }
func (l layout) record() string          { return l.path("cluster.json") }
func (l layout) etcdData() string        { return l.path("etcd") }
func (l layout) adminKubeconfig() string { return l.path("admin.kubeconfig") }
func (l layout) kubeconfig(user string) string {
	return l.path("kubeconfig", user+".kubeconfig")
}
func (l layout) containerd() string       { return l.path("containerd") }
func (l layout) containerdConfig() string { return l.path("containerd", "config.toml") }
func (l layout) containerdSocket() string { return l.path("containerd", "containerd.sock") }
func (l layout) kubeletRoot() string      { return l.path("kubelet") }
func (l layout) kubeletConfig() string    { return l.path("kubelet.yaml") }
func (l layout) podLogs() string          { return l.path("pod-logs") }
func (l layout) cniConfDir() string       { return l.path("cni", "net.d") }
func (l layout) cniIPAM() string          { return l.path("cni", "ipam") }
func (l layout) certDir(name string) string {
	return l.path("serving", name)
}

// containerdConfig is a private containerd's configuration: its own root,
// state and sockets under the cluster's directory, so that the system's
// containerd (Docker's, perhaps) is never touched; the CRI plugin with runc
// under cgroupfs (the kubelet's driver), the lab's pause image as the
// sandbox image, network namespaces under its state directory rather than
// /var/run/netns, and CNI from the cluster's own configuration directory.
//
// restrict_oom_score_adj: the CRI plugin gives containers the kubelet's
// oom_score_adj, which may be below containerd's own; where containerd
// may not lower a score (an unprivileged or nested container manager), that
// fails every container's start. Restricted, a container never gets a
// score below containerd's.
func containerdConfig(l layout, sandboxImage string) string {
	q := strconv.Quote
	return fmt.Sprintf(`version = 2
root = %s
state = %s
oom_score = 0
disabled_plugins = [
  "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = %s

[ttrpc]
  address = %s

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %s
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  systemd_cgroup = false
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %s
    conf_dir = %s
    max_conf_num = 1
`, q(l.path("containerd", "root")), q(l.path("containerd", "state")),
		q(l.containerdSocket()), q(l.containerdSocket()+".ttrpc"),
		q(sandboxImage), q(cniBinDir), q(l.cniConfDir()))
}

// cniConfig is the pod network: a Linux bridge on the host with the
// subnet's first address (the pods' gateway, and the host's way to them),
// addresses from host-local with its state in the cluster's directory, and
// no masquerading (pods reach the host and each other, nothing beyond; no
// iptables rule is made).
func cniConfig(l layout, network, bridge string, subnet netip.Prefix) ([]byte, error) {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       network,
		"plugins": []any{
			map[string]any{
				"type":        "bridge",
				"bridge":      bridge,
				"isGateway":   true,
				"ipMasq":      false,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": subnet.String()}}},
					"dataDir": l.cniIPAM(),
				},
			},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}

// kubeletPorts are where the kubelet serves.
type kubeletPorts struct {
	Server, Healthz int
}

// kubeletConfig is the kubelet's configuration file.
//
// failCgroupV1: false lets the kubelet run on a cgroup v1 host, which it
// refuses by default since 1.35 (this machine is one). makeIPTablesUtilChains:
// false keeps it from adding its chains to the host's iptables. The
// eviction thresholds are low so that a disk filled by other work does not
// taint the lab's node. Pods' logs go under the cluster's directory.
func kubeletConfig(l layout, nodeIP netip.Addr, cgroupRoot string, ports kubeletPorts) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /%s
containerRuntimeEndpoint: unix://%s
address: %s
port: %d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %d
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: %s
authorization:
  mode: Webhook
podLogsDir: %s
makeIPTablesUtilChains: false
failSwapOn: false
serializeImagePulls: false
rotateCertificates: false
serverTLSBootstrap: false
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%%
  nodefs.inodesFree: 1%%
  imagefs.available: 1%%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
`, cgroupRoot, l.containerdSocket(), nodeIP, ports.Server, ports.Healthz,
		l.path("pki", "ca.crt"), l.podLogs())
}
