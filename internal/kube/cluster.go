package kube

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// LabelEnv is set in the environment of every process a cluster starts, to
// the cluster's directory: containerd passes it on to its shims, so that
// `grep -l LAB_KUBE_CLUSTER=<dir> /proc/*/environ` finds them all.
const LabelEnv = "LAB_KUBE_CLUSTER"

// serviceRange is the cluster's service addresses: only the API server
// allocates them (no kube-proxy runs), and no traffic goes there.
var serviceRange = netip.MustParsePrefix("10.219.0.0/24")

// Options are how [Start] makes a cluster.
type Options struct {
	// Binaries are the servers ([Binaries]); required.
	Binaries Paths
	// Log receives a line as each server starts and is ready; nil for none.
	Log io.Writer
	// NodeName is the node's name; "lab-node" when empty.
	NodeName string
	// NodeIP is the node's address, where the kubelet serves; by default
	// the IPv4 address of the interface of the host's default route.
	NodeIP netip.Addr
	// Subnet is the pods' network, a /24 or larger; by default the first
	// 10.218.X.0/24 from an X derived from the directory that overlaps no
	// route of the host.
	Subnet netip.Prefix
	// Timeout bounds the start, the node's readiness included; 5 minutes
	// when zero.
	Timeout time.Duration
}

// Cluster is a running one-node cluster. Every process it started, and
// everything they made, is its own until [Cluster.Close].
type Cluster struct {
	// Dir is the caller's directory that holds the cluster's files.
	Dir string
	// Node is the node's name; NodeIP its address.
	Node   string
	NodeIP netip.Addr
	// Subnet is the pods' network; Bridge its Linux bridge on the host.
	Subnet netip.Prefix
	Bridge string
	// Server is the API server's URL (on loopback); Kubeconfig the admin
	// kubeconfig file, Config the same for client-go, Client a client.
	Server     string
	Kubeconfig string
	Config     *rest.Config
	Client     kubernetes.Interface
	// SandboxImage is the pause image containerd runs as every pod's
	// sandbox.
	SandboxImage string

	l     layout
	log   io.Writer
	mu    sync.Mutex
	rec   *record
	procs []*proc
	done  bool
}

// proc is one server process.
type proc struct {
	name string
	cmd  *exec.Cmd
	exit chan struct{} // closed when it has exited
	err  error
}

// shortID is 6 hex digits of a hash of the cluster's absolute directory:
// it names the bridge and the cgroup root, within the kernel's 15
// characters for an interface name.
func shortID(dir string) string {
	h := sha256.Sum256([]byte(dir))
	return hex.EncodeToString(h[:3])
}

// maxSocketPath is the longest path of a unix socket (sun_path is 108
// bytes with its NUL); containerd's ttrpc socket is the longest.
const maxSocketPath = 107

// Start makes a one-node cluster in dir, which the caller owns (it may
// exist; it must not hold another cluster, running or closed): certificates, etcd on
// loopback, the API server, the controller manager, the scheduler, a
// private containerd with the lab's pause image, the CNI configuration of a
// bridge network, and the kubelet; it writes an admin kubeconfig
// (dir/admin.kubeconfig) and returns once the node is Ready and the
// default service account exists (pods can be created). On an error,
// everything started is stopped again.
//
// Root is required, Docker (for the pause image), containerd and runc,
// and the bridge, host-local and loopback plugins in /usr/lib/cni (Debian's
// containernetworking-plugins).
func Start(ctx context.Context, dir string, opts Options) (c *Cluster, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("kube: a cluster needs root (containerd, the kubelet, the pod network)")
	}
	if err := checkTools(opts.Binaries); err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	l := layout{dir: dir}
	if n := len(l.containerdSocket() + ".ttrpc"); n > maxSocketPath {
		return nil, fmt.Errorf("kube: directory %s is too long for containerd's sockets (%d bytes, at most %d)", dir, n, maxSocketPath)
	}
	if _, err := os.Stat(l.record()); err == nil {
		return nil, fmt.Errorf("kube: %s already holds a cluster (%s): Close it, or run Cleanup on the directory", dir, l.record())
	}
	if _, err := os.Stat(l.record() + ".closed"); err == nil {
		return nil, fmt.Errorf("kube: %s held a cluster before (its etcd data, certificates and images are there): start a new one in another directory", dir)
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	logw := opts.Log
	if logw == nil {
		logw = io.Discard
	}
	node := opts.NodeName
	if node == "" {
		node = "lab-node"
	}
	nodeIP := opts.NodeIP
	if !nodeIP.IsValid() {
		if nodeIP, err = defaultRouteIP(); err != nil {
			return nil, err
		}
	}
	id := shortID(dir)
	subnet := opts.Subnet
	if !subnet.IsValid() {
		if subnet, err = freeSubnet(dir); err != nil {
			return nil, err
		}
	}
	c = &Cluster{
		Dir:        dir,
		Node:       node,
		NodeIP:     nodeIP,
		Subnet:     subnet.Masked(),
		Bridge:     "labk" + id,
		Kubeconfig: l.adminKubeconfig(),
		l:          l,
		log:        logw,
	}
	for _, d := range []string{l.logs(), l.etcdData(), l.path("kubeconfig"), l.containerd(), l.kubeletRoot(), l.podLogs(), l.cniConfDir(), l.cniIPAM()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	orig, err := readSysctls()
	if err != nil {
		return nil, fmt.Errorf("kube: read kernel settings: %w", err)
	}
	c.rec = &record{
		Dir:        dir,
		Node:       node,
		Network:    "lab-kube-" + id,
		Bridge:     c.Bridge,
		Subnet:     c.Subnet.String(),
		CgroupRoot: "lab-kube-" + id,
		Sysctls:    orig,
	}
	for _, d := range hostDirs {
		if _, err := os.Lstat(d); errors.Is(err, os.ErrNotExist) {
			c.rec.addMadeDir(d)
		}
	}
	if err := c.rec.write(l.record()); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer ccancel()
			if cerr := c.Close(cctx); cerr != nil {
				err = fmt.Errorf("%w (and stopping what had started: %v)", err, cerr)
			}
			c = nil
		}
	}()
	if err := c.start(ctx, opts.Binaries); err != nil {
		return c, err
	}
	return c, nil
}

// hostDirs are the directories outside the cluster's that its servers
// make when missing, whatever their configuration, deepest first: the
// kubelet's links to container logs and its device plugins' socket (fixed
// paths), libcni's cache of results, and runc's state of the shims'
// containers.
var hostDirs = []string{
	"/var/log/containers",
	"/var/lib/kubelet/device-plugins", "/var/lib/kubelet",
	"/var/lib/cni/results", "/var/lib/cni",
	"/run/containerd/runc/k8s.io", "/run/containerd/runc",
}

// hostFiles are the files the servers leave in those directories: removed
// only from a directory the cluster made.
var hostFiles = map[string][]string{
	"/var/lib/kubelet/device-plugins": {"kubelet.sock", "kubelet_internal_checkpoint"},
}

func checkTools(b Paths) error {
	for name, p := range map[string]string{"kube-apiserver": b.APIServer, "kube-controller-manager": b.ControllerManager, "kube-scheduler": b.Scheduler, "kubelet": b.Kubelet, "etcd": b.Etcd} {
		if p == "" {
			return fmt.Errorf("kube: no %s binary in the options (kube.Binaries gives them)", name)
		}
	}
	var missing []string
	for _, tool := range []string{"containerd", "containerd-shim-runc-v2", "runc", "ctr"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	for _, plugin := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join(cniBinDir, plugin)); err != nil {
			missing = append(missing, filepath.Join(cniBinDir, plugin))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("kube: missing %s (Debian: apt-get install containerd runc containernetworking-plugins)", strings.Join(missing, ", "))
	}
	return nil
}

// start brings the servers up in order, each waited for.
func (c *Cluster) start(ctx context.Context, bin Paths) error {
	l := c.l
	began := time.Now()
	c.logf("starting a one-node cluster in %s (node %s at %s, pods on %s)", c.Dir, c.Node, c.NodeIP, c.Subnet)

	// Certificates and kubeconfigs.
	p, err := newPKI(l.pki())
	if err != nil {
		return fmt.Errorf("kube: certificates: %w", err)
	}
	ports, err := freePorts(7)
	if err != nil {
		return err
	}
	etcdClient, etcdPeer, apiPort, kcmPort, schedPort, kubeletPort, kubeletHealthz := ports[0], ports[1], ports[2], ports[3], ports[4], ports[5], ports[6]
	loop := netip.MustParseAddr("127.0.0.1")
	serviceIP := serviceRange.Addr().Next()
	if _, err := p.issue("apiserver", "kube-apiserver", nil, []netip.Addr{loop, c.NodeIP, serviceIP},
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}, false, true); err != nil {
		return err
	}
	if _, err := p.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"}, nil, nil, true, false); err != nil {
		return err
	}
	c.Server = fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	users := []struct{ file, cn, org string }{
		{"admin", "lab-admin", "system:masters"},
		{"kubelet", "system:node:" + c.Node, "system:nodes"},
		{"controller-manager", "system:kube-controller-manager", ""},
		{"scheduler", "system:kube-scheduler", ""},
	}
	var admin issued
	for _, u := range users {
		var orgs []string
		if u.org != "" {
			orgs = []string{u.org}
		}
		cred, err := p.issue(u.file, u.cn, orgs, nil, nil, true, false)
		if err != nil {
			return err
		}
		path := l.kubeconfig(u.file)
		if u.file == "admin" {
			path, admin = l.adminKubeconfig(), cred
		}
		if err := os.WriteFile(path, kubeconfig(c.Server, p.caPEM(), u.cn, cred), 0o600); err != nil {
			return err
		}
	}
	c.Config = &rest.Config{
		Host:            c.Server,
		TLSClientConfig: rest.TLSClientConfig{CAData: p.caPEM(), CertData: admin.CertPEM, KeyData: admin.KeyPEM},
		QPS:             50,
		Burst:           100,
	}
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		return err
	}
	c.SandboxImage = "docker.io/library/" + pauseImage().Tag()

	// Configuration files of containerd, CNI and the kubelet.
	if err := os.WriteFile(l.containerdConfig(), []byte(containerdConfig(l, c.SandboxImage)), 0o644); err != nil {
		return err
	}
	cni, err := cniConfig(l, c.rec.Network, c.Bridge, c.Subnet)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(l.cniConfDir(), "10-lab.conflist"), cni, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(l.kubeletConfig(), []byte(kubeletConfig(l, c.NodeIP, c.rec.CgroupRoot, kubeletPorts{Server: kubeletPort, Healthz: kubeletHealthz})), 0o644); err != nil {
		return err
	}

	// etcd.
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeer)
	if _, err := c.run("etcd", bin.Etcd,
		"--name=lab", "--data-dir="+l.etcdData(),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=lab="+peerURL, "--initial-cluster-state=new"); err != nil {
		return err
	}
	if err := c.waitHTTP(ctx, "etcd", etcdURL+"/health", nil, func(b []byte) bool { return bytes.Contains(b, []byte(`"health":"true"`)) }); err != nil {
		return err
	}

	// The control plane.
	pki := func(name string) string { return filepath.Join(l.pki(), name) }
	if _, err := c.run("kube-apiserver", bin.APIServer,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(apiPort), "--advertise-address="+c.NodeIP.String(),
		"--cert-dir="+l.certDir("kube-apiserver"),
		"--tls-cert-file="+pki("apiserver.crt"), "--tls-private-key-file="+pki("apiserver.key"),
		"--client-ca-file="+pki("ca.crt"),
		"--kubelet-client-certificate="+pki("apiserver-kubelet-client.crt"), "--kubelet-client-key="+pki("apiserver-kubelet-client.key"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+pki("sa.pub"), "--service-account-signing-key-file="+pki("sa.key"),
		"--service-cluster-ip-range="+serviceRange.String(),
		"--authorization-mode=Node,RBAC",
		"--allow-privileged=true",
		"--profiling=false"); err != nil {
		return err
	}
	tlsAdmin, err := c.adminTLS()
	if err != nil {
		return err
	}
	if err := c.waitHTTP(ctx, "kube-apiserver", c.Server+"/readyz", tlsAdmin, func(b []byte) bool { return string(b) == "ok" }); err != nil {
		return err
	}
	common := func(user string, port int) []string {
		kc := l.kubeconfig(user)
		return []string{"--kubeconfig=" + kc, "--authentication-kubeconfig=" + kc, "--authorization-kubeconfig=" + kc,
			"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(port), "--cert-dir=" + l.certDir(user),
			"--leader-elect=false", "--profiling=false"}
	}
	if _, err := c.run("kube-controller-manager", bin.ControllerManager, append(common("controller-manager", kcmPort),
		"--service-account-private-key-file="+pki("sa.key"), "--root-ca-file="+pki("ca.crt"),
		"--cluster-signing-cert-file="+pki("ca.crt"), "--cluster-signing-key-file="+pki("ca.key"),
		"--use-service-account-credentials=true", "--cluster-name=lab")...); err != nil {
		return err
	}
	if _, err := c.run("kube-scheduler", bin.Scheduler, common("scheduler", schedPort)...); err != nil {
		return err
	}

	// containerd, the pause image, the kubelet.
	if err := c.makeCgroupRoot(); err != nil {
		return err
	}
	if _, err := c.run("containerd", "containerd", "--config="+l.containerdConfig()); err != nil {
		return err
	}
	if err := c.waitContainerd(ctx); err != nil {
		return err
	}
	if err := c.importPause(ctx); err != nil {
		return err
	}
	insecure := &tls.Config{InsecureSkipVerify: true} // their self-signed serving certificates; /healthz only
	for _, hc := range []struct {
		name string
		port int
	}{{"kube-controller-manager", kcmPort}, {"kube-scheduler", schedPort}} {
		if err := c.waitHTTP(ctx, hc.name, fmt.Sprintf("https://127.0.0.1:%d/healthz", hc.port), insecure, func(b []byte) bool { return string(b) == "ok" }); err != nil {
			return err
		}
	}
	if _, err := c.run("kubelet", bin.Kubelet,
		"--config="+l.kubeletConfig(), "--kubeconfig="+l.kubeconfig("kubelet"),
		"--root-dir="+l.kubeletRoot(), "--cert-dir="+l.certDir("kubelet"),
		"--hostname-override="+c.Node, "--node-ip="+c.NodeIP.String(), "--v=1"); err != nil {
		return err
	}
	if err := c.waitNodeReady(ctx); err != nil {
		return err
	}
	c.logf("node %s Ready, %s after the start", c.Node, time.Since(began).Round(time.Millisecond))
	return nil
}

func (c *Cluster) logf(format string, args ...any) {
	fmt.Fprintf(c.log, "kube: "+format+"\n", args...)
}

// run starts one server with its output appended to dir/logs/<name>.log,
// in its own process group, labelled with [LabelEnv], and records it
// before returning.
func (c *Cluster) run(name, bin string, args ...string) (*proc, error) {
	logf, err := os.OpenFile(filepath.Join(c.l.logs(), name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Dir = c.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), LabelEnv+"="+c.Dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("kube: start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, exit: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exit)
	}()
	start, err := procStart(cmd.Process.Pid)
	c.mu.Lock()
	c.procs = append(c.procs, p)
	if err == nil {
		c.rec.Processes = append(c.rec.Processes, procEntry{Name: name, Pid: cmd.Process.Pid, Start: start})
		err = c.rec.write(c.l.record())
	}
	c.mu.Unlock()
	if err != nil {
		return p, fmt.Errorf("kube: record %s: %w", name, err)
	}
	c.logf("started %s (pid %d)", name, cmd.Process.Pid)
	return p, nil
}

// exited returns an error naming the first server that has exited, with
// the end of its log, or nil while all run.
func (c *Cluster) exited() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.procs {
		select {
		case <-p.exit:
			return fmt.Errorf("kube: %s exited (%v); the end of %s:\n%s", p.name, p.err,
				filepath.Join(c.l.logs(), p.name+".log"), tail(filepath.Join(c.l.logs(), p.name+".log"), 15))
		default:
		}
	}
	return nil
}

// tail is the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// poll calls ok every 100 ms until it is true, a server exits, or ctx
// ends; last says what was last seen, for the error.
func (c *Cluster) poll(ctx context.Context, what string, ok func() (bool, string)) error {
	began := time.Now()
	var last string
	for {
		done, seen := ok()
		if done {
			c.logf("%s ready after %s", what, time.Since(began).Round(time.Millisecond))
			return nil
		}
		last = seen
		if err := c.exited(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kube: %s not ready after %s (last: %s): %w", what, time.Since(began).Round(time.Second), last, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *Cluster) waitHTTP(ctx context.Context, what, url string, tlsConf *tls.Config, ok func([]byte) bool) error {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf}}
	defer client.CloseIdleConnections()
	return c.poll(ctx, what, func() (bool, string) {
		resp, err := client.Get(url)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		return resp.StatusCode == 200 && ok(bytes.TrimSpace(b)), fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(b))
	})
}

func (c *Cluster) adminTLS() (*tls.Config, error) {
	cert, err := tls.X509KeyPair(c.Config.CertData, c.Config.KeyData)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.Config.CAData)
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}, nil
}

// ctr runs containerd's ctr against the cluster's containerd, in the
// Kubernetes namespace.
func (c *Cluster) ctr(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	return ctrAt(ctx, c.l.containerdSocket(), stdin, args...)
}

func ctrAt(ctx context.Context, socket string, stdin io.Reader, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "ctr", append([]string{"--address", socket, "--namespace", "k8s.io"}, args...)...)
	cmd.Stdin = stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func (c *Cluster) waitContainerd(ctx context.Context) error {
	return c.poll(ctx, "containerd", func() (bool, string) {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := c.ctr(cctx, nil, "version")
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}

// waitNodeReady waits for the node's Ready condition and for the default
// service account, without which the API server refuses pods.
func (c *Cluster) waitNodeReady(ctx context.Context) error {
	if err := c.poll(ctx, "node "+c.Node, func() (bool, string) {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, c.Node, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue, fmt.Sprintf("Ready=%s: %s", cond.Status, cond.Message)
			}
		}
		return false, "no Ready condition"
	}); err != nil {
		return err
	}
	return c.poll(ctx, "service account default/default", func() (bool, string) {
		_, err := c.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, "not found"
		}
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}

// freePorts asks the kernel for n free TCP ports on loopback.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("kube: a free port: %w", err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// defaultRouteIP is the first IPv4 address of the interface of the host's
// default route.
func defaultRouteIP() (netip.Addr, error) {
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("kube: list routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst != nil && r.Dst.IP != nil && !r.Dst.IP.IsUnspecified() {
			continue
		}
		link, err := netlink.LinkByIndex(r.LinkIndex)
		if err != nil {
			continue
		}
		addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
		if err != nil || len(addrs) == 0 {
			continue
		}
		if a, ok := netip.AddrFromSlice(addrs[0].IP.To4()); ok {
			return a, nil
		}
	}
	return netip.Addr{}, errors.New("kube: no default route with an IPv4 address: set Options.NodeIP")
}

// subnetTries bounds the search for a free pod subnet.
const subnetTries = 64

// freeSubnet is the first 10.218.X.0/24, from an X derived from dir, that
// overlaps no route of the host.
func freeSubnet(dir string) (netip.Prefix, error) {
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("kube: list routes: %w", err)
	}
	var used []netip.Prefix
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		a, ok := netip.AddrFromSlice(r.Dst.IP.To4())
		ones, _ := r.Dst.Mask.Size()
		if ok && ones > 0 {
			used = append(used, netip.PrefixFrom(a, ones).Masked())
		}
	}
	h := fnv.New32a()
	h.Write([]byte(dir))
	start := int(h.Sum32() % 256)
next:
	for i := range subnetTries {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 218, byte((start + i) % 256), 0}), 24)
		for _, u := range used {
			if u.Overlaps(p) {
				continue next
			}
		}
		return p, nil
	}
	return netip.Prefix{}, fmt.Errorf("kube: no free /24 in 10.218.0.0/16 after %d tries: set Options.Subnet", subnetTries)
}
