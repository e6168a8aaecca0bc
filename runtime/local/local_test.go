package local_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/lab-chaos/lab/internal/labtest"
	"github.com/lab-chaos/lab/nemesis"
	"github.com/lab-chaos/lab/runtime"
	"github.com/lab-chaos/lab/runtime/local"
	"github.com/lab-chaos/lab/systems"
	"github.com/lab-chaos/lab/systems/etcd"
)

// nodes adapts the runtime to what the nemesis needs.
func nodes(rt interface {
	Pid(context.Context, string) (int, error)
}, peers []systems.Peer) *nemesis.NodeSet {
	names, addrs := systems.Split(peers)
	return nemesis.NewNodeSet(names, addrs, rt.Pid)
}

func testRunID(t *testing.T) string {
	return fmt.Sprintf("t%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
}

// TestEtcdOnLocalRuntime runs three etcd nodes as processes in the lab's
// namespaces and puts them through the faults the Docker runtime knows: a
// partition by nftables in n3's namespace (found through its PID), a pause
// and a kill with restart. Close then leaves nothing behind.
func TestEtcdOnLocalRuntime(t *testing.T) {
	labtest.Root(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	began := time.Now()
	inst, err := etcd.System{}.Open(systems.Config{BuildOutput: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	sys := inst.(*etcd.Etcd)
	art, _, err := sys.Artifact(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bin := art.Binary
	t.Logf("etcd binary %s in %s", bin, time.Since(began).Round(time.Millisecond))
	t0 := time.Now()
	if again, built, err := sys.Artifact(ctx); err != nil || built || again.Binary != bin || time.Since(t0) > 2*time.Second {
		t.Fatalf("second Artifact = %q, built %v, %v after %s; want the cached %q at once", again.Binary, built, err, time.Since(t0), bin)
	}

	runID := testRunID(t)
	t0 = time.Now()
	rt, err := local.New(ctx, runID, bin, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			rt.Close(context.Background())
		}
	})
	places := rt.Place([]string{"n1", "n2", "n3"})
	peers := systems.Peers(places)
	var specs []runtime.NodeSpec
	for _, p := range places {
		specs = append(specs, sys.Node(p, systems.Cluster{Nodes: places, Token: runID}))
	}
	if err := rt.Start(ctx, specs); err != nil {
		t.Fatal(err)
	}
	waitReady := func(p systems.Peer) {
		t.Helper()
		if err := runtime.WaitFor(ctx, 60*time.Second, 100*time.Millisecond, func(ctx context.Context) error { return sys.Ready(ctx, p) }); err != nil {
			logs, _ := rt.Logs(ctx, p.Name, 20)
			t.Fatalf("%s not ready: %v\n%s", p.Name, err, logs)
		}
	}
	for _, p := range peers {
		waitReady(p)
	}
	t.Logf("3 nodes on %s (%s) ready in %s", rt.Network(), rt.Subnet(), time.Since(t0).Round(time.Millisecond))

	client := func(p systems.Peer, mode systems.ReadMode) systems.RegisterClient {
		c, err := sys.RegisterClient(ctx, p, mode)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c1 := client(peers[0], systems.Linearizable)
	c2 := client(peers[1], systems.Linearizable)
	c3 := client(peers[2], systems.Linearizable)
	c3s := client(peers[2], systems.Serializable)
	op := func(f func(ctx context.Context) error) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		return f(ctx)
	}
	// Each subtest writes a key of its own: a write whose attempt timed out
	// may still take effect seconds later (a proposal held in a cut link
	// is delivered after the heal), and must not overwrite what a later
	// subtest wrote and reads back.
	key := "k"
	write := func(c systems.RegisterClient, v string) error {
		return op(func(ctx context.Context) error { return c.Write(ctx, key, v) })
	}
	read := func(c systems.RegisterClient) (v string, err error) {
		err = op(func(ctx context.Context) (err error) { v, _, err = c.Read(ctx, key); return err })
		return v, err
	}
	readsEventually := func(c systems.RegisterClient, want string, within time.Duration) error {
		return runtime.WaitFor(ctx, within, 100*time.Millisecond, func(ctx context.Context) error {
			v, err := read(c)
			if err == nil && v != want {
				err = fmt.Errorf("read %q, want %q", v, want)
			}
			return err
		})
	}
	if err := write(c1, "1"); err != nil {
		t.Fatal(err)
	}
	if err := readsEventually(c3s, "1", 10*time.Second); err != nil {
		t.Fatalf("n3 applying the first write: %v", err)
	}

	t.Run("partition", func(t *testing.T) {
		if l, err := sys.Leader(ctx, peers); err == nil {
			t.Logf("leader before the partition: %s", l)
		}
		part := nemesis.NewPartitioner(nodes(rt, peers))
		groups, cut, err := nemesis.PlanPartition(nemesis.ShapeIsolate, "n3", []string{"n1", "n2", "n3"}, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		if err := part.Cut(ctx, 1, cut); err != nil {
			t.Fatal(err)
		}
		defer part.HealAll(context.Background())
		t.Logf("cut %v in %s", groups, time.Since(t0).Round(time.Microsecond))
		if err := runtime.WaitFor(ctx, 15*time.Second, 100*time.Millisecond, func(ctx context.Context) error { return write(c1, "2") }); err != nil {
			t.Fatalf("majority write during the partition: %v", err)
		}
		if _, err := read(c3); err == nil {
			t.Fatal("linearizable read through isolated n3 succeeded")
		} else {
			t.Logf("linearizable read through n3: %v", err)
		}
		if v, err := read(c3s); err != nil || v != "1" {
			t.Fatalf("serializable read through isolated n3 = %q, %v; want the stale %q", v, err, "1")
		}
		t0 = time.Now()
		if err := part.Heal(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if err := readsEventually(c3, "2", 30*time.Second); err != nil {
			t.Fatalf("n3 after the heal: %v", err)
		}
		t.Logf("n3 caught up %s after the heal", time.Since(t0).Round(time.Millisecond))
	})

	t.Run("pause", func(t *testing.T) {
		key = "pause"
		if l, err := sys.Leader(ctx, peers); err == nil {
			t.Logf("leader before the pause: %s", l)
		}
		t0 := time.Now()
		if err := rt.Pause(ctx, "n2"); err != nil {
			t.Fatal(err)
		}
		defer rt.Resume(context.Background(), "n2")
		t.Logf("paused n2 in %s", time.Since(t0).Round(time.Microsecond))
		if running, state, err := rt.Running(ctx, "n2"); err != nil || !running || state != "paused" {
			t.Fatalf("Running(n2) = %v, %q, %v; want true, paused", running, state, err)
		}
		if v, err := read(c2); err == nil {
			t.Fatalf("read through paused n2 = %q, want a timeout", v)
		} else {
			t.Logf("read through paused n2: %v", err)
		}
		if err := write(c1, "3"); err != nil {
			t.Fatalf("write through n1 while n2 is paused: %v", err)
		}
		t0 = time.Now()
		if err := rt.Resume(ctx, "n2"); err != nil {
			t.Fatal(err)
		}
		if err := readsEventually(c2, "3", 20*time.Second); err != nil {
			for _, c := range []systems.RegisterClient{c1, c2, c3, c3s} {
				v, rerr := read(c)
				t.Logf("read after resume: %q %v", v, rerr)
			}
			l, lerr := sys.Leader(ctx, peers)
			t.Logf("leader after resume: %s %v", l, lerr)
			t.Fatalf("n2 after resume: %v", err)
		}
		t.Logf("n2 served a linearizable read %s after resume", time.Since(t0).Round(time.Millisecond))
	})

	t.Run("kill and restart", func(t *testing.T) {
		key = "kill"
		old, err := rt.Pid(ctx, "n2")
		if err != nil {
			t.Fatal(err)
		}
		if err := rt.Kill(ctx, "n2", "SIGKILL"); err != nil {
			t.Fatal(err)
		}
		if running, state, err := rt.Running(ctx, "n2"); err != nil || running || !strings.Contains(state, "SIGKILL") {
			t.Fatalf("Running(n2) after kill = %v, %q, %v; want false, killed by SIGKILL", running, state, err)
		}
		if _, err := rt.Pid(ctx, "n2"); err == nil {
			t.Fatal("Pid of a killed node succeeded")
		}
		if err := runtime.WaitFor(ctx, 15*time.Second, 100*time.Millisecond, func(ctx context.Context) error { return write(c1, "4") }); err != nil {
			t.Fatalf("write with n2 dead: %v", err)
		}
		t0 := time.Now()
		if err := rt.StartNode(ctx, "n2"); err != nil {
			t.Fatal(err)
		}
		if pid, err := rt.Pid(ctx, "n2"); err != nil || pid == old {
			t.Fatalf("Pid(n2) after restart = %d, %v; want a new process", pid, err)
		}
		waitReady(peers[1])
		if err := readsEventually(c2, "4", 20*time.Second); err != nil {
			t.Fatalf("n2 after restart: %v", err)
		}
		t.Logf("n2 restarted and rejoined (its data kept) in %s", time.Since(t0).Round(time.Millisecond))
	})

	t.Run("stop and start", func(t *testing.T) {
		t0 := time.Now()
		if err := rt.Stop(ctx, "n3", 10); err != nil {
			t.Fatal(err)
		}
		if running, state, _ := rt.Running(ctx, "n3"); running {
			t.Fatalf("n3 still running after Stop: %s", state)
		} else {
			t.Logf("n3 stopped gracefully in %s: %s", time.Since(t0).Round(time.Millisecond), state)
		}
		if err := rt.StartNode(ctx, "n3"); err != nil {
			t.Fatal(err)
		}
		waitReady(peers[2])
	})

	dir := t.TempDir()
	if t.Failed() {
		dir = filepath.Join(os.TempDir(), "lab-test-logs-"+runID)
		t.Logf("node logs in %s", dir)
	}
	if err := rt.SaveLogs(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "n1.log")); err != nil || !strings.Contains(string(b), "n1") {
		t.Fatalf("saved log of n1: %d bytes, %v", len(b), err)
	}
	var pids []int
	for _, p := range peers {
		pid, err := rt.Pid(ctx, p.Name)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	t0 = time.Now()
	if err := rt.Close(ctx); err != nil {
		t.Fatal(err)
	}
	closed = true
	t.Logf("closed in %s", time.Since(t0).Round(time.Millisecond))
	assertGone(t, rt.RunID(), rt.HostLink(), rt.Subnet().String(), pids)
	if err := rt.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// assertGone checks that nothing of the run is left: namespaces, the host
// link and its route, processes (a zombie waiting for its reaper counts as
// gone), working directory, cgroup and marker.
func assertGone(t *testing.T, runID, hostLink, subnet string, pids []int) {
	t.Helper()
	if left := netnsWithPrefix(t, "lab-"+runID+"-"); len(left) > 0 {
		t.Errorf("namespaces left: %v", left)
	}
	if _, err := net.InterfaceByName(hostLink); err == nil {
		t.Errorf("host link %s left", hostLink)
	}
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		if r.Dst != nil && r.Dst.String() == subnet {
			t.Errorf("route left: %v", r)
		}
	}
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err == nil && !strings.Contains(string(b), ") Z ") {
			t.Errorf("process %d left: %s", pid, b)
		}
	}
	for _, p := range []string{filepath.Join(os.TempDir(), "lab-"+runID), filepath.Join("/run/lab", runID), cgroupOf(runID)} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left", p)
		}
	}
}

// cgroupOf is where the run's cgroup would be, "" without cgroup v2.
func cgroupOf(runID string) string {
	b, _ := os.ReadFile("/proc/self/mounts")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[2] == "cgroup2" {
			return filepath.Join(f[1], "lab", runID)
		}
	}
	return ""
}

func netnsWithPrefix(t *testing.T, prefix string) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatalf("ip netns list: %v", err)
	}
	var found []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], prefix) {
			found = append(found, f[0])
		}
	}
	return found
}

// TestCleanupAfterKilledLab leaves a run behind as a killed lab does: a
// child process makes the run (one node frozen, one stopped by a signal,
// one running) and is killed with SIGKILL. Cleanup must remove all of it,
// and nothing that the lab did not make.
func TestCleanupAfterKilledLab(t *testing.T) {
	labtest.Root(t)
	if id := os.Getenv("LAB_LOCAL_HELPER"); id != "" {
		leaveRunBehind(t, id)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	foreign := fmt.Sprintf("notlab-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", foreign).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", foreign, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", foreign).Run() })
	// Markers in a directory of the test's own: Cleanup("") then means
	// every run of this test, and never a run that another lab on this
	// machine has going.
	markers := t.TempDir()
	t.Cleanup(local.UseMarkerRoot(markers))

	runID := testRunID(t)
	lab := exec.Command(os.Args[0], "-test.run=^TestCleanupAfterKilledLab$", "-test.timeout=2m")
	lab.Env = append(os.Environ(), "LAB_LOCAL_HELPER="+runID, "LAB_LOCAL_MARKERS="+markers)
	lab.Stderr = os.Stderr
	out, err := lab.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := lab.Start(); err != nil {
		t.Fatal(err)
	}
	defer lab.Process.Kill()
	var hostLink, subnet string
	var pids []int
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 6 && f[0] == "READY" {
			hostLink, subnet = f[1], f[2]
			for _, p := range f[3:] {
				pid, _ := strconv.Atoi(p)
				pids = append(pids, pid)
			}
			break
		}
	}
	if hostLink == "" {
		lab.Wait()
		t.Fatal("the child lab never made its run")
	}
	if got := netnsWithPrefix(t, "lab-"+runID+"-"); len(got) != 4 {
		t.Fatalf("namespaces of the run = %v, want the hub and 3 nodes", got)
	}
	lab.Process.Kill()
	lab.Wait()

	t0 := time.Now()
	removed, err := local.Cleanup(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Cleanup after a killed lab in %s removed %+v", time.Since(t0).Round(time.Millisecond), removed)
	for _, n := range []string{"hub", "n1", "n2", "n3"} {
		if ns := "lab-" + runID + "-" + n; !slices.Contains(removed.Namespaces, ns) {
			t.Errorf("Cleanup did not report namespace %s: %v", ns, removed.Namespaces)
		}
	}
	if !slices.Contains(removed.Links, hostLink) {
		t.Errorf("Cleanup removed links %v, want %s", removed.Links, hostLink)
	}
	// n2 (stopped) may be gone already: the kernel sends SIGHUP and
	// SIGCONT to a process group that its parent's death leaves orphaned
	// with a stopped member. The frozen n1 and the running n3 are not.
	for _, want := range []string{fmt.Sprintf("n1 (pid %d)", pids[0]), fmt.Sprintf("n3 (pid %d)", pids[2])} {
		if !slices.Contains(removed.Processes, want) {
			t.Errorf("Cleanup removed processes %v, want %s among them", removed.Processes, want)
		}
	}
	assertGone(t, runID, hostLink, subnet, pids)
	if got := netnsWithPrefix(t, foreign); len(got) != 1 {
		t.Errorf("the namespace %s that the lab did not make is gone", foreign)
	}
	if again, err := local.Cleanup(ctx, runID); err != nil || len(again.Namespaces)+len(again.Links)+len(again.Processes) > 0 {
		t.Errorf("second Cleanup = %+v, %v; want nothing to do", again, err)
	}
}

// leaveRunBehind is the child lab of TestCleanupAfterKilledLab: it makes a
// run of three sleeping nodes, freezes one, stops one, says READY and
// waits to be killed.
func leaveRunBehind(t *testing.T, runID string) {
	defer local.UseMarkerRoot(os.Getenv("LAB_LOCAL_MARKERS"))()
	ctx := context.Background()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	rt, err := local.New(ctx, runID, sleep, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	specs := []runtime.NodeSpec{{Name: "n1", Args: []string{"600"}}, {Name: "n2", Args: []string{"600"}}, {Name: "n3", Args: []string{"600"}}}
	if err := rt.Start(ctx, specs); err != nil {
		t.Fatal(err)
	}
	line := []string{"READY", rt.HostLink(), rt.Subnet().String()}
	for _, s := range specs {
		pid, err := rt.Pid(ctx, s.Name)
		if err != nil {
			t.Fatal(err)
		}
		line = append(line, strconv.Itoa(pid))
	}
	if err := rt.Pause(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	pid2, _ := rt.Pid(ctx, "n2")
	syscall.Kill(pid2, syscall.SIGSTOP)
	fmt.Println(strings.Join(line, " "))
	time.Sleep(time.Minute) // killed long before
}

// TestSignalFaultsWithoutFreezer runs the process faults on a machine
// without the cgroup v2 freezer: pause is SIGSTOP, and kill, restart and
// Close work on a stopped node.
func TestSignalFaultsWithoutFreezer(t *testing.T) {
	labtest.Root(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	rt, err := local.New(ctx, testRunID(t), sleep, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	local.WithoutFreezer(rt)
	if err := rt.Start(ctx, []runtime.NodeSpec{{Name: "n1", Args: []string{"600"}}}); err != nil {
		t.Fatal(err)
	}
	state := func() string {
		pid, err := rt.Pid(ctx, "n1")
		if err != nil {
			return "gone"
		}
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		_, after, _ := strings.Cut(string(b), ") ")
		if st := after[:1]; st == "T" || st == "Z" {
			return st
		}
		return "up"
	}
	steps := []struct {
		name string
		do   func() error
		want string
	}{
		{"pause", func() error { return rt.Pause(ctx, "n1") }, "T"},
		{"pause again", func() error { return rt.Pause(ctx, "n1") }, "T"},
		{"resume", func() error { return rt.Resume(ctx, "n1") }, "up"},
		{"pause before kill", func() error { return rt.Pause(ctx, "n1") }, "T"},
		{"kill while paused", func() error { return rt.Kill(ctx, "n1", "SIGKILL") }, "gone"},
		{"start", func() error { return rt.StartNode(ctx, "n1") }, "up"},
		{"start running", func() error { return rt.StartNode(ctx, "n1") }, "up"},
		{"pause before stop", func() error { return rt.Pause(ctx, "n1") }, "T"},
		{"stop while paused", func() error { return rt.Stop(ctx, "n1", 5) }, "gone"},
		{"start after stop", func() error { return rt.StartNode(ctx, "n1") }, "up"},
		{"pause before close", func() error { return rt.Pause(ctx, "n1") }, "T"},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := state(); got != s.want {
			t.Fatalf("after %s, n1 is %q, want %q", s.name, got, s.want)
		}
	}
	pid, _ := rt.Pid(ctx, "n1")
	if err := rt.Close(ctx); err != nil {
		t.Fatal(err)
	}
	assertGone(t, rt.RunID(), rt.HostLink(), rt.Subnet().String(), []int{pid})
}
