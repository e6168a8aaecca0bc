package nemesis

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
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
	// applied are the occurrences in effect, in the order they were
	// injected: each is healed at its end, and whatever is left when the
	// run ends early is healed last injected first.
	applied []*inEffect
}

// inEffect is one occurrence in effect.
type inEffect struct {
	o Occurrence
	// f is what its start event recorded.
	f history.Fault
	// heal undoes it.
	heal func(context.Context) error
	// stop ends what watches it (the leader observation).
	stop context.CancelFunc
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

// Execute runs the plan. Each occurrence is injected at its start and
// healed at its end (offsets from T0), on a schedule of its own, so
// occurrences may overlap: a fault may start while others are in effect.
// Each start and each heal is recorded as it happens.
//
// One goroutine does every inject and every heal, in time order: a heal
// before an inject due at the same moment (windows are half open),
// injects due together in plan order, heals due together last injected
// first. So no two injectors act at once, and the run's nemesis stream
// is drawn in the same order on every run of a seed.
//
// When ctx ends, an inject fails or anything in here panics, what is in
// effect is healed at once in the reverse order of injection: the last
// fault injected is the first healed, as a stack is unwound, so each heal
// finds the state its own inject left. [Nemesis.HealAll] heals in the
// same order.
//
// A sequence applies nothing itself: its steps are occurrences of their
// own in the plan ([Plan]), each recorded with its own start and end and
// the sequence's ID as Parent. The sequence's start and end are recorded
// as observations.
func (n *Nemesis) Execute(ctx context.Context, plan []Occurrence) error {
	x := &execution{n: n, panics: make(chan any, 1)}
	done := false
	defer func() {
		if !done {
			// A panic: heal on the way out, and let it go on.
			n.healApplied(context.WithoutCancel(ctx))
			x.watchers.Wait()
		}
	}()
	err := x.run(ctx, plan)
	err = errors.Join(err, n.healApplied(context.WithoutCancel(ctx)))
	x.watchers.Wait()
	done = true
	select {
	case p := <-x.panics:
		panic(p) // a watcher's, after the loop had ended
	default:
	}
	return err
}

// execution is one run of Execute.
type execution struct {
	n *Nemesis
	// watchers are the goroutines watching faults in effect.
	watchers sync.WaitGroup
	// panics carries a panic of a watcher to the loop, which raises it
	// again, so that it ends Execute as a panic of its own would.
	panics chan any
}

func (x *execution) run(ctx context.Context, plan []Occurrence) error {
	n := x.n
	starts := slices.Clone(plan)
	slices.SortStableFunc(starts, func(a, b Occurrence) int { return cmp.Compare(a.Start, b.Start) })
	var errs []error
	for next := 0; ; {
		a := n.nextEnd()
		var due time.Duration
		switch {
		case a != nil && (next == len(starts) || a.o.End <= starts[next].Start):
			due = a.o.End
		case next < len(starts):
			a, due = nil, starts[next].Start
		default:
			return errors.Join(errs...)
		}
		if !x.sleepUntil(ctx, n.env.T0.Add(due)) {
			return errors.Join(errs...)
		}
		if a != nil {
			errs = append(errs, n.heal(ctx, a))
			continue
		}
		o := starts[next]
		next++
		if err := x.inject(ctx, o); err != nil {
			return errors.Join(append(errs, err)...)
		}
	}
}

// sleepUntil waits for t; it reports false when ctx ends first. A panic
// of a watcher is raised here.
func (x *execution) sleepUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(max(time.Until(t), 0))
	defer timer.Stop()
	select {
	case p := <-x.panics:
		panic(p)
	case <-ctx.Done():
		return false
	case <-timer.C:
		return ctx.Err() == nil
	}
}

// inject applies o and records its start; on error nothing of o is left
// applied and its start is recorded with the error.
func (x *execution) inject(ctx context.Context, o Occurrence) error {
	n, env := x.n, x.n.env
	if o.Kind == KindSequence {
		// A sequence applies nothing: its steps are occurrences of their
		// own. Its start and end are noted for people.
		f := history.Fault{ID: o.ID, Kind: KindSequence, Detail: Describe(o.Kind, o.Params) + ": begins"}
		env.Record(history.Observe, &f, "")
		n.mu.Lock()
		n.applied = append(n.applied, &inEffect{o: o, f: f, stop: func() {}})
		n.mu.Unlock()
		return nil
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
	if o.Parent != 0 {
		f.Parent = o.Parent
		step := fmt.Sprintf("step %d of sequence %d", o.Step, o.Parent)
		if f.Detail == "" {
			f.Detail = step
		} else {
			f.Detail += "; " + step
		}
	}
	if err != nil {
		f.Error = err.Error()
		env.Record(history.FaultStart, f, err.Error())
		return fmt.Errorf("fault %d (%s): %w", o.ID, o.Kind, err)
	}
	env.Record(history.FaultStart, f, "")
	env.Log.Info("fault in effect", "id", o.ID, "kind", o.Kind, "detail", f.Detail)
	wctx, stop := context.WithCancel(ctx)
	n.mu.Lock()
	n.applied = append(n.applied, &inEffect{o: o, f: *f, heal: heal, stop: stop})
	n.mu.Unlock()
	x.watch(wctx, o)
	return nil
}

// watch observes what o does, in a goroutine of its own, until o is
// healed.
func (x *execution) watch(ctx context.Context, o Occurrence) {
	x.watchers.Add(1)
	go func() {
		defer x.watchers.Done()
		defer func() {
			if p := recover(); p != nil {
				select {
				case x.panics <- fmt.Sprintf("%v\n\nin the watch of fault %d (%s):\n%s", p, o.ID, o.Kind, debug.Stack()):
				default:
				}
			}
		}()
		x.n.observeLeader(ctx, o)
	}()
}

// nextEnd is the occurrence in effect that ends first; of those that end
// together, the last injected.
func (n *Nemesis) nextEnd() *inEffect {
	n.mu.Lock()
	defer n.mu.Unlock()
	var first *inEffect
	for i := len(n.applied) - 1; i >= 0; i-- {
		if a := n.applied[i]; first == nil || a.o.End < first.o.End {
			first = a
		}
	}
	return first
}

// heal heals a, unless it was healed already, and records the heal.
func (n *Nemesis) heal(ctx context.Context, a *inEffect) error {
	n.mu.Lock()
	i := slices.Index(n.applied, a)
	if i >= 0 {
		n.applied = slices.Delete(n.applied, i, i+1)
	}
	n.mu.Unlock()
	if i < 0 {
		return nil
	}
	a.stop()
	env, o, end := n.env, a.o, a.f
	if o.Kind == KindSequence {
		end.Detail = Describe(o.Kind, o.Params) + ": over"
		if time.Now().Before(env.T0.Add(o.End)) {
			end.Detail = Describe(o.Kind, o.Params) + ": cut short; its steps in effect were healed"
		}
		env.Record(history.Observe, &end, "")
		return nil
	}
	var err error
	if a.heal != nil {
		if err = a.heal(context.WithoutCancel(ctx)); err != nil {
			end.Error = err.Error()
			err = fmt.Errorf("heal fault %d: %w", o.ID, err)
		}
	}
	env.Record(history.FaultEnd, &end, end.Error)
	env.Log.Info("fault healed", "id", o.ID, "kind", o.Kind)
	return err
}

// healApplied heals every occurrence in effect, the last injected first,
// going on past errors.
func (n *Nemesis) healApplied(ctx context.Context) error {
	var errs []error
	for {
		n.mu.Lock()
		var last *inEffect
		if k := len(n.applied); k > 0 {
			last = n.applied[k-1]
		}
		n.mu.Unlock()
		if last == nil {
			return errors.Join(errs...)
		}
		errs = append(errs, n.heal(ctx, last))
	}
}

// HealAll heals whatever every kind still has in effect: the last line of
// defence on every way out of a run, panics included. What Execute
// applied and has not healed is healed first, the last injected first
// (each heal recorded); then each kind's injector heals whatever it still
// holds. It goes on past errors, so one kind that cannot heal does not
// leave the others.
func (n *Nemesis) HealAll(ctx context.Context) error {
	errs := []error{n.healApplied(ctx)}
	n.mu.Lock()
	injs := make([]Injector, 0, len(n.injectors))
	for _, k := range n.kinds {
		if inj, ok := n.injectors[k.Name()]; ok {
			injs = append(injs, inj)
		}
	}
	n.mu.Unlock()
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

// observeLeader records who leads some time into o; ctx ends when o is
// healed.
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
