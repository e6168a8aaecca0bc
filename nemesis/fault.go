package nemesis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Targets of process, packet and clock faults: whom a fault hits.
const (
	TargetOne      = "one"
	TargetMinority = "minority"
	TargetMajority = "majority"
	TargetAll      = "all"
	TargetLeader   = "leader"
	TargetNodes    = "nodes"
)

// Targets lists the targets.
var Targets = []string{TargetOne, TargetMinority, TargetMajority, TargetAll, TargetLeader, TargetNodes}

// Target is whom a fault hits: the fields target and nodes, which every
// kind but partition shares.
type Target struct {
	// Target is one of [Targets]; default one (chosen from the seed).
	Target string `yaml:"target"`
	// Nodes are the nodes of target nodes.
	Nodes []string `yaml:"nodes,omitempty"`
}

var targetKeys = []string{"target", "nodes"}

// decodeTarget reads target and nodes.
func decodeTarget(f fields) Target {
	t := Target{Target: TargetOne}
	if v, ok := f.Enum("target", Targets); ok {
		t.Target = v
	}
	if !f.Valid("target") {
		return t
	}
	if t.Target == TargetNodes {
		if f.Require("nodes", "nodes: [n1]", "target nodes") {
			t.Nodes, _ = f.NodeList("nodes")
		}
	} else {
		f.Only("nodes", "target nodes, not "+t.Target, "remove nodes, or use target: nodes")
	}
	return t
}

func (t Target) String() string {
	if t.Target == TargetNodes {
		return strings.Join(t.Nodes, " ")
	}
	return t.Target
}

// victims resolves a target to node names, sorted, drawing any choice from
// the run's nemesis stream.
func (env *Env) victims(ctx context.Context, t Target) ([]string, error) {
	names := env.Nodes.Names()
	shuffled := slices.Clone(names)
	env.Rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	n := len(names)
	var out []string
	switch t.Target {
	case TargetOne, "":
		out = shuffled[:1]
	case TargetMinority:
		out = shuffled[:max(1, (n-1)/2)]
	case TargetMajority:
		out = shuffled[:n/2+1]
	case TargetAll:
		out = shuffled
	case TargetLeader:
		if env.Leader == nil {
			return nil, errors.New("target leader: this system has no leader to ask for")
		}
		l, err := env.Leader(ctx)
		if err != nil {
			return nil, fmt.Errorf("target leader: %w", err)
		}
		out = []string{l}
	case TargetNodes:
		out = t.Nodes
	default:
		return nil, fmt.Errorf("unknown target %q (known: %v)", t.Target, Targets)
	}
	out = slices.Clone(out)
	slices.Sort(out)
	return out, nil
}

// needsLeader is the error of a kind whose target is the leader, in a run
// whose system cannot tell who leads.
func needsLeader(p Powers, t Target) error {
	if t.Target == TargetLeader && !p.Leader {
		return errors.New("target leader: this system cannot be asked who leads")
	}
	return nil
}
