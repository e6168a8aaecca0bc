package nemesis

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/lab-chaos/lab/internal/labtest"
)

// testHosts is two nodes of the test's own: named network namespaces
// joined by a veth pair, each with a sleeping process whose PID stands for
// the node's, as a container's would. Node a is 10.250.78.1, node b
// 10.250.78.2; the addresses exist only inside those namespaces.
type testHosts struct {
	names  []string
	addrs  map[string]netip.Addr
	pids   map[string]int
	ns     map[string]netns.NsHandle
	nsName map[string]string
	links  map[string]string
}

func (h *testHosts) Names() []string                              { return h.names }
func (h *testHosts) Addr(n string) (netip.Addr, bool)             { a, ok := h.addrs[n]; return a, ok }
func (h *testHosts) Pid(_ context.Context, n string) (int, error) { return h.pids[n], nil }

var testHostsSeq atomic.Int32

func run(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%v: %v: %s", args, err, out)
	}
	return string(out)
}

func newTestHosts(tb testing.TB) *testHosts {
	labtest.Root(tb)
	if _, err := exec.LookPath("ip"); err != nil {
		tb.Skip("needs iproute2's ip")
	}
	suffix := fmt.Sprintf("%d-%d", os.Getpid()%100000, testHostsSeq.Add(1))
	h := &testHosts{names: []string{"a", "b"}, addrs: map[string]netip.Addr{}, pids: map[string]int{},
		ns: map[string]netns.NsHandle{}, nsName: map[string]string{}, links: map[string]string{}}
	for _, n := range h.names {
		name := "labpkt-" + n + suffix
		h.nsName[n] = name
		run(tb, "ip", "netns", "add", name)
		tb.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	}
	short := strings.ReplaceAll(suffix, "-", "")
	h.links["a"], h.links["b"] = "lpa"+short, "lpb"+short
	run(tb, "ip", "link", "add", h.links["a"], "type", "veth", "peer", "name", h.links["b"])
	for _, n := range h.names {
		addr := map[string]string{"a": "10.250.78.1", "b": "10.250.78.2"}[n]
		h.addrs[n] = netip.MustParseAddr(addr)
		run(tb, "ip", "link", "set", h.links[n], "netns", h.nsName[n])
		run(tb, "ip", "-n", h.nsName[n], "addr", "add", addr+"/24", "dev", h.links[n])
		run(tb, "ip", "-n", h.nsName[n], "link", "set", h.links[n], "up")
		run(tb, "ip", "-n", h.nsName[n], "link", "set", "lo", "up")
		cmd := exec.Command("ip", "netns", "exec", h.nsName[n], "sleep", "600")
		if err := cmd.Start(); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		h.pids[n] = cmd.Process.Pid
		ns, err := netns.GetFromName(h.nsName[n])
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { ns.Close() })
		h.ns[n] = ns
	}
	for _, n := range h.names {
		deadline := time.Now().Add(5 * time.Second)
		for {
			ns, err := netns.GetFromPid(h.pids[n])
			if err == nil {
				same := ns.Equal(h.ns[n])
				ns.Close()
				if same {
					break
				}
			}
			if time.Now().After(deadline) {
				tb.Fatalf("process of %s never entered its namespace", n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return h
}

// inNetNS runs f on a locked thread inside ns, left locked so that it dies
// with its goroutine rather than serve others in the wrong namespace.
func inNetNS(ns netns.NsHandle, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := netns.Set(ns); err != nil {
			errc <- err
			return
		}
		errc <- f()
	}()
	return <-errc
}
