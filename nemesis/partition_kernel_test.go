package nemesis

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/lab-chaos/lab/internal/labtest"
)

// netnsHosts is two hosts of the test's own: named network namespaces joined
// by a veth pair, each with a sleeping process whose PID stands for the
// node's, as a container's would.
type netnsHosts struct {
	names []string
	addrs map[string]netip.Addr
	pids  map[string]int
	ns    map[string]netns.NsHandle
}

func (h *netnsHosts) Names() []string                              { return h.names }
func (h *netnsHosts) Addr(n string) (netip.Addr, bool)             { a, ok := h.addrs[n]; return a, ok }
func (h *netnsHosts) Pid(_ context.Context, n string) (int, error) { return h.pids[n], nil }

func sh(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%v: %v: %s", args, err, out)
	}
}

func newHosts(t testing.TB) *netnsHosts {
	labtest.Root(t)
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip")
	}
	suffix := fmt.Sprintf("%d", os.Getpid()%100000)
	h := &netnsHosts{names: []string{"a", "b"}, addrs: map[string]netip.Addr{}, pids: map[string]int{}, ns: map[string]netns.NsHandle{}}
	nsName := map[string]string{"a": "labtest-a" + suffix, "b": "labtest-b" + suffix}
	for _, n := range h.names {
		sh(t, "ip", "netns", "add", nsName[n])
		name := nsName[n]
		t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	}
	va, vb := "lta"+suffix, "ltb"+suffix
	sh(t, "ip", "link", "add", va, "type", "veth", "peer", "name", vb)
	sh(t, "ip", "link", "set", va, "netns", nsName["a"])
	sh(t, "ip", "link", "set", vb, "netns", nsName["b"])
	for n, link := range map[string]string{"a": va, "b": vb} {
		addr := map[string]string{"a": "10.250.77.1", "b": "10.250.77.2"}[n]
		h.addrs[n] = netip.MustParseAddr(addr)
		sh(t, "ip", "-n", nsName[n], "addr", "add", addr+"/24", "dev", link)
		sh(t, "ip", "-n", nsName[n], "link", "set", link, "up")
		sh(t, "ip", "-n", nsName[n], "link", "set", "lo", "up")
		cmd := exec.Command("ip", "netns", "exec", nsName[n], "sleep", "300")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		h.pids[n] = cmd.Process.Pid
		ns, err := netns.GetFromName(nsName[n])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ns.Close() })
		h.ns[n] = ns
	}
	// ip netns exec execs sleep, so the PID is in the namespace once it
	// has switched: wait for that.
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
				t.Fatalf("process of %s never entered its namespace", n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return h
}

// inNS runs f on a thread inside ns; sockets made there stay in ns.
func inNS(t *testing.T, ns netns.NsHandle, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		// The thread is left locked, so it dies with the goroutine instead
		// of going back to the pool in the wrong namespace.
		if err := netns.Set(ns); err != nil {
			t.Errorf("setns: %v", err)
			return
		}
		f()
	}()
	<-done
}

func TestPartitionDropsNewAndEstablishedTraffic(t *testing.T) {
	h := newHosts(t)
	var ln net.Listener
	inNS(t, h.ns["b"], func() {
		var err error
		ln, err = net.Listen("tcp", "10.250.77.2:7000")
		if err != nil {
			t.Fatal(err)
		}
	})
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go io.Copy(c, c) // echo
		}
	}()
	dial := func() (net.Conn, error) {
		var c net.Conn
		var err error
		inNS(t, h.ns["a"], func() {
			c, err = net.DialTimeout("tcp", "10.250.77.2:7000", 500*time.Millisecond)
		})
		return c, err
	}
	echo := func(c net.Conn) error {
		c.SetDeadline(time.Now().Add(500 * time.Millisecond))
		if _, err := c.Write([]byte("x")); err != nil {
			return err
		}
		_, err := io.ReadFull(c, make([]byte, 1))
		return err
	}
	established, err := dial()
	if err != nil {
		t.Fatalf("before the cut: %v", err)
	}
	defer established.Close()
	if err := echo(established); err != nil {
		t.Fatalf("echo before the cut: %v", err)
	}

	p := NewPartitioner(h)
	ctx := context.Background()
	if err := p.Cut(ctx, 7, CutBetween([][]string{{"a"}, {"b"}})); err != nil {
		t.Fatal(err)
	}
	defer p.HealAll(ctx)
	if c, err := dial(); err == nil {
		c.Close()
		t.Fatal("a new connection went through the cut")
	}
	if err := echo(established); err == nil {
		t.Fatal("an established connection went through the cut")
	}
	if got := p.Active(); len(got) != 1 || got[0] != 7 {
		t.Fatalf("Active() = %v, want [7]", got)
	}

	if err := p.Heal(ctx, 7); err != nil {
		t.Fatal(err)
	}
	c, err := dial()
	if err != nil {
		t.Fatalf("after the heal: %v", err)
	}
	c.Close()
	// Healing twice is harmless: the fault is no longer in effect.
	if err := p.Heal(ctx, 7); err != nil {
		t.Errorf("second heal: %v", err)
	}
}

// withGateway lets host a stand for the lab's clients.
type withGateway struct{ *netnsHosts }

func (w withGateway) Gateway() netip.Addr { return w.addrs["a"] }

// TestPartitionCutsClientsOnlyWhenAsked: a cut that names no clients leaves
// the clients' traffic alone; one that names b cuts b off from them.
func TestPartitionCutsClientsOnlyWhenAsked(t *testing.T) {
	h := newHosts(t)
	var ln net.Listener
	inNS(t, h.ns["b"], func() {
		var err error
		if ln, err = net.Listen("tcp", "10.250.77.2:7001"); err != nil {
			t.Fatal(err)
		}
	})
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	dial := func() error {
		var err error
		inNS(t, h.ns["a"], func() {
			var c net.Conn
			if c, err = net.DialTimeout("tcp", "10.250.77.2:7001", 500*time.Millisecond); err == nil {
				c.Close()
			}
		})
		return err
	}
	ctx := context.Background()
	p := NewPartitioner(withGateway{h})
	defer p.HealAll(ctx)
	// A partition between b and nobody in particular, clients not named.
	if err := p.Cut(ctx, 1, Cut{Drops: map[string][]string{}}); err != nil {
		t.Fatal(err)
	}
	if err := dial(); err != nil {
		t.Fatalf("clients were cut though the scenario did not ask: %v", err)
	}
	p.Heal(ctx, 1)
	if err := p.Cut(ctx, 2, Cut{Clients: []string{"b"}}); err != nil {
		t.Fatal(err)
	}
	if err := dial(); err == nil {
		t.Fatal("clients still reach b after a cut that names it")
	}
	if err := p.Heal(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := dial(); err != nil {
		t.Fatalf("after the heal: %v", err)
	}
	// Without a known gateway, asking to cut clients is an error, and
	// nothing is applied.
	if err := NewPartitioner(h).Cut(ctx, 3, Cut{Clients: []string{"b"}}); err == nil {
		t.Error("a client cut without a gateway was accepted")
	}
}
