package nemesis

import (
	"context"
	"testing"
	"time"

	"github.com/lab-chaos/lab/internal/labtest"
	"github.com/lab-chaos/lab/internal/probe"
)

// TestNetemDelayAndHeal runs the netem path where the kernel has netem,
// and skips with the probe's own words where it does not (this lab's
// machine: its kernel is built without CONFIG_NET_SCH_NETEM). Nothing here
// pretends: no fake qdisc stands in for the kernel's.
func TestNetemDelayAndHeal(t *testing.T) {
	labtest.Root(t)
	if c := probe.Netem(); !c.OK {
		t.Skipf("netem path not run: %s", c.Detail)
	}
	h := newTestHosts(t)
	u := newUDPPair(t, h, 7401)
	echoB(t, u)
	ctx := context.Background()
	p := NewPackets(h, nil)
	const delay = 50 * time.Millisecond
	m, err := p.Inject(ctx, 40, "a", PacketFault{Delay: delay, Loss: 0, Duplicate: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	defer p.HealAll(ctx)
	if m != MechNetem {
		t.Errorf("mechanism %q, want %q", m, MechNetem)
	}
	for i, d := range rtts(t, u, 5, 2*time.Second) {
		if d < delay {
			t.Errorf("round trip %d took %v under netem delay %v", i, d, delay)
		}
	}
	if err := p.Heal(ctx, 40); err != nil {
		t.Fatal(err)
	}
	for i, d := range rtts(t, u, 5, time.Second) {
		if d > 40*time.Millisecond {
			t.Errorf("round trip %d took %v after the heal, want under 40ms", i, d)
		}
	}
}

// TestNetemLoss: all packets to b dropped by netem, none after the heal.
func TestNetemLoss(t *testing.T) {
	labtest.Root(t)
	if c := probe.Netem(); !c.OK {
		t.Skipf("netem path not run: %s", c.Detail)
	}
	h := newTestHosts(t)
	u := newUDPPair(t, h, 7402)
	ctx := context.Background()
	p := NewPackets(h, nil)
	if _, err := p.Inject(ctx, 41, "a", PacketFault{Loss: 1}); err != nil {
		t.Fatal(err)
	}
	defer p.HealAll(ctx)
	if got := u.through(t, 20, 200*time.Millisecond); got != 0 {
		t.Errorf("%d of 20 went through netem loss 100%%", got)
	}
	if err := p.Heal(ctx, 41); err != nil {
		t.Fatal(err)
	}
	if got := u.through(t, 20, 200*time.Millisecond); got != 20 {
		t.Errorf("%d of 20 after the heal, want 20", got)
	}
}
