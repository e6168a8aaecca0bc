package nemesis

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// inNS runs f on a thread inside ns; sockets made there stay in ns.
func inNS(t *testing.T, ns netns.NsHandle, f func()) {
	t.Helper()
	if err := inNetNS(ns, func() error { f(); return nil }); err != nil {
		t.Fatalf("setns: %v", err)
	}
}

func TestPartitionDropsNewAndEstablishedTraffic(t *testing.T) {
	h := newTestHosts(t)
	var ln net.Listener
	inNS(t, h.ns["b"], func() {
		var err error
		ln, err = net.Listen("tcp", "10.250.78.2:7000")
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
			c, err = net.DialTimeout("tcp", "10.250.78.2:7000", 500*time.Millisecond)
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
type withGateway struct{ *testHosts }

func (w withGateway) Gateway() netip.Addr { return w.addrs["a"] }

// TestPartitionCutsClientsOnlyWhenAsked: a cut that names no clients leaves
// the clients' traffic alone; one that names b cuts b off from them.
func TestPartitionCutsClientsOnlyWhenAsked(t *testing.T) {
	h := newTestHosts(t)
	var ln net.Listener
	inNS(t, h.ns["b"], func() {
		var err error
		if ln, err = net.Listen("tcp", "10.250.78.2:7001"); err != nil {
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
			if c, err = net.DialTimeout("tcp", "10.250.78.2:7001", 500*time.Millisecond); err == nil {
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
