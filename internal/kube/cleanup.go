package kube

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// cgroupMounts are the mount points of the host's cgroup v1 hierarchies,
// named or not, and of the cgroup v2 hierarchy of a hybrid host
// (/sys/fs/cgroup/unified), where the kubelet's runc makes its cgroups too.
func cgroupMounts() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		i := slices.Index(fields, "-")
		if i < 0 || i+1 >= len(fields) || (fields[i+1] != "cgroup" && fields[i+1] != "cgroup2") {
			continue
		}
		out = append(out, unescapeMount(fields[4]))
	}
	return out, sc.Err()
}

// makeCgroupRoot makes the kubelet's cgroup root at the top of every cgroup
// hierarchy (the kubelet requires it to exist); a new cpuset cgroup gets
// its parent's CPUs and memory nodes, without which no task may join it.
func (c *Cluster) makeCgroupRoot() error {
	mounts, err := cgroupMounts()
	if err != nil {
		return err
	}
	if len(mounts) == 0 {
		return errors.New("kube: no cgroup hierarchy mounted")
	}
	for _, m := range mounts {
		d := filepath.Join(m, c.rec.CgroupRoot)
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("kube: cgroup root: %w", err)
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if b, err := os.ReadFile(filepath.Join(m, f)); err == nil {
				if err := os.WriteFile(filepath.Join(d, f), b, 0o644); err != nil {
					return fmt.Errorf("kube: cgroup root %s: %w", f, err)
				}
			}
		}
	}
	return nil
}

// Close stops the cluster and removes what it made outside its files:
// pods are deleted through the API first (the kubelet tears their network
// down), then every server is stopped, leftover containers and their
// shims with them, and the mounts under the directory, the cgroups, the
// bridge, the kernel settings the kubelet changed, and the host
// directories the servers made are undone. The directory's files stay,
// the logs among them, for the caller to read or remove.
func (c *Cluster) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		return nil
	}
	c.done = true
	rec := c.rec
	c.mu.Unlock()
	if c.Client != nil && c.exited() == nil && c.running("kubelet") {
		if err := c.deletePods(ctx); err != nil {
			c.logf("pods not deleted through the API (%v): stopping them by force", err)
		}
	}
	began := time.Now()
	err := cleanup(ctx, c.l, rec, c.logf)
	c.logf("stopped and cleaned up in %s", time.Since(began).Round(time.Millisecond))
	return err
}

func (c *Cluster) running(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.procs {
		if p.name == name {
			select {
			case <-p.exit:
				return false
			default:
				return true
			}
		}
	}
	return false
}

// deletePods deletes every pod and waits, at most 30 s, until the kubelet
// has stopped them all and the API no longer lists them.
func (c *Cluster) deletePods(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pods, err := c.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	if len(pods.Items) == 0 {
		return nil
	}
	grace := int64(1)
	for _, p := range pods.Items {
		if err := c.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
			return err
		}
	}
	var last []corev1.Pod
	for {
		pods, err := c.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if err == nil && len(pods.Items) == 0 {
			c.logf("%d pods deleted", len(last))
			return nil
		}
		if err == nil {
			last = pods.Items
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d pods left: %w", len(last), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Cleanup removes what the cluster in dir left behind, from its record
// (dir/cluster.json): after a crash of the process that started it, or
// to be sure. It is what [Cluster.Close] does after deleting the pods,
// and does nothing where nothing is left.
func Cleanup(ctx context.Context, dir string, log func(format string, args ...any)) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	l := layout{dir: dir}
	rec, err := readRecord(l.record())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if rec.Dir != dir {
		return fmt.Errorf("kube: %s records the cluster of %s, not of this directory: left alone", l.record(), rec.Dir)
	}
	if log == nil {
		log = func(string, ...any) {}
	}
	return cleanup(ctx, l, rec, log)
}

// stopOrder is the order servers are stopped in: the kubelet first, so
// that it starts nothing more, etcd last.
var stopOrder = []string{"kubelet", "containerd", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"}

func cleanup(ctx context.Context, l layout, rec *record, logf func(string, ...any)) error {
	var errs []error
	note := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	procs := slices.Clone(rec.Processes)
	slices.SortStableFunc(procs, func(a, b procEntry) int {
		return slices.Index(stopOrder, a.Name) - slices.Index(stopOrder, b.Name)
	})
	stop := func(name string) {
		for _, p := range procs {
			if p.Name == name {
				note(stopProcess(ctx, p, 10*time.Second))
			}
		}
	}
	stop("kubelet")
	// The containers: their processes killed through their cgroups, then
	// their tasks and containers deleted through containerd while it runs,
	// so that the shims exit and unmount the root file systems.
	note(killCgroupTasks(ctx, rec.CgroupRoot))
	socket := l.containerdSocket()
	containerdUp := slices.ContainsFunc(procs, func(p procEntry) bool { return p.Name == "containerd" && p.alive() })
	if containerdUp {
		note(deleteContainers(ctx, socket))
	}
	shimSockets := shimAddresses(l)
	stop("containerd")
	note(killShims(ctx, socket))
	for _, s := range shimSockets {
		if err := os.Remove(s); err == nil {
			logf("removed shim socket %s", s)
		}
	}
	for _, name := range stopOrder[2:] {
		stop(name)
	}
	note(unmountUnder(l.dir, logf))
	note(removeCgroupRoot(ctx, rec.CgroupRoot))
	note(deleteBridge(rec.Bridge, logf))
	note(restoreSysctls(rec.Sysctls, logf))
	note(removeHostLeftovers(l, rec, logf))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kube: cleanup of %s: %w", l.dir, err)
	}
	// Done: a later Cleanup finds nothing to do.
	return os.Rename(l.record(), l.record()+".closed")
}

// stopProcess sends SIGTERM to a recorded server's process group and
// waits for it, then SIGKILL.
func stopProcess(ctx context.Context, p procEntry, grace time.Duration) error {
	if !p.alive() {
		return nil
	}
	unix.Kill(-p.Pid, unix.SIGTERM)
	unix.Kill(p.Pid, unix.SIGTERM)
	if waitGone(ctx, grace, p.alive) {
		return nil
	}
	unix.Kill(-p.Pid, unix.SIGKILL)
	unix.Kill(p.Pid, unix.SIGKILL)
	if waitGone(ctx, 10*time.Second, p.alive) {
		return nil
	}
	return fmt.Errorf("%s (pid %d) still alive after SIGKILL", p.Name, p.Pid)
}

// waitGone polls alive until it is false or d has passed.
func waitGone(ctx context.Context, d time.Duration, alive func() bool) bool {
	deadline := time.Now().Add(d)
	for alive() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return !alive()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// cgroupDirs are the directories of the cgroup root in every hierarchy,
// each with its subdirectories, deepest first.
func cgroupDirs(root string) ([]string, error) {
	if root == "" || strings.Contains(root, "/") || root == "." || root == ".." {
		return nil, fmt.Errorf("cgroup root %q: not the lab's", root)
	}
	mounts, err := cgroupMounts()
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, m := range mounts {
		filepath.WalkDir(filepath.Join(m, root), func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
	}
	slices.SortFunc(dirs, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	return dirs, nil
}

// killCgroupTasks sends SIGKILL to every process in the cgroup root's
// tree, until none is left (10 s at most).
func killCgroupTasks(ctx context.Context, root string) error {
	pids := func() []int {
		dirs, _ := cgroupDirs(root)
		var out []int
		for _, d := range dirs {
			b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && !slices.Contains(out, pid) {
					out = append(out, pid)
				}
			}
		}
		return out
	}
	if !waitGone(ctx, 10*time.Second, func() bool {
		ps := pids()
		for _, pid := range ps {
			unix.Kill(pid, unix.SIGKILL)
		}
		return len(ps) > 0
	}) {
		return fmt.Errorf("processes left in cgroup %s: %v", root, pids())
	}
	return nil
}

func removeCgroupRoot(ctx context.Context, root string) error {
	dirs, err := cgroupDirs(root)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range dirs {
		if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}

// deleteContainers deletes every task and container of the Kubernetes
// namespace of the cluster's containerd.
func deleteContainers(ctx context.Context, socket string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var errs []error
	out, err := ctrAt(ctx, socket, nil, "tasks", "ls", "-q")
	if err != nil {
		return err
	}
	// A task whose processes were killed may be deleted by containerd
	// meanwhile: not found is done.
	gone := func(err error) bool { return err == nil || strings.Contains(err.Error(), "not found") }
	for _, id := range strings.Fields(string(out)) {
		if _, err := ctrAt(ctx, socket, nil, "tasks", "delete", "--force", id); !gone(err) {
			errs = append(errs, err)
		}
	}
	out, err = ctrAt(ctx, socket, nil, "containers", "ls", "-q")
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, id := range strings.Fields(string(out)) {
		if _, err := ctrAt(ctx, socket, nil, "containers", "delete", id); !gone(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// shimAddresses are the sockets of the cluster's shims, which live in a
// fixed directory of the host (/run/containerd/s), as the shims' bundles
// under the state directory name them.
func shimAddresses(l layout) []string {
	files, _ := filepath.Glob(filepath.Join(l.containerd(), "state", "io.containerd.runtime.v2.task", "*", "*", "address"))
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		a := strings.TrimPrefix(strings.TrimSpace(string(b)), "unix://")
		if strings.HasPrefix(a, "/run/containerd/s/") {
			out = append(out, a)
		}
	}
	return out
}

// killShims kills the shims of the cluster's containerd still alive
// (their command line names its socket): a shim outlives a killed
// containerd.
func killShims(ctx context.Context, socket string) error {
	find := func() []int {
		entries, _ := os.ReadDir("/proc")
		var out []int
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if err != nil {
				continue
			}
			args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
			if len(args) == 0 || !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") {
				continue
			}
			if i := slices.Index(args, "-address"); i >= 0 && i+1 < len(args) && args[i+1] == socket {
				out = append(out, pid)
			}
		}
		return out
	}
	if !waitGone(ctx, 10*time.Second, func() bool {
		ps := find()
		for _, pid := range ps {
			unix.Kill(pid, unix.SIGKILL)
		}
		return len(ps) > 0
	}) {
		return fmt.Errorf("shims of %s still alive: %v", socket, find())
	}
	return nil
}

// unescapeMount undoes the octal escapes of /proc/self/mountinfo (\040
// for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// MountsUnder lists the mount points at or under dir, deepest first.
func MountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	slices.SortStableFunc(out, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	return out, sc.Err()
}

// unmountUnder unmounts everything mounted at or under dir (root file
// systems of containers, their /dev/shm, network namespaces, volumes,
// the kubelet's bind mount of its own directory), deepest first, lazily
// where a mount is busy. A path mounted more than once is unmounted until
// it is not.
func unmountUnder(dir string, logf func(string, ...any)) error {
	var errs []error
	for range 8 {
		mounts, err := MountsUnder(dir)
		if err != nil {
			return err
		}
		if len(mounts) == 0 {
			return nil
		}
		errs = errs[:0]
		for _, m := range mounts {
			err := unix.Unmount(m, 0)
			if errors.Is(err, unix.EBUSY) {
				err = unix.Unmount(m, unix.MNT_DETACH)
			}
			if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
				continue
			}
			logf("unmounted %s", m)
		}
	}
	mounts, _ := MountsUnder(dir)
	if len(mounts) > 0 {
		errs = append(errs, fmt.Errorf("still mounted under %s: %v", dir, mounts))
	}
	return errors.Join(errs...)
}

// deleteBridge deletes the cluster's bridge and any veth still attached to
// it (a pod's end goes with its network namespace).
func deleteBridge(name string, logf func(string, ...any)) error {
	if name == "" || !strings.HasPrefix(name, "labk") {
		return nil
	}
	br, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return err
	}
	if br.Type() != "bridge" {
		return fmt.Errorf("link %s is a %s, not the cluster's bridge: left alone", name, br.Type())
	}
	links, err := netlink.LinkList()
	if err != nil {
		return err
	}
	var errs []error
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index && l.Type() == "veth" {
			if err := netlink.LinkDel(l); err != nil {
				errs = append(errs, fmt.Errorf("delete veth %s: %w", l.Attrs().Name, err))
			} else {
				logf("deleted veth %s", l.Attrs().Name)
			}
		}
	}
	if err := netlink.LinkDel(br); err != nil {
		errs = append(errs, fmt.Errorf("delete bridge %s: %w", name, err))
	} else {
		logf("deleted bridge %s", name)
	}
	return errors.Join(errs...)
}

// restoreSysctls writes back the kernel settings the cluster found.
func restoreSysctls(orig map[string]string, logf func(string, ...any)) error {
	var errs []error
	for _, p := range slices.Sorted(func(yield func(string) bool) {
		for k := range orig {
			if !yield(k) {
				return
			}
		}
	}) {
		if !slices.Contains(sysctlPaths, p) {
			continue // only what the lab knows to read back
		}
		path := "/proc/sys/" + p
		b, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if cur := strings.TrimSpace(string(b)); cur != orig[p] {
			if err := os.WriteFile(path, []byte(orig[p]), 0o644); err != nil {
				errs = append(errs, fmt.Errorf("restore %s to %s: %w", p, orig[p], err))
				continue
			}
			logf("restored %s: %s (was %s)", strings.ReplaceAll(p, "/", "."), orig[p], cur)
		}
	}
	return errors.Join(errs...)
}

// removeHostLeftovers removes the kubelet's links to the cluster's
// container logs in /var/log/containers, libcni's cached results of the
// cluster's network and of its sandboxes' loopback (left when a sandbox
// was not torn down through CNI), and the host directories the cluster
// made, if empty.
func removeHostLeftovers(l layout, rec *record, logf func(string, ...any)) error {
	var errs []error
	links, _ := filepath.Glob("/var/log/containers/*")
	for _, link := range links {
		target, err := os.Readlink(link)
		if err == nil && strings.HasPrefix(target, l.dir+"/") {
			if err := os.Remove(link); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if rec.Network != "" {
		cached, _ := filepath.Glob(filepath.Join("/var/lib/cni/results", rec.Network+"-*"))
		// containerd's loopback network, one entry per sandbox.
		for _, sub := range []string{"root", "state"} {
			sandboxes, _ := os.ReadDir(filepath.Join(l.containerd(), sub, "io.containerd.grpc.v1.cri", "sandboxes"))
			for _, sb := range sandboxes {
				if f := filepath.Join("/var/lib/cni/results", "cni-loopback-"+sb.Name()+"-lo"); !slices.Contains(cached, f) {
					if _, err := os.Lstat(f); err == nil {
						cached = append(cached, f)
					}
				}
			}
		}
		for _, f := range cached {
			if err := os.Remove(f); err != nil {
				errs = append(errs, err)
			} else {
				logf("removed %s", f)
			}
		}
	}
	for _, d := range hostDirs {
		if !slices.Contains(rec.MadeDirs, d) {
			continue
		}
		for _, f := range hostFiles[d] {
			os.Remove(filepath.Join(d, f))
		}
		if err := os.Remove(d); err == nil {
			logf("removed %s", d)
		} else if !errors.Is(err, os.ErrNotExist) {
			logf("left %s: %v", d, err)
		}
	}
	return errors.Join(errs...)
}
