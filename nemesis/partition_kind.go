package nemesis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/scenarios"
)

// fields is how a kind reads its part of a scenario.
type fields = *scenarios.Fields

// Partition modes.
const (
	// ModeSilent drops packets: peers see timeouts, as when a cable or a
	// switch port dies. The default: it is the harder case for a system,
	// and the one production networks produce most.
	ModeSilent = "silent"
	// ModeFastFail rejects packets: peers see connection refused or
	// unreachable at once, as when a host's firewall or routing says no.
	ModeFastFail = "fast-fail"
)

// Modes lists how a partition can fail.
var Modes = []string{ModeSilent, ModeFastFail}

// PartitionKind cuts the network between nodes: nftables rules in each
// node's own network namespace ([Partitioner]).
type PartitionKind struct{}

var _ Kind = PartitionKind{}

// Partition is a partition fault's parameters.
type Partition struct {
	// Shape is one of [Shapes].
	Shape string `yaml:"shape"`
	// Mode is one of [Modes]; default silent.
	Mode string `yaml:"mode"`
	// Node is the node to isolate (shape isolate); empty for one drawn
	// from the seed.
	Node string `yaml:"node,omitempty"`
	// Groups are the sides of shape groups.
	Groups [][]string `yaml:"groups,omitempty"`
	// From and To are the nodes of shape one-way: To drops what From
	// sends.
	From []string `yaml:"from,omitempty"`
	To   []string `yaml:"to,omitempty"`
	// Clients are nodes that the partition also cuts off from the lab's
	// own clients (never done unless a scenario asks).
	Clients []string `yaml:"clients,omitempty"`
}

func (p Partition) String() string {
	s := p.Shape
	if p.Node != "" {
		s += " " + p.Node
	}
	return s
}

// Name is "partition".
func (PartitionKind) Name() string { return KindPartition }

// Keys are the partition's fields.
func (PartitionKind) Keys() []string {
	return []string{"shape", "mode", "node", "groups", "from", "to", "clients"}
}

// Overlaps: each partition is a table of its own (lab-f<id>) in every
// namespace it touches, healed by deleting that table, so partitions in
// effect together add up (a link is cut while any of them cuts it), and
// none acts on what another fault acts on.
func (PartitionKind) Overlaps(any, string, any) error { return nil }

// DisruptsLeader: a partition moves leadership.
func (PartitionKind) DisruptsLeader() bool { return true }

// Decode reads and checks a partition: a shape, and the nodes the shape
// takes, each of which must exist.
func (PartitionKind) Decode(f fields) any {
	p := Partition{Mode: ModeSilent}
	if v, ok := f.Enum("mode", Modes); ok {
		p.Mode = v
	}
	p.Clients, _ = f.NodeList("clients")
	if !f.Require("shape", "shape: majority-minority", "kind partition") {
		return p
	}
	shape, ok := f.Enum("shape", Shapes)
	if !ok {
		return p
	}
	p.Shape = shape
	only := func(key, owner string) {
		if shape != owner {
			f.Only(key, fmt.Sprintf("shape %s, not %s", owner, shape), fmt.Sprintf("remove %s, or use shape: %s", key, owner))
		}
	}
	only("node", ShapeIsolate)
	only("groups", ShapeGroups)
	only("from", ShapeOneWay)
	only("to", ShapeOneWay)
	switch shape {
	case ShapeIsolate:
		p.Node, _ = f.Node("node")
	case ShapeGroups:
		if f.Require("groups", "groups: [[n1, n2], [n3]]", "partition groups") {
			if g, ok := f.NodeGroups("groups"); ok {
				p.Groups = g
				if len(g) < 2 {
					f.Report("groups", "name at least two groups: [[n1, n2], [n3]]", "one group cuts nothing")
				}
			}
		}
	case ShapeOneWay:
		if f.Require("from", "from: [n1]", "partition one-way") && f.Require("to", "to: [n2, n3]", "partition one-way") {
			from, ok1 := f.NodeList("from")
			to, ok2 := f.NodeList("to")
			p.From, p.To = from, to
			if ok1 && ok2 {
				for _, n := range from {
					if slices.Contains(to, n) {
						f.Report("to", "a node cannot hold a grudge against itself", "node %q is in both from and to", n)
						break
					}
				}
			}
		}
	case ShapeBridge, ShapeMajoritiesRing:
		if nodes := f.Nodes(); nodes != nil && len(nodes) < 3 {
			f.Report("shape", "use 3 nodes or more", "shape %s needs at least 3 nodes", shape)
		}
	}
	return p
}

// Available: rules are written in each node's network namespace, found
// through its PID, which needs root and nodes that are host processes.
func (PartitionKind) Available(pw Powers, params any) error {
	if !pw.HostProcesses {
		return errors.New("partitions need nodes that are processes on this host (runtime docker or local)")
	}
	if !pw.Root {
		return errors.New("partitions are cut with netlink inside each node's network namespace, which needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN): run the lab with sudo")
	}
	if p, _ := params.(Partition); p.Shape == ShapeLeader && !pw.Leader {
		return errors.New("shape leader: this system cannot be asked who leads")
	}
	return nil
}

// Start returns the run's partition injector.
func (PartitionKind) Start(env *Env) Injector {
	return &partitions{env: env, part: NewPartitioner(env.Nodes)}
}

type partitions struct {
	env  *Env
	part *Partitioner
}

func (ps *partitions) HealAll(ctx context.Context) error { return ps.part.HealAll(ctx) }

func (ps *partitions) Inject(ctx context.Context, o Occurrence) (*history.Fault, func(context.Context) error, error) {
	env := ps.env
	p, ok := o.Params.(Partition)
	if !ok {
		return nil, nil, fmt.Errorf("partition: parameters are %T", o.Params)
	}
	names := env.Nodes.Names()
	var groups [][]string
	var cut Cut
	var err error
	switch p.Shape {
	case ShapeLeader:
		if env.Leader == nil {
			return nil, nil, errors.New("shape leader: this system has no leader to ask for")
		}
		l, lerr := env.Leader(ctx)
		if lerr != nil {
			return nil, nil, fmt.Errorf("shape leader: %w", lerr)
		}
		groups, cut, err = PlanPartition(ShapeIsolate, l, names, env.Rand)
	case ShapeGroups:
		groups = p.Groups
		cut = CutBetween(groups)
	case ShapeOneWay:
		cut = Cut{OneWay: map[string][]string{}}
		for _, b := range p.To {
			cut.OneWay[b] = slices.Clone(p.From)
		}
	default:
		groups, cut, err = PlanPartition(p.Shape, p.Node, names, env.Rand)
	}
	if err != nil {
		return nil, nil, err
	}
	cut.Reject = p.Mode == ModeFastFail
	cut.Clients = p.Clients
	mode := p.Mode
	if mode == "" {
		mode = ModeSilent
	}
	f := &history.Fault{ID: o.ID, Kind: KindPartition, Shape: p.Shape, Groups: groups, Detail: describe(groups, cut) + " (" + mode + ")"}
	if p.Shape == ShapeOneWay {
		f.Detail = fmt.Sprintf("%s drop what %s send (%s)", strings.Join(p.To, " "), strings.Join(p.From, " "), mode)
	}
	if len(p.Clients) > 0 {
		f.Detail += "; the lab's clients cut off from " + strings.Join(p.Clients, " ")
	}
	if err := ps.part.Cut(ctx, o.ID, cut); err != nil {
		return f, nil, err
	}
	return f, func(ctx context.Context) error { return ps.part.Heal(ctx, o.ID) }, nil
}
