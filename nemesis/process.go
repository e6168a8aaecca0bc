package nemesis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/lab-chaos/lab/history"
)

// ProcessKind kills, stops or pauses nodes through the runtime, and brings
// them back at the heal: a SIGKILL and a restart, a graceful stop and a
// restart, or a freeze (cgroup freezer, docker pause) and a thaw.
type ProcessKind struct {
	// Verb is KindKill, KindStop or KindPause.
	Verb string
}

var _ Kind = ProcessKind{}

// Name is the verb.
func (k ProcessKind) Name() string { return k.Verb }

// Keys: whom it hits.
func (ProcessKind) Keys() []string { return targetKeys }

// DisruptsLeader: a node that dies or freezes loses its leadership.
func (ProcessKind) DisruptsLeader() bool { return true }

// Overlaps: a kill, stop or pause may be in effect together with a fault
// that does not act on the nodes' processes (a partition, a packet fault,
// maintenance). With one that does (a kill, stop, pause or clock fault)
// only when both name their nodes (target: nodes) and no node is in both:
// a node's process takes one such fault at a time (a paused node cannot
// be killed and restarted as the kill means, and a clock is set in the
// process a kill replaces).
func (k ProcessKind) Overlaps(params any, other string, otherParams any) error {
	var b Target
	switch p := otherParams.(type) {
	case Target:
		b = p
	case ClockParams:
		b = p.Target
	}
	switch other {
	case KindKill, KindStop, KindPause, KindClock:
	default:
		return nil
	}
	a, _ := params.(Target)
	if a.Target == TargetNodes && b.Target == TargetNodes && !slices.ContainsFunc(a.Nodes, func(n string) bool { return slices.Contains(b.Nodes, n) }) {
		return nil
	}
	return fmt.Errorf("%s %s and %s %s may hit the same node, which takes one of these faults at a time; name disjoint nodes with target: nodes", k.Verb, a, other, b)
}

// Decode reads the target.
func (ProcessKind) Decode(f fields) any { return decodeTarget(f) }

// Available needs a runtime that controls processes.
func (k ProcessKind) Available(pw Powers, params any) error {
	if !pw.Processes {
		return fmt.Errorf("%s faults need a runtime that controls the nodes' processes", k.Verb)
	}
	t, _ := params.(Target)
	return needsLeader(pw, t)
}

// Start returns the run's injector of the verb.
func (k ProcessKind) Start(env *Env) Injector {
	return &processes{env: env, verb: k.Verb, active: map[int][]string{}}
}

type processes struct {
	env  *Env
	verb string

	mu     sync.Mutex
	active map[int][]string // fault ID -> victims
}

func (ps *processes) ops() (do, undo func(context.Context, string) error, what string) {
	p := ps.env.Procs
	switch ps.verb {
	case KindKill:
		return func(ctx context.Context, n string) error { return p.Kill(ctx, n, "SIGKILL") }, p.StartNode, "SIGKILL"
	case KindStop:
		return func(ctx context.Context, n string) error { return p.Stop(ctx, n, 10) }, p.StartNode, "graceful stop of"
	default:
		return p.Pause, p.Resume, "pause (freeze)"
	}
}

// Inject applies the verb to each victim; if one fails, those done are
// undone, so nothing is left half-applied.
func (ps *processes) Inject(ctx context.Context, o Occurrence) (*history.Fault, func(context.Context) error, error) {
	if ps.env.Procs == nil {
		return nil, nil, fmt.Errorf("%s faults need a runtime that controls processes", ps.verb)
	}
	t, _ := o.Params.(Target)
	victims, err := ps.env.victims(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	do, undo, what := ps.ops()
	f := &history.Fault{ID: o.ID, Kind: ps.verb, Shape: targetName(t.Target), Groups: [][]string{victims},
		Detail: fmt.Sprintf("%s %s (target %s)", what, strings.Join(victims, " "), targetName(t.Target))}
	var done []string
	for _, v := range victims {
		if err := do(ctx, v); err != nil {
			var errs []error
			for _, u := range done {
				errs = append(errs, undo(context.WithoutCancel(ctx), u))
			}
			return f, nil, errors.Join(append([]error{err}, errs...)...)
		}
		done = append(done, v)
	}
	ps.mu.Lock()
	ps.active[o.ID] = victims
	ps.mu.Unlock()
	return f, func(ctx context.Context) error { return ps.heal(ctx, o.ID) }, nil
}

func (ps *processes) heal(ctx context.Context, id int) error {
	ps.mu.Lock()
	victims := ps.active[id]
	delete(ps.active, id)
	ps.mu.Unlock()
	_, undo, _ := ps.ops()
	var errs []error
	for _, v := range victims {
		errs = append(errs, undo(ctx, v))
	}
	return errors.Join(errs...)
}

// HealAll brings back every node a fault of this verb still holds.
func (ps *processes) HealAll(ctx context.Context) error {
	ps.mu.Lock()
	ids := faultIDs(ps.active)
	ps.mu.Unlock()
	return healEach(ctx, ids, ps.heal)
}

func targetName(t string) string {
	if t == "" {
		return TargetOne
	}
	return t
}
