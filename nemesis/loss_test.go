package nemesis

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// TestLossDropsItsShare sends 100 UDP datagrams from a to b under each loss
// rate. The rate 0 rule is written as such (the public Inject refuses an
// empty fault), so the test sees that a rule with a zero threshold drops
// nothing.
func TestLossDropsItsShare(t *testing.T) {
	h := newTestHosts(t)
	u := newUDPPair(t, h, 7201)
	ctx := context.Background()
	if got := u.through(t, 100, 200*time.Millisecond); got != 100 {
		t.Fatalf("%d of 100 arrived before any fault, want 100", got)
	}
	tests := []struct {
		loss     float64
		min, max int // datagrams arriving, of 100
	}{
		{0, 100, 100},
		{0.5, 30, 70},
		{1, 0, 0},
	}
	for i, tt := range tests {
		p := NewPackets(h, nil)
		p.haveNetem = func() bool { return false }
		id := 10 + i
		if tt.loss == 0 {
			r := &packetRules{ns: h.ns["a"], name: packetTable(id), peers: []netip.Addr{h.addrs["b"]}, loss: 0, withLoss: true}
			if err := r.write(); err != nil {
				t.Fatal(err)
			}
			got := u.through(t, 100, 200*time.Millisecond)
			if err := r.heal(); err != nil {
				t.Fatal(err)
			}
			if got < tt.min || got > tt.max {
				t.Errorf("loss 0: %d of 100 arrived, want %d..%d", got, tt.min, tt.max)
			}
			continue
		}
		m, err := p.Inject(ctx, id, "a", PacketFault{Loss: tt.loss, Peers: []string{"b"}})
		if err != nil {
			t.Fatal(err)
		}
		if m != MechLoss {
			t.Errorf("mechanism %q, want %q", m, MechLoss)
		}
		got := u.through(t, 100, 200*time.Millisecond)
		if err := p.Heal(ctx, id); err != nil {
			t.Fatal(err)
		}
		if got < tt.min || got > tt.max {
			t.Errorf("loss %g: %d of 100 arrived, want %d..%d", tt.loss, got, tt.min, tt.max)
		}
		if ts := tables(t, h.ns["a"]); len(ts) != 0 {
			t.Errorf("tables after heal: %v, want none", ts)
		}
	}
	if got := u.through(t, 100, 200*time.Millisecond); got != 100 {
		t.Errorf("%d of 100 arrived after the heals, want 100", got)
	}
}

// TestLossSparesOtherTraffic: loss to b does not touch what a sends to
// anyone else (the lab's clients are elsewhere): here, itself over lo.
func TestLossSparesOtherTraffic(t *testing.T) {
	h := newTestHosts(t)
	p := NewPackets(h, nil)
	p.haveNetem = func() bool { return false }
	ctx := context.Background()
	if _, err := p.Inject(ctx, 20, "a", PacketFault{Loss: 1}); err != nil {
		t.Fatal(err)
	}
	defer p.HealAll(ctx)
	local := &testHosts{ns: map[string]netns.NsHandle{"a": h.ns["a"], "b": h.ns["a"]},
		addrs: map[string]netip.Addr{"b": netip.MustParseAddr("127.0.0.1")}}
	if got := newUDPPair(t, local, 7202).through(t, 20, 200*time.Millisecond); got != 20 {
		t.Errorf("%d of 20 arrived on lo during a loss to b, want 20", got)
	}
}
