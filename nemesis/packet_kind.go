package nemesis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/internal/seed"
	"github.com/lab-chaos/lab/scenarios"
)

// PacketKind delays, drops, duplicates, reorders, corrupts or throttles
// what the target nodes send to their peers ([Packets]).
type PacketKind struct{}

var _ Kind = PacketKind{}

// PacketParams are a packet fault's parameters: whom, and what happens to
// their packets.
type PacketParams struct {
	Target `yaml:",inline"`
	Packet PacketSpec `yaml:"packet"`
}

// PacketSpec is the packet field as a scenario writes it.
type PacketSpec struct {
	Delay     scenarios.Duration `yaml:"delay,omitempty"`
	Jitter    scenarios.Duration `yaml:"jitter,omitempty"`
	Loss      float64            `yaml:"loss,omitempty"`
	Duplicate float64            `yaml:"duplicate,omitempty"`
	Reorder   float64            `yaml:"reorder,omitempty"`
	Corrupt   float64            `yaml:"corrupt,omitempty"`
	Rate      string             `yaml:"rate,omitempty"`
}

// Fault is what the injector applies.
func (s PacketSpec) Fault() PacketFault {
	return PacketFault{
		Delay: time.Duration(s.Delay), Jitter: time.Duration(s.Jitter),
		Loss: s.Loss, Duplicate: s.Duplicate, Reorder: s.Reorder, Corrupt: s.Corrupt, Rate: s.Rate,
	}
}

func (p PacketParams) String() string { return p.Target.String() + ": " + p.Packet.Fault().String() }

// Name is "packet".
func (PacketKind) Name() string { return KindPacket }

// Keys: whom, and the packet mapping.
func (PacketKind) Keys() []string { return append([]string{"packet"}, targetKeys...) }

var packetKeys = []string{"delay", "jitter", "loss", "duplicate", "reorder", "corrupt", "rate"}

// Decode reads the target and the packet mapping, and checks the fault as
// the injector would (a rate it cannot parse, a reorder without a delay)
// so that a refusal comes when the scenario loads, not mid-run.
func (PacketKind) Decode(f fields) any {
	p := PacketParams{Target: decodeTarget(f)}
	if !f.Require("packet", "packet: {loss: 0.2}", "kind packet") {
		return p
	}
	ok := f.Sub("packet", packetKeys, func(g *scenarios.Fields) {
		s := &p.Packet
		s.Delay, _ = g.Duration("delay", 0, time.Minute)
		s.Jitter, _ = g.Duration("jitter", 0, time.Minute)
		s.Loss, _ = g.Fraction("loss")
		s.Duplicate, _ = g.Fraction("duplicate")
		s.Reorder, _ = g.Fraction("reorder")
		s.Corrupt, _ = g.Fraction("corrupt")
		if r, ok := g.String("rate"); ok {
			if _, err := parseRate(r); err != nil {
				g.Report("rate", `write a rate as tc does: "1mbit", "500kbit", "10mbps" (bytes)`, "%v", err)
			} else {
				s.Rate = r
			}
		}
		if g.Empty() {
			g.Report("", "set at least one of "+strings.Join(packetKeys, ", "), "a packet fault that does nothing")
			return
		}
		for _, k := range packetKeys {
			if !g.Valid(k) {
				return
			}
		}
		if err := s.Fault().check(); err != nil {
			g.Report("", "see docs/faults.md, packet faults", "%v", err)
		}
	})
	_ = ok
	return p
}

// Available: the rules live in each node's namespace (root, host
// processes), and each part needs a mechanism this kernel has.
func (PacketKind) Available(pw Powers, params any) error {
	if !pw.HostProcesses {
		return errors.New("packet faults need nodes that are processes on this host (runtime docker or local)")
	}
	if !pw.Root {
		return errors.New("packet faults are set up inside each node's network namespace, which needs root: run the lab with sudo")
	}
	p, _ := params.(PacketParams)
	if err := needsLeader(pw, p.Target); err != nil {
		return err
	}
	return NewPackets(nil, nil).unsupported(p.Packet.Fault(), probeNetem())
}

// Start returns the run's packet injector.
func (PacketKind) Start(env *Env) Injector {
	ps := NewPackets(env.Nodes, env.Log)
	ps.Seed = env.Seed
	return &packets{env: env, ps: ps}
}

type packets struct {
	env *Env
	ps  *Packets
}

func (p *packets) HealAll(ctx context.Context) error { return p.ps.HealAll(ctx) }

// Inject applies the fault to each victim, as a part of its own whose ID
// is also its delay stream ([seed.PacketDelay]).
func (p *packets) Inject(ctx context.Context, o Occurrence) (*history.Fault, func(context.Context) error, error) {
	params, ok := o.Params.(PacketParams)
	if !ok {
		return nil, nil, fmt.Errorf("packet: parameters are %T", o.Params)
	}
	victims, err := p.env.victims(ctx, params.Target)
	if err != nil {
		return nil, nil, err
	}
	spec := params.Packet.Fault()
	f := &history.Fault{ID: o.ID, Kind: KindPacket, Shape: targetName(params.Target.Target), Groups: [][]string{victims}}
	var mechs []string
	var done []int
	heal := func(ctx context.Context) error {
		var errs []error
		for _, id := range done {
			errs = append(errs, p.ps.Heal(ctx, id))
		}
		return errors.Join(errs...)
	}
	for i, v := range victims {
		id := int(seed.PacketDelay(o.ID, i))
		m, err := p.ps.Inject(ctx, id, v, spec)
		if err != nil {
			return f, nil, errors.Join(err, heal(context.WithoutCancel(ctx)))
		}
		done = append(done, id)
		mechs = append(mechs, v+" by "+m)
	}
	f.Detail = fmt.Sprintf("%s on what %s send to their peers (%s)", spec, strings.Join(victims, " "), strings.Join(mechs, "; "))
	return f, heal, nil
}
