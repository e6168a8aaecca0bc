package nemesis

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lab-chaos/lab/history"
)

// Nemesis runs one run's fault plan through the kinds' injectors, and
// heals everything they left when asked.
type Nemesis struct {
	env   *Env
	kinds []Kind

	mu        sync.Mutex
	injectors map[string]Injector
}

// New returns the nemesis of one run over kinds.
func New(kinds []Kind, env *Env) *Nemesis {
	return &Nemesis{env: env, kinds: kinds, injectors: map[string]Injector{}}
}

// injector returns the kind's injector, started on first use.
func (n *Nemesis) injector(kind string) (Injector, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if inj, ok := n.injectors[kind]; ok {
		return inj, nil
	}
	k, ok := Lookup(n.kinds, kind)
	if !ok {
		return nil, fmt.Errorf("fault kind %q is not known to this run", kind)
	}
	inj := k.Start(n.env)
	n.injectors[kind] = inj
	return inj, nil
}

// Execute runs the plan: for each occurrence it waits for its start
// (relative to T0), injects, records the start, waits for its end, heals
// and records the heal. When ctx ends it heals what is in effect at once
// and returns.
func (n *Nemesis) Execute(ctx context.Context, plan []Occurrence) error {
	env := n.env
	var errs []error
	for _, o := range plan {
		if !sleepUntil(ctx, env.T0.Add(o.Start)) {
			break
		}
		inj, err := n.injector(o.Kind)
		var f *history.Fault
		var heal func(context.Context) error
		if err == nil {
			f, heal, err = inj.Inject(ctx, o)
		}
		if f == nil {
			f = &history.Fault{ID: o.ID, Kind: o.Kind}
		}
		if err != nil {
			f.Error = err.Error()
			env.Record(history.FaultStart, f, err.Error())
			return errors.Join(append(errs, fmt.Errorf("fault %d (%s): %w", o.ID, o.Kind, err))...)
		}
		env.Record(history.FaultStart, f, "")
		env.Log.Info("fault in effect", "id", o.ID, "kind", o.Kind, "detail", f.Detail)
		n.observeLeader(ctx, o)
		sleepUntil(ctx, env.T0.Add(o.End))
		end := *f
		if err := heal(context.WithoutCancel(ctx)); err != nil {
			end.Error = err.Error()
			errs = append(errs, fmt.Errorf("heal fault %d: %w", o.ID, err))
		}
		env.Record(history.FaultEnd, &end, end.Error)
		env.Log.Info("fault healed", "id", o.ID, "kind", o.Kind)
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

// HealAll heals whatever every kind still has in effect: the last line of
// defence on every way out of a run, panics included. It goes on past
// errors, so one kind that cannot heal does not leave the others.
func (n *Nemesis) HealAll(ctx context.Context) error {
	n.mu.Lock()
	injs := make([]Injector, 0, len(n.injectors))
	for _, k := range n.kinds {
		if inj, ok := n.injectors[k.Name()]; ok {
			injs = append(injs, inj)
		}
	}
	n.mu.Unlock()
	var errs []error
	for _, inj := range injs {
		errs = append(errs, inj.HealAll(ctx))
	}
	return errors.Join(errs...)
}

// disrupter is a kind whose faults should move leadership, so the lab
// records who leads some time into each: the evidence that the fault did
// what such faults do to a consensus system.
type disrupter interface {
	DisruptsLeader() bool
}

func (n *Nemesis) observeLeader(ctx context.Context, o Occurrence) {
	env := n.env
	k, _ := Lookup(n.kinds, o.Kind)
	if d, ok := k.(disrupter); env.Leader == nil || !ok || !d.DisruptsLeader() {
		return
	}
	// Give the system a few election timeouts, but never past the fault.
	wait := min(4*time.Second, (o.End-o.Start)/2)
	if !sleepUntil(ctx, time.Now().Add(wait)) {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	obs := &history.Fault{ID: o.ID, Kind: "leader"}
	if l, err := env.Leader(lctx); err != nil {
		obs.Detail = "no leader: " + err.Error()
	} else {
		obs.Detail = l
	}
	env.Record(history.Observe, obs, "")
	env.Log.Info("observed", "fault", o.ID, "leader", obs.Detail)
}
