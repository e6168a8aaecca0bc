package nemesis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/lab-chaos/lab/history"
)

// The maintenance operations a system may offer as faults.
const (
	KindCompact  = "compact"
	KindDefrag   = "defrag"
	KindSnapshot = "snapshot"
)

// AdminKind runs one of the system's maintenance operations at its time
// in the schedule: a compaction of the history it keeps, a
// defragmentation of chosen members' storage, or a snapshot streamed from
// a member. The operation runs when the fault starts; its window lasts
// until the fault's end, so what it did to the clients is seen in the
// report beside it. There is nothing to heal.
type AdminKind struct {
	// Op is KindCompact, KindDefrag or KindSnapshot.
	Op string
}

var _ Kind = AdminKind{}

// AdminParams are an admin fault's parameters.
type AdminParams struct {
	// Target chooses the members (defrag, snapshot); a compaction acts on
	// the whole cluster through any member.
	Target Target
	// Behind is, for a compaction, how many revisions behind the current
	// one to compact at (0: at the current revision).
	Behind int64
}

// MarshalYAML writes the fields the operation takes: behind for a
// compaction (which has no target), the target for the others.
func (p AdminParams) MarshalYAML() (any, error) {
	if p.Target.Target == "" {
		return struct {
			Behind int64 `yaml:"behind"`
		}{p.Behind}, nil
	}
	return p.Target, nil
}

func (p AdminParams) String() string {
	if p.Behind > 0 {
		return fmt.Sprintf("%d revisions behind the current one", p.Behind)
	}
	if p.Target.Target == "" {
		return ""
	}
	return p.Target.String()
}

// Name is the operation.
func (k AdminKind) Name() string { return k.Op }

// Keys: a compaction takes behind; the others a target.
func (k AdminKind) Keys() []string {
	if k.Op == KindCompact {
		return []string{"behind"}
	}
	return targetKeys
}

// Decode reads behind (compact) or the target.
func (k AdminKind) Decode(f fields) any {
	if k.Op == KindCompact {
		p := AdminParams{}
		if v, ok := f.Int("behind", 0, 1_000_000_000); ok {
			p.Behind = int64(v)
		}
		return p
	}
	return AdminParams{Target: decodeTarget(f)}
}

// Overlaps: an operation runs when its fault starts and leaves nothing to
// heal, so it may run while any fault is in effect, another operation's
// included.
func (AdminKind) Overlaps(any, string, any) error { return nil }

// Available needs a system that offers the operation.
func (k AdminKind) Available(pw Powers, params any) error {
	if !slices.Contains(pw.Admin, k.Op) {
		if len(pw.Admin) == 0 {
			return fmt.Errorf("%s: this system offers no maintenance operations", k.Op)
		}
		return fmt.Errorf("%s: this system offers only %s", k.Op, strings.Join(pw.Admin, ", "))
	}
	p, _ := params.(AdminParams)
	return needsLeader(pw, p.Target)
}

// Start returns the run's injector of the operation.
func (k AdminKind) Start(env *Env) Injector { return &admin{env: env, op: k.Op} }

type admin struct {
	env *Env
	op  string
}

// Inject runs the operation, on each member the target names (or, for a
// compaction, through the first member that answers), and records what
// each did.
func (a *admin) Inject(ctx context.Context, o Occurrence) (*history.Fault, func(context.Context) error, error) {
	if a.env.Admin == nil {
		return nil, nil, fmt.Errorf("%s: this system offers no maintenance operations", a.op)
	}
	p, _ := o.Params.(AdminParams)
	f := &history.Fault{ID: o.ID, Kind: a.op}
	var details []string
	if a.op == KindCompact {
		var errs []error
		for _, n := range a.env.Nodes.Names() {
			d, err := a.env.Admin(ctx, a.op, n, p.Behind)
			if err == nil {
				f.Groups = [][]string{{n}}
				details = append(details, d)
				errs = nil
				break
			}
			errs = append(errs, fmt.Errorf("%s: %w", n, err))
		}
		if len(errs) > 0 {
			return f, nil, fmt.Errorf("compact: no member could: %w", errors.Join(errs...))
		}
	} else {
		victims, err := a.env.victims(ctx, p.Target)
		if err != nil {
			return f, nil, err
		}
		f.Shape, f.Groups = targetName(p.Target.Target), [][]string{victims}
		for _, v := range victims {
			d, err := a.env.Admin(ctx, a.op, v, 0)
			if err != nil {
				return f, nil, fmt.Errorf("%s of %s: %w", a.op, v, err)
			}
			details = append(details, d)
		}
	}
	f.Detail = strings.Join(details, "; ")
	return f, func(context.Context) error { return nil }, nil
}

// HealAll: an operation that ran leaves nothing to undo.
func (a *admin) HealAll(context.Context) error { return nil }
