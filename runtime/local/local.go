package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/lab-chaos/lab/runtime"
	"github.com/lab-chaos/lab/runtime/nodedisk"
)

// ErrNeedsRoot is returned by [New] and [Cleanup] without the privileges
// to make and remove network namespaces.
var ErrNeedsRoot = errors.New("the local runtime needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) to make network namespaces: run the lab as root, e.g. with sudo")

// Runtime is one run's namespaces, links and node processes. Start and
// Close are not to be called from different goroutines at once; the other
// methods may be.
type Runtime struct {
	runID   string
	short   string
	binary  string
	ip      string
	prefix  netip.Prefix
	workDir string
	// cgroup is the run's cgroup v2 directory, "" when pauses use SIGSTOP.
	cgroup string
	// disks are the nodes' data directories, faultfs mounts when asked.
	disks *nodedisk.Set

	mu    sync.Mutex
	m     *marker // what was made; written on every change
	nodes []*node
}

var (
	_ runtime.Runtime = (*Runtime)(nil)
	_ runtime.Disks   = (*Runtime)(nil)
)

// node is one node. Its fields below mu are guarded by Runtime.mu; op
// serializes the process faults on the node.
type node struct {
	name    string
	addr    netip.Addr
	args    []string
	env     []string
	dir     string
	logPath string
	cgroup  string

	op sync.Mutex

	proc   *proc
	paused bool
}

// proc is one process of a node; state is set before done is closed.
type proc struct {
	pid   int
	done  chan struct{}
	state string
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// New makes the run's hub namespace, bridge and host link on a free /24,
// after writing the marker that lets [Cleanup] find them. binary is the
// server every node runs. With opts.Disks, Start mounts faultfs at every
// node's data directory, over a backing directory beside it.
func New(ctx context.Context, runID string, binary string, opts runtime.Options) (*Runtime, error) {
	if err := checkPrivileges(); err != nil {
		return nil, err
	}
	if err := checkName("run id", runID); err != nil {
		return nil, err
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		return nil, fmt.Errorf("the local runtime starts nodes with `ip netns exec`: iproute2's ip is not on PATH: %w", err)
	}
	bin, err := filepath.Abs(binary)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("server binary: %w", err)
	} else if st.IsDir() || st.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("server binary %s is not an executable file", bin)
	}
	if old, _ := readMarkers(runID); len(old) > 0 {
		return nil, fmt.Errorf("run %s already has a local runtime (remove it with `lab cleanup --run %s`)", runID, runID)
	}
	r := &Runtime{
		runID:   runID,
		short:   shortID(runID),
		binary:  bin,
		ip:      ip,
		workDir: filepath.Join(os.TempDir(), "lab-"+runID),
		disks:   nodedisk.New(runID, opts),
	}
	if err := r.makeNetwork(); err != nil {
		return nil, errors.Join(err, r.Close(context.WithoutCancel(ctx)))
	}
	if err := os.MkdirAll(r.workDir, 0o755); err != nil {
		return nil, errors.Join(err, r.Close(context.WithoutCancel(ctx)))
	}
	if dir := runCgroupDir(runID); dir != "" {
		r.mu.Lock()
		r.m.Cgroup = dir
		err := r.m.write()
		r.mu.Unlock()
		if err != nil {
			return nil, errors.Join(err, r.Close(context.WithoutCancel(ctx)))
		}
		if makeRunCgroup(dir) {
			r.cgroup = dir
		}
	}
	return r, nil
}

// makeNetwork picks the subnet and makes the hub, holding a lock so that
// two local runs never pick the same /24.
func (r *Runtime) makeNetwork() error {
	if err := os.MkdirAll(markerRoot, 0o755); err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(markerRoot, ".local.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	defer unix.Flock(int(lock.Fd()), unix.LOCK_UN)
	others, _ := readMarkers("")
	taken := map[netip.Prefix]bool{}
	for _, o := range others {
		if p, err := netip.ParsePrefix(o.Subnet); err == nil {
			taken[p] = true
		}
	}
	prefix, err := freeSubnet(r.runID, taken)
	if err != nil {
		return err
	}
	r.prefix = prefix
	r.m = &marker{
		RunID:      r.runID,
		Subnet:     prefix.String(),
		HostLink:   hostLink(r.short),
		Namespaces: []string{hubNS(r.runID)},
		WorkDir:    r.workDir,
	}
	if err := r.m.write(); err != nil {
		return err
	}
	return makeHub(r.runID, r.short, prefix)
}

// RunID is the run the runtime belongs to.
func (r *Runtime) RunID() string { return r.runID }

// Network names the hub namespace that holds the run's bridge.
func (r *Runtime) Network() string { return hubNS(r.runID) }

// HostLink names the one link the runtime adds to the host: the host end
// of the veth pair into the hub, with the gateway address.
func (r *Runtime) HostLink() string { return hostLink(r.short) }

// Subnet is the run's /24.
func (r *Runtime) Subnet() netip.Prefix { return r.prefix }

// Gateway is the host's address on the run's network (.1): the address
// the lab's own clients come from.
func (r *Runtime) Gateway() netip.Addr { return r.prefix.Addr().Next() }

// AddressOf gives the fixed address of the i-th node (0-based): .11, .12, ...
func (r *Runtime) AddressOf(i int) netip.Addr {
	a := r.prefix.Addr().As4()
	a[3] = byte(11 + i)
	return netip.AddrFrom4(a)
}

// DataDir is the node's data directory, inside its working directory: a
// system passes it in the node's arguments (the local runtime runs every
// node in the host's file system, so a fixed path such as /data would be
// shared).
func (r *Runtime) DataDir(node string) string { return filepath.Join(r.workDir, node, "data") }

// diskDir is the backing directory of the node's disk, when the run has
// disks: the files of the faultfs mount at DataDir.
func (r *Runtime) diskDir(node string) string { return filepath.Join(r.workDir, node, "disk") }

// Disk returns the node's disk, when the run asked for disks.
func (r *Runtime) Disk(node string) (runtime.Disk, bool) { return r.disks.Disk(node) }

// Place puts the i-th node at AddressOf(i), with its data in DataDir.
func (r *Runtime) Place(names []string) []runtime.Placement {
	out := make([]runtime.Placement, len(names))
	for i, n := range names {
		out[i] = runtime.Placement{Name: n, Addr: r.AddressOf(i), DataDir: r.DataDir(n)}
	}
	return out
}

// Start makes one namespace per spec, at the fixed address AddressOf(i)
// for the i-th, then starts each node: `binary spec.Args...` in the node's
// namespace and working directory, with spec.Env added to a minimal
// environment.
func (r *Runtime) Start(ctx context.Context, specs []runtime.NodeSpec) error {
	r.mu.Lock()
	seen := map[string]bool{}
	for _, n := range r.nodes {
		seen[n.name] = true
	}
	base := len(r.nodes)
	r.mu.Unlock()
	var added []*node
	for i, s := range specs {
		if err := checkName("node name", s.Name); err != nil {
			return err
		}
		if s.Name == "hub" || seen[s.Name] {
			return fmt.Errorf("node name %q is taken", s.Name)
		}
		seen[s.Name] = true
		idx := base + i
		if idx > 200 {
			return errors.New("the local runtime takes at most 200 nodes")
		}
		n := &node{
			name:    s.Name,
			addr:    r.AddressOf(idx),
			args:    append([]string(nil), s.Args...),
			env:     append([]string(nil), s.Env...),
			dir:     filepath.Join(r.workDir, s.Name),
			logPath: filepath.Join(r.workDir, s.Name+".log"),
		}
		r.mu.Lock()
		r.m.addNamespace(nodeNS(r.runID, s.Name))
		err := r.m.write()
		r.nodes = append(r.nodes, n)
		r.mu.Unlock()
		if err != nil {
			return err
		}
		if err := makeNodeNS(r.runID, r.short, idx, s.Name, n.addr); err != nil {
			return fmt.Errorf("node %s: %w", s.Name, err)
		}
		if err := r.disks.Make(ctx, s.Name, idx, r.DataDir(s.Name), r.diskDir(s.Name), 0o700); err != nil {
			return fmt.Errorf("node %s: %w", s.Name, err)
		}
		if r.cgroup != "" {
			dir, err := makeNodeCgroup(r.cgroup, s.Name)
			if err != nil {
				return fmt.Errorf("node %s: %w", s.Name, err)
			}
			n.cgroup = dir
		}
		added = append(added, n)
	}
	for _, n := range added {
		if err := r.startProc(n); err != nil {
			return fmt.Errorf("start node %s: %w", n.name, err)
		}
	}
	return nil
}

// startProc starts the node's process, in its cgroup from the first
// instruction where the kernel can (clone3 into a cgroup), and records it
// in the marker.
func (r *Runtime) startProc(n *node) error {
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	args := append([]string{"netns", "exec", nodeNS(r.runID, n.name), r.binary}, n.args...)
	newCmd := func() *exec.Cmd {
		// Not CommandContext: a node outlives the context it was started in.
		cmd := exec.Command(r.ip, args...)
		cmd.Dir = n.dir
		cmd.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + n.dir}, n.env...)
		cmd.Stdout = logf
		cmd.Stderr = logf
		// Its own process group: a Ctrl-C meant for the lab does not reach
		// the nodes; the lab stops them itself after saving their logs.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		return cmd
	}
	cmd := newCmd()
	inCgroup := false
	if n.cgroup != "" {
		if fd, err := unix.Open(n.cgroup, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
			cmd.SysProcAttr.UseCgroupFD = true
			cmd.SysProcAttr.CgroupFD = fd
			err = cmd.Start()
			unix.Close(fd)
			if err == nil {
				inCgroup = true
			} else {
				cmd = newCmd()
			}
		}
	}
	if !inCgroup {
		if err := cmd.Start(); err != nil {
			return err
		}
		if n.cgroup != "" {
			// Moved after the fact; ip has not exec'd the server yet, or
			// the server has not forked: either way it lands inside.
			if err := os.WriteFile(filepath.Join(n.cgroup, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
				n.cgroup = "" // pauses fall back to SIGSTOP
			}
		}
	}
	p := &proc{pid: cmd.Process.Pid, done: make(chan struct{})}
	start, _ := procStart(p.pid)
	go func() {
		err := cmd.Wait()
		p.state = exitState(cmd.ProcessState, err)
		close(p.done)
	}()
	r.mu.Lock()
	n.proc = p
	r.m.Processes = append(r.m.Processes, procEntry{Node: n.name, Pid: p.pid, Start: start})
	err = r.m.write()
	r.mu.Unlock()
	return err
}

func exitState(st *os.ProcessState, err error) string {
	if st == nil {
		return fmt.Sprintf("exited: %v", err)
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "killed by " + unix.SignalName(ws.Signal())
	}
	return fmt.Sprintf("exited, exit code %d", st.ExitCode())
}

func (r *Runtime) node(name string) (*node, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.nodes {
		if n.name == name {
			return n, nil
		}
	}
	return nil, fmt.Errorf("no node %q", name)
}

// current returns the node's process, nil if it never started.
func (r *Runtime) current(n *node) (*proc, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return n.proc, n.paused
}

// Pid returns the PID of the node's server process (a restart changes
// it). Its network namespace is the node's.
func (r *Runtime) Pid(ctx context.Context, node string) (int, error) {
	n, err := r.node(node)
	if err != nil {
		return 0, err
	}
	p, _ := r.current(n)
	if p == nil || p.exited() {
		return 0, fmt.Errorf("node %s is not running", node)
	}
	return p.pid, nil
}

// Running reports whether the node's process is alive (a paused node is),
// and if not, how it exited.
func (r *Runtime) Running(ctx context.Context, node string) (bool, string, error) {
	n, err := r.node(node)
	if err != nil {
		return false, "", err
	}
	p, paused := r.current(n)
	switch {
	case p == nil:
		return false, "not started", nil
	case p.exited():
		return false, p.state, nil
	case paused:
		return true, "paused", nil
	}
	return true, "running", nil
}

// Logs returns the last tail lines of a node's output (all of it when
// tail <= 0).
func (r *Runtime) Logs(ctx context.Context, node string, tail int) (string, error) {
	n, err := r.node(node)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(n.logPath)
	if err != nil {
		return "", fmt.Errorf("logs of %s: %w", node, err)
	}
	s := strings.TrimRight(string(b), "\n")
	if tail > 0 {
		lines := strings.Split(s, "\n")
		if len(lines) > tail {
			s = strings.Join(lines[len(lines)-tail:], "\n")
		}
	}
	return s, nil
}

// SaveLogs copies each node's output to dir/<node>.log.
func (r *Runtime) SaveLogs(ctx context.Context, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	r.mu.Lock()
	nodes := append([]*node(nil), r.nodes...)
	r.mu.Unlock()
	var errs []error
	for _, n := range nodes {
		if err := copyFile(n.logPath, filepath.Join(dir, n.name+".log")); err != nil {
			errs = append(errs, fmt.Errorf("logs of %s: %w", n.name, err))
		}
	}
	return errors.Join(errs...)
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Close kills the node processes (thawing or continuing them first),
// unmounts the disks, and removes the namespaces, the host link with its
// route, the cgroups, the working directory and the marker. It is safe to
// call more than once.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	nodes := append([]*node(nil), r.nodes...)
	m := r.m
	r.mu.Unlock()
	var errs []error
	for _, n := range nodes {
		errs = append(errs, r.kill(ctx, n))
	}
	errs = append(errs, r.disks.Unmount(ctx))
	if m != nil {
		// The marker is the list of what to remove: the same code as
		// Cleanup after a killed lab.
		r.mu.Lock()
		mc := *m
		r.mu.Unlock()
		_, err := removeRun(ctx, &mc)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// kill ends the node's process whatever its state, and waits for it.
func (r *Runtime) kill(ctx context.Context, n *node) error {
	n.op.Lock()
	defer n.op.Unlock()
	p, _ := r.current(n)
	if p == nil || p.exited() {
		return nil
	}
	if n.cgroup != "" {
		freeze(ctx, n.cgroup, false)
	}
	unix.Kill(p.pid, unix.SIGCONT)
	unix.Kill(p.pid, unix.SIGKILL)
	return waitExit(ctx, p, n.name)
}

// checkName accepts what can be part of a file and namespace name.
func checkName(what, s string) error {
	if s == "" || len(s) > 100 || s == "." || s == ".." || strings.ContainsAny(s, "/\x00 \t\n") {
		return fmt.Errorf("%s %q cannot name a namespace or a directory", what, s)
	}
	return nil
}

// checkPrivileges returns ErrNeedsRoot unless the lab has CAP_NET_ADMIN
// and CAP_SYS_ADMIN (root has both, unless a container took them away).
func checkPrivileges() error {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return fmt.Errorf("%w (cannot read /proc/self/status: %v)", ErrNeedsRoot, err)
	}
	if !hasNetnsCaps(string(b)) {
		return ErrNeedsRoot
	}
	return nil
}

// hasNetnsCaps reads the effective capabilities from a
// /proc/<pid>/status text.
func hasNetnsCaps(status string) bool {
	for _, line := range strings.Split(status, "\n") {
		v, ok := strings.CutPrefix(line, "CapEff:")
		if !ok {
			continue
		}
		caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return false
		}
		need := uint64(1)<<unix.CAP_NET_ADMIN | uint64(1)<<unix.CAP_SYS_ADMIN
		return caps&need == need
	}
	return false
}
