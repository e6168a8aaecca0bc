package kube_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lab-chaos/lab/internal/kube"
)

// httpMain is the test's server: a static Go HTTP server in a FROM
// scratch image, answering with its host name (the pod's name).
const httpMain = `package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	host, _ := os.Hostname()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "lab-kube-http %s\n", host)
	})
	if err := http.ListenAndServe(":8080", nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`

// TestOneNodeCluster builds (or finds cached) the Kubernetes servers,
// starts a one-node cluster, runs a pod of an image the test builds and
// imports, reaches it over HTTP from the host, closes the cluster and
// checks that nothing of it is left: processes, mounts, cgroups, links,
// shim sockets, iptables and nftables rules, kernel settings.
func TestOneNodeCluster(t *testing.T) {
	skipUnlessKube(t)
	ctx := context.Background()
	logw := testWriter{t}

	began := time.Now()
	bins, err := kube.Binaries(ctx, logw)
	if err != nil {
		t.Fatal(err)
	}
	state := "cached"
	if bins.Built {
		state = "cold (built now)"
	}
	t.Logf("TIMING binaries, %s: %s", state, time.Since(began).Round(time.Millisecond))

	before := hostState(t)
	dir := t.TempDir()
	began = time.Now()
	c, err := kube.Start(ctx, dir, kube.Options{Binaries: bins, Log: logw})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("TIMING cluster start to node Ready: %s", time.Since(began).Round(time.Millisecond))
	closed := false
	t.Cleanup(func() {
		if !closed {
			c.Close(context.Background())
		}
	})

	ip := runHTTPPod(t, c)
	if !c.Subnet.Contains(mustAddr(t, ip)) {
		t.Errorf("pod IP %s is outside the cluster's subnet %s", ip, c.Subnet)
	}
	made := whileRunning(t, dir, c.Bridge, c.Subnet.String())

	began = time.Now()
	closed = true
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("TIMING close: %s", time.Since(began).Round(time.Millisecond))
	made.nothingLeft(t, before)
}

// TestCleanupAfterCrash: the process that started a cluster and ran a pod
// is killed with SIGKILL, its servers left running; Cleanup of the
// directory, from the record alone, leaves nothing behind.
func TestCleanupAfterCrash(t *testing.T) {
	skipUnlessKube(t)
	ctx := context.Background()
	if dir := os.Getenv("LAB_KUBE_CRASH_DIR"); dir != "" {
		crashChild(t, dir)
		return
	}
	if _, err := kube.Binaries(ctx, testWriter{t}); err != nil {
		t.Fatal(err)
	}
	before := hostState(t)
	dir := t.TempDir()
	t.Cleanup(func() { kube.Cleanup(context.Background(), dir, nil) })
	child := exec.Command(os.Args[0], "-test.run=^TestCleanupAfterCrash$", "-test.v", "-test.timeout=20m")
	child.Env = append(os.Environ(), "LAB_KUBE_CRASH_DIR="+dir)
	out, err := os.Create(filepath.Join(t.TempDir(), "child.log"))
	if err != nil {
		t.Fatal(err)
	}
	child.Stdout, child.Stderr = out, out
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	ready := filepath.Join(dir, "crash-ready")
	deadline := time.Now().Add(5 * time.Minute)
	for {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("the child exited (%v) before its pod ran:\n%s", err, tailFile(out.Name(), 40))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			child.Process.Kill()
			t.Fatalf("the child's pod did not run in 5 minutes:\n%s", tailFile(out.Name(), 40))
		}
	}
	b, _ := os.ReadFile(ready)
	bridge, subnet, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	m := whileRunning(t, dir, bridge, subnet)
	child.Process.Signal(syscall.SIGKILL)
	<-exited
	if len(processesOf(dir)) == 0 {
		t.Fatal("no server outlived the killed child: nothing for Cleanup to find")
	}
	began := time.Now()
	if err := kube.Cleanup(ctx, dir, t.Logf); err != nil {
		t.Fatal(err)
	}
	t.Logf("TIMING cleanup after a crash: %s", time.Since(began).Round(time.Millisecond))
	m.nothingLeft(t, before)
	if err := kube.Cleanup(ctx, dir, t.Logf); err != nil {
		t.Errorf("a second Cleanup: %v", err)
	}
}

// crashChild starts a cluster in dir, runs the pod, says so in
// dir/crash-ready (the bridge and the subnet) and waits to be killed.
func crashChild(t *testing.T, dir string) {
	ctx := context.Background()
	bins, err := kube.Binaries(ctx, testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	c, err := kube.Start(ctx, dir, kube.Options{Binaries: bins, Log: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	runHTTPPod(t, c)
	if err := os.WriteFile(filepath.Join(dir, "crash-ready"), []byte(c.Bridge+" "+c.Subnet.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Minute)
	t.Fatal("not killed")
}

func skipUnlessKube(t *testing.T) {
	if os.Getenv("LAB_KUBE") != "1" {
		t.Skip("a real one-node Kubernetes cluster: run it with LAB_KUBE=1 go test -run 'TestOneNodeCluster|TestCleanupAfterCrash' -timeout 30m ./internal/kube/ " +
			"(root, Docker, containerd, runc and Debian's containernetworking-plugins; the first run builds Kubernetes, 9 to 14 minutes on 2 cores)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("LAB_KUBE=1 needs root")
	}
}

// runHTTPPod builds the test's image, imports it, runs it as the pod
// "http" and waits until it is Running and serving over HTTP from the
// host; it returns the pod's IP.
func runHTTPPod(t *testing.T, c *kube.Cluster) string {
	ctx := context.Background()
	tag, err := kube.Program{Name: "kube-http", Main: httpMain}.Image(ctx, testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ImportImage(ctx, tag); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "http", Labels: map[string]string{"app": "lab-kube-http"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:            "http",
				Image:           tag,
				ImagePullPolicy: corev1.PullNever,
				Ports:           []corev1.ContainerPort{{ContainerPort: 8080}},
			}},
			TerminationGracePeriodSeconds: new(int64(1)),
		},
	}
	began := time.Now()
	if _, err := c.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var ip string
	deadline := time.Now().Add(2 * time.Minute)
	for {
		p, err := c.Client.CoreV1().Pods("default").Get(ctx, "http", metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
			ip = p.Status.PodIP
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod not Running after 2 minutes: %v, %+v\nkubelet log:\n%s", err, p.Status, tailFile(filepath.Join(c.Dir, "logs", "kubelet.log"), 30))
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Logf("TIMING pod created to Running: %s (pod IP %s)", time.Since(began).Round(time.Millisecond), ip)

	// The pod serves, reached from the host through the bridge.
	client := &http.Client{Timeout: 2 * time.Second}
	var body string
	for i := 0; ; i++ {
		resp, err := client.Get("http://" + ip + ":8080/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			if resp.StatusCode == 200 {
				break
			}
		}
		if i == 100 {
			t.Fatalf("pod at %s not serving: %v %q", ip, err, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("TIMING pod created to serving: %s", time.Since(began).Round(time.Millisecond))
	if body != "lab-kube-http http\n" {
		t.Errorf("pod answered %q", body)
	}
	return ip
}

// made is what a running cluster made, to check after it is gone.
type made struct {
	dir, bridge, subnet string
	veths, shimSockets  []string
}

// whileRunning notes what the cluster in dir made while a pod runs.
func whileRunning(t *testing.T, dir, bridge, subnet string) made {
	m := made{dir: dir, bridge: bridge, subnet: subnet}
	m.veths = linksOn(t, bridge)
	if len(m.veths) == 0 {
		t.Errorf("no veth on the bridge %s while a pod runs", bridge)
	}
	shims, _ := filepath.Glob(filepath.Join(dir, "containerd", "state", "io.containerd.runtime.v2.task", "*", "*", "address"))
	for _, f := range shims {
		b, _ := os.ReadFile(f)
		m.shimSockets = append(m.shimSockets, strings.TrimPrefix(strings.TrimSpace(string(b)), "unix://"))
	}
	if len(m.shimSockets) == 0 {
		t.Error("no shim of the cluster found while a pod runs")
	}
	mounts, _ := kube.MountsUnder(dir)
	t.Logf("while running: bridge %s, veths %v, %d shims, %d mounts under the directory", bridge, m.veths, len(m.shimSockets), len(mounts))
	return m
}

// nothingLeft checks that nothing the cluster made is left: processes,
// mounts, links, shim sockets, cgroups, kernel settings, firewall rules,
// host directories.
func (m made) nothingLeft(t *testing.T, before host) {
	t.Helper()
	if pids := processesOf(m.dir); len(pids) > 0 {
		t.Errorf("processes of the cluster left: %v", pids)
	}
	if left, _ := kube.MountsUnder(m.dir); len(left) > 0 {
		t.Errorf("mounts left under %s: %v", m.dir, left)
	}
	if _, err := netlink.LinkByName(m.bridge); err == nil {
		t.Errorf("bridge %s left", m.bridge)
	}
	for _, v := range m.veths {
		if _, err := netlink.LinkByName(v); err == nil {
			t.Errorf("veth %s left", v)
		}
	}
	for _, s := range m.shimSockets {
		if _, err := os.Stat(s); err == nil {
			t.Errorf("shim socket %s left", s)
		}
	}
	if left, _ := filepath.Glob("/sys/fs/cgroup/*/lab-kube-*"); len(left) > 0 {
		t.Errorf("cgroups left: %v", left)
	}
	after := hostState(t)
	for k, v := range before.sysctls {
		if after.sysctls[k] != v {
			t.Errorf("kernel setting %s is %s, was %s", k, after.sysctls[k], v)
		}
	}
	for _, rule := range after.rules {
		if strings.Contains(rule, m.bridge) || strings.Contains(rule, m.subnet) ||
			((strings.Contains(rule, "KUBE-") || strings.Contains(rule, "CNI-")) && !before.has(rule)) {
			t.Errorf("firewall rule left: %s", rule)
		}
	}
	for _, d := range hostDirs {
		if _, err := os.Stat(d); err == nil && !before.dirs[d] {
			t.Errorf("%s made and left", d)
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// hostDirs are the host's directories that a cluster's servers make.
var hostDirs = []string{"/var/log/containers", "/var/lib/kubelet", "/var/lib/cni", "/run/containerd/runc"}

// host is what the test compares before and after a cluster.
type host struct {
	sysctls map[string]string
	rules   []string
	dirs    map[string]bool
}

func (h host) has(rule string) bool {
	for _, r := range h.rules {
		if r == rule {
			return true
		}
	}
	return false
}

func hostState(t *testing.T) host {
	h := host{sysctls: map[string]string{}, dirs: map[string]bool{}}
	for _, p := range []string{"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops", "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes", "net/ipv4/ip_forward"} {
		b, err := os.ReadFile("/proc/sys/" + p)
		if err != nil {
			t.Fatal(err)
		}
		h.sysctls[p] = strings.TrimSpace(string(b))
	}
	// iptables-save without counters, and the nftables rule set: the
	// rules as lines (other work on the machine adds and removes its own
	// meanwhile, so the test looks for the cluster's names only).
	for _, cmd := range [][]string{{"iptables-save"}, {"ip6tables-save"}, {"iptables-legacy-save"}, {"ip6tables-legacy-save"}, {"nft", "list", "ruleset"}} {
		out, err := exec.Command(cmd[0], cmd[1:]...).Output()
		if err != nil {
			t.Logf("%s: %v (not checked)", strings.Join(cmd, " "), err)
			continue
		}
		for _, line := range strings.Split(string(out), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				h.rules = append(h.rules, line)
			}
		}
	}
	for _, d := range hostDirs {
		_, err := os.Stat(d)
		h.dirs[d] = err == nil
	}
	return h
}

// linksOn names the links whose master is the bridge.
func linksOn(t *testing.T, bridge string) []string {
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		t.Errorf("bridge %s: %v", bridge, err)
		return nil
	}
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index {
			out = append(out, l.Attrs().Name)
		}
	}
	return out
}

// processesOf lists the processes labelled with the cluster's directory,
// or whose command line names it.
func processesOf(dir string) []string {
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if strings.Contains(string(env), kube.LabelEnv+"="+dir+"\x00") || strings.Contains(string(cmdline), dir) {
			out = append(out, fmt.Sprintf("%d %s", pid, strings.ReplaceAll(string(cmdline), "\x00", " ")))
		}
	}
	return out
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
