package nemesis

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// echoB answers every datagram b receives, from a goroutine that ends with
// the test.
func echoB(t *testing.T, u *udpPair) {
	go func() {
		buf := make([]byte, 2048)
		for {
			u.recv.SetReadDeadline(time.Time{})
			k, from, err := u.recv.ReadFromUDP(buf)
			if err != nil {
				return
			}
			u.recv.WriteToUDP(buf[:k], from)
		}
	}()
}

// rtts measures n round trips a -> b -> a, one at a time.
func rtts(t *testing.T, u *udpPair, n int, timeout time.Duration) []time.Duration {
	t.Helper()
	var out []time.Duration
	buf := make([]byte, 64)
	for i := 0; i < n; i++ {
		msg := []byte{byte(i), 'p'}
		start := time.Now()
		if _, err := u.send.Write(msg); err != nil {
			t.Fatal(err)
		}
		for {
			u.send.SetReadDeadline(start.Add(timeout))
			k, err := u.send.Read(buf)
			if err != nil {
				t.Fatalf("round trip %d: %v", i, err)
			}
			if k == 2 && buf[0] == byte(i) {
				break
			}
		}
		out = append(out, time.Since(start))
	}
	return out
}

func TestDelayAddsToRoundTrip(t *testing.T) {
	h := newTestHosts(t)
	u := newUDPPair(t, h, 7301)
	echoB(t, u)
	ctx := context.Background()
	for _, d := range rtts(t, u, 5, time.Second) {
		if d > 40*time.Millisecond {
			t.Fatalf("round trip %v before any fault, want under 40ms", d)
		}
	}
	p := NewPackets(h, nil)
	p.haveNetem = func() bool { return false }
	const delay, jitter = 100 * time.Millisecond, 20 * time.Millisecond
	m, err := p.Inject(ctx, 30, "a", PacketFault{Delay: delay, Jitter: jitter})
	if err != nil {
		t.Fatal(err)
	}
	defer p.HealAll(ctx)
	if m != MechDelay {
		t.Errorf("mechanism %q, want %q", m, MechDelay)
	}
	for i, d := range rtts(t, u, 10, 2*time.Second) {
		if d < delay-jitter {
			t.Errorf("round trip %d took %v under a delay of %v±%v, want at least %v", i, d, delay, jitter, delay-jitter)
		}
	}
	if err := p.Heal(ctx, 30); err != nil {
		t.Fatal(err)
	}
	for i, d := range rtts(t, u, 5, time.Second) {
		if d > 40*time.Millisecond {
			t.Errorf("round trip %d took %v after the heal, want under 40ms", i, d)
		}
	}
	if ts := tables(t, h.ns["a"]); len(ts) != 0 {
		t.Errorf("tables after heal: %v, want none", ts)
	}
}

// TestDelayHealReleasesHeldPackets: a datagram held for a long delay
// arrives as soon as the fault is healed, not after the delay, and not lost.
func TestDelayHealReleasesHeldPackets(t *testing.T) {
	h := newTestHosts(t)
	u := newUDPPair(t, h, 7302)
	ctx := context.Background()
	p := NewPackets(h, nil)
	p.haveNetem = func() bool { return false }
	if _, err := p.Inject(ctx, 31, "a", PacketFault{Delay: 10 * time.Second, Peers: []string{"b"}}); err != nil {
		t.Fatal(err)
	}
	defer p.HealAll(ctx)
	for i := 0; i < 5; i++ {
		if _, err := u.send.Write([]byte("held")); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 64)
	u.recv.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := u.recv.Read(buf); err == nil {
		t.Fatal("a datagram arrived during a 10s delay")
	}
	start := time.Now()
	if err := p.Heal(ctx, 31); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		u.recv.SetReadDeadline(time.Now().Add(time.Second))
		k, err := u.recv.Read(buf)
		if err != nil {
			t.Fatalf("datagram %d of 5 never arrived after the heal: %v", i, err)
		}
		if !strings.HasPrefix(string(buf[:k]), "held") {
			t.Fatalf("got %q", buf[:k])
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("held datagrams arrived %v after the heal, want at once", d)
	}
}

// TestDelayAndLossTogether: one table carries both, loss first.
func TestDelayAndLossTogether(t *testing.T) {
	h := newTestHosts(t)
	u := newUDPPair(t, h, 7303)
	ctx := context.Background()
	p := NewPackets(h, nil)
	p.haveNetem = func() bool { return false }
	m, err := p.Inject(ctx, 32, "a", PacketFault{Delay: 20 * time.Millisecond, Loss: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.HealAll(ctx)
	if want := MechLoss + "+" + MechDelay; m != want {
		t.Errorf("mechanism %q, want %q", m, want)
	}
	if got := u.through(t, 20, 200*time.Millisecond); got != 0 {
		t.Errorf("%d of 20 went through a loss of 100%%, want 0", got)
	}
}

// TestDelayOverloadFailsOpen: past the packets the lab may hold, packets
// pass at once and are counted, and nothing is lost.
func TestDelayOverloadFailsOpen(t *testing.T) {
	h := newTestHosts(t)
	u := newUDPPair(t, h, 7304)
	q, err := startDelay(h.ns["a"], 33, 10*time.Second, 0, 0, 1, 33, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	q.mu.Lock()
	q.limit = 5
	q.mu.Unlock()
	r := &packetRules{ns: h.ns["a"], name: packetTable(33), peers: []netip.Addr{h.addrs["b"]}, queue: q}
	defer func() {
		r.heal()
		q.heal()
	}()
	if err := r.write(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if _, err := u.send.Write([]byte("burst")); err != nil {
			t.Fatal(err)
		}
	}
	// Wait for the lab to have seen them all (the machine may be busy),
	// then count what reached b.
	deadline := time.Now().Add(5 * time.Second)
	for q.overflow.Load() < 15 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := q.overflow.Load(); got != 15 {
		t.Errorf("overflow = %d, want 15", got)
	}
	got := 0
	buf := make([]byte, 64)
	for {
		u.recv.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if _, err := u.recv.Read(buf); err != nil {
			break
		}
		got++
	}
	if got != 15 {
		t.Errorf("%d of 20 passed at once with 5 held, want 15 (failed verdicts %d)", got, q.failed.Load())
	}
	if err := r.heal(); err != nil {
		t.Fatal(err)
	}
	if err := q.heal(); err != nil {
		t.Fatal(err)
	}
}
