package nemesis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netns"

	"github.com/lab-chaos/lab/internal/probe"
)

// PacketFault is what happens to the packets a node sends to its peers.
// Probabilities are fractions from 0 to 1. A zero field asks for nothing.
type PacketFault struct {
	// Delay is added to every packet; Jitter spreads it uniformly over
	// Delay-Jitter .. Delay+Jitter.
	Delay, Jitter time.Duration
	// Loss drops, Duplicate sends twice, Corrupt flips a bit in, and
	// Reorder sends at once (ahead of the delayed ones), that fraction of
	// packets. Reorder needs a Delay, as in netem.
	Loss, Duplicate, Reorder, Corrupt float64
	// Rate caps the node's sending rate to its peers, in tc's units:
	// "1mbit", "500kbit", "10mbps" (bytes), "1gbit".
	Rate string
	// Peers are the nodes whose traffic from this node is affected; empty
	// means every other node. The lab's clients are never affected.
	Peers []string
}

func (f PacketFault) String() string {
	var parts []string
	if f.Delay > 0 {
		s := "delay " + f.Delay.String()
		if f.Jitter > 0 {
			s += "±" + f.Jitter.String()
		}
		parts = append(parts, s)
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"loss", f.Loss}, {"duplicate", f.Duplicate}, {"reorder", f.Reorder}, {"corrupt", f.Corrupt}} {
		if p.v > 0 {
			parts = append(parts, fmt.Sprintf("%s %g%%", p.name, p.v*100))
		}
	}
	if f.Rate != "" {
		parts = append(parts, "rate "+f.Rate)
	}
	if len(f.Peers) > 0 {
		parts = append(parts, "to "+strings.Join(f.Peers, " "))
	}
	return strings.Join(parts, ", ")
}

// check says what is wrong with f, before anything is applied.
func (f PacketFault) check() error {
	if f.Delay < 0 || f.Jitter < 0 {
		return errors.New("delay and jitter must not be negative")
	}
	if f.Jitter > 0 && f.Delay == 0 {
		return errors.New("jitter needs a delay")
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"loss", f.Loss}, {"duplicate", f.Duplicate}, {"reorder", f.Reorder}, {"corrupt", f.Corrupt}} {
		if p.v < 0 || p.v > 1 {
			return fmt.Errorf("%s %g is not a fraction from 0 to 1", p.name, p.v)
		}
	}
	if f.Reorder > 0 && f.Delay == 0 {
		return errors.New("reorder needs a delay: reordered packets are the ones sent without it")
	}
	if f.Rate != "" {
		if _, err := parseRate(f.Rate); err != nil {
			return err
		}
	}
	if f.Delay == 0 && f.Loss == 0 && f.Duplicate == 0 && f.Corrupt == 0 && f.Rate == "" {
		return errors.New("an empty packet fault: set a delay, loss, duplicate, corrupt or rate")
	}
	return nil
}

// Mechanisms, as Inject names them.
const (
	MechNetem   = "netem"         // netem qdisc under an htb class, per peer
	MechLoss    = "nftables-loss" // nftables numgen random drop
	MechDelay   = "nfqueue-delay" // NFQUEUE to the lab, released later
	MechRateHTB = "htb-rate"      // htb class rate, per peer
)

// Attribute keys of the packet faults' log lines.
const (
	logFault     = "fault"
	logNode      = "node"
	logMechanism = "mechanism"
	logSpec      = "spec"
)

// Packets injects packet faults ([PacketFault]) on nodes and heals them. It
// picks netem where the kernel has it, and otherwise puts together what the
// kernel has: random loss in nftables ([MechLoss]), delay in the lab through
// NFQUEUE ([MechDelay]), rate through htb ([MechRateHTB]). Everything lives
// in the node's own network namespace and applies to what the node sends to
// its peers, never to the lab's clients.
type Packets struct {
	// Seed seeds the jitter and reorder choices of NFQUEUE delays, one
	// stream per fault (the kernel's own randomness, in netem and numgen,
	// is not seeded).
	Seed uint64

	nodes Nodes
	log   *slog.Logger
	// haveNetem answers whether to use netem; the probe by default.
	haveNetem func() bool
	// features are the probes of the other mechanisms, made once.
	features func() map[string]probe.Check

	mu     sync.Mutex
	active map[int]*packetFault
}

// packetFault is one fault in effect: what was applied, in order. mu is
// held while the fault is injected and while it is healed.
type packetFault struct {
	mu    sync.Mutex
	node  string
	ns    netns.NsHandle
	parts []applied
}

// applied is one part of a fault in effect; heal undoes exactly it.
type applied interface {
	heal() error
}

// NewPackets returns a packet fault injector over nodes.
func NewPackets(nodes Nodes, log *slog.Logger) *Packets {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Packets{
		nodes:     nodes,
		log:       log,
		haveNetem: probeNetem,
		features: sync.OnceValue(func() map[string]probe.Check {
			m := map[string]probe.Check{}
			for _, c := range []probe.Check{probe.Numgen(), probe.NFQueueTarget(), probe.NFQueue(), probe.HTB()} {
				m[c.Name] = c
			}
			return m
		}),
		active: map[int]*packetFault{},
	}
}

// Name is "packets".
func (*Packets) Name() string { return "packets" }

func packetTable(id int) string { return fmt.Sprintf("lab-f%d", id) }

// Inject applies f to what node sends to its peers, as fault id, and says
// which mechanism it used. Without netem, a part no other mechanism offers
// (duplicate, corrupt) is an error that says what is missing and what
// works. On any error, whatever was applied is healed first: nothing is
// half-applied.
func (p *Packets) Inject(ctx context.Context, id int, node string, f PacketFault) (mechanism string, err error) {
	if err := f.check(); err != nil {
		return "", fmt.Errorf("packet fault on %s: %w", node, err)
	}
	useNetem := p.haveNetem()
	if err := p.unsupported(f, useNetem); err != nil {
		return "", fmt.Errorf("packet fault on %s: %w", node, err)
	}
	peers, err := p.peerAddrs(node, f.Peers)
	if err != nil {
		return "", fmt.Errorf("packet fault on %s: %w", node, err)
	}

	p.mu.Lock()
	if _, ok := p.active[id]; ok {
		p.mu.Unlock()
		return "", fmt.Errorf("fault %d is already in effect", id)
	}
	// The fault's own lock is held until Inject returns: a Heal that comes
	// meanwhile (Ctrl-C) waits for it, then heals all that was applied.
	pf := &packetFault{node: node, ns: netns.None()}
	pf.mu.Lock()
	p.active[id] = pf
	p.mu.Unlock()
	defer func() {
		if err != nil {
			err = errors.Join(err, p.Heal(context.WithoutCancel(ctx), id))
		}
	}()
	defer pf.mu.Unlock() // before the heal above: deferred calls run last first

	pid, err := p.nodes.Pid(ctx, node)
	if err != nil {
		return "", fmt.Errorf("packet fault on %s: %w", node, err)
	}
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return "", fmt.Errorf("packet fault on %s: network namespace of pid %d: %w", node, pid, err)
	}
	pf.ns = ns
	add := func(a applied) { pf.parts = append(pf.parts, a) }

	var mechs []string
	if useNetem {
		if err := applyQdisc(ns, peers, f, true, add); err != nil {
			return "", fmt.Errorf("packet fault on %s: netem: %w", node, err)
		}
		mechs = append(mechs, MechNetem)
	} else {
		// The queue is read before a rule sends packets to it.
		var queue *nfqDelay
		if f.Delay > 0 {
			queue, err = startDelay(ns, uint16(id), f.Delay, f.Jitter, f.Reorder, p.Seed, uint64(id), p.log.With(logFault, id, logNode, node))
			if err != nil {
				return "", fmt.Errorf("packet fault on %s: NFQUEUE delay: %w", node, err)
			}
			add(queue)
		}
		if f.Loss > 0 || queue != nil {
			t := &packetRules{ns: ns, name: packetTable(id), peers: peers, loss: f.Loss, withLoss: f.Loss > 0}
			t.queue = queue
			add(t)
			if err := t.write(); err != nil {
				return "", fmt.Errorf("packet fault on %s: nftables: %w", node, err)
			}
			if t.withLoss {
				mechs = append(mechs, MechLoss)
			}
			if queue != nil {
				mechs = append(mechs, MechDelay)
			}
		}
		if f.Rate != "" {
			if err := applyQdisc(ns, peers, f, false, add); err != nil {
				return "", fmt.Errorf("packet fault on %s: htb rate: %w", node, err)
			}
			mechs = append(mechs, MechRateHTB)
		}
	}
	mechanism = strings.Join(mechs, "+")
	p.log.Info("packet fault in effect", logFault, id, logNode, node, logMechanism, mechanism, logSpec, f.String())
	return mechanism, nil
}

// unsupported says plainly which parts of f this kernel cannot do, and
// what it can.
func (p *Packets) unsupported(f PacketFault, useNetem bool) error {
	var missing []string
	if useNetem {
		// netem sits under an htb class, per peer.
		if c := p.features()["htb"]; !c.OK {
			missing = append(missing, "netem per peer needs htb ("+c.Detail+")")
		}
	} else {
		if f.Duplicate > 0 {
			missing = append(missing, "duplicate needs netem, and this kernel has no sch_netem")
		}
		if f.Corrupt > 0 {
			missing = append(missing, "corrupt needs netem, and this kernel has no sch_netem")
		}
		need := func(part string, checks ...string) {
			for _, name := range checks {
				if c := p.features()[name]; !c.OK {
					missing = append(missing, fmt.Sprintf("%s without netem needs %s (%s)", part, name, c.Detail))
					return
				}
			}
		}
		if f.Loss > 0 {
			need("loss", "numgen")
		}
		if f.Delay > 0 {
			need("delay", "nfqueue-target", "nfnetlink-queue")
		}
		if f.Rate != "" {
			need("rate", "htb")
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%s; %s", strings.Join(missing, "; "), p.works())
}

// works lists the packet faults this kernel can do.
func (p *Packets) works() string {
	if p.haveNetem() {
		return "what works here: everything, through netem"
	}
	var ok []string
	f := p.features()
	if f["numgen"].OK {
		ok = append(ok, "loss (nftables)")
	}
	if f["nfqueue-target"].OK && f["nfnetlink-queue"].OK {
		ok = append(ok, "delay, jitter and reorder (NFQUEUE)")
	}
	if f["htb"].OK {
		ok = append(ok, "rate (htb)")
	}
	if len(ok) == 0 {
		return "no packet fault works here"
	}
	return "what works here: " + strings.Join(ok, ", ")
}

// peerAddrs resolves the peers (every other node when none are named).
func (p *Packets) peerAddrs(node string, names []string) ([]netip.Addr, error) {
	if !slices.Contains(p.nodes.Names(), node) {
		return nil, fmt.Errorf("no node %q", node)
	}
	if len(names) == 0 {
		for _, n := range p.nodes.Names() {
			if n != node {
				names = append(names, n)
			}
		}
	}
	var out []netip.Addr
	for _, n := range names {
		if n == node {
			return nil, fmt.Errorf("%s cannot be its own peer", node)
		}
		a, ok := p.nodes.Addr(n)
		if !ok {
			return nil, fmt.Errorf("no node %q", n)
		}
		if !a.Is4() {
			return nil, fmt.Errorf("peer %s: %v is not IPv4", n, a)
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, errors.New("no peers")
	}
	return out, nil
}

// Heal undoes fault id, part by part in the reverse order of injection.
// Healing a fault that is not in effect does nothing.
func (p *Packets) Heal(ctx context.Context, id int) error {
	p.mu.Lock()
	pf := p.active[id]
	delete(p.active, id)
	p.mu.Unlock()
	if pf == nil {
		return nil
	}
	pf.mu.Lock()
	defer pf.mu.Unlock()
	var errs []error
	for i := len(pf.parts) - 1; i >= 0; i-- {
		if err := pf.parts[i].heal(); err != nil {
			errs = append(errs, fmt.Errorf("heal packet fault %d on %s: %w", id, pf.node, err))
		}
	}
	if pf.ns.IsOpen() {
		pf.ns.Close()
	}
	p.log.Info("packet fault healed", logFault, id, logNode, pf.node)
	return errors.Join(errs...)
}

// Active lists the packet faults in effect.
func (p *Packets) Active() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return faultIDs(p.active)
}

// HealAll heals every packet fault in effect.
func (p *Packets) HealAll(ctx context.Context) error {
	return healEach(ctx, p.Active(), p.Heal)
}

// probeNetem asks the kernel whether it has sch_netem.
func probeNetem() bool { return probe.Netem().OK }
