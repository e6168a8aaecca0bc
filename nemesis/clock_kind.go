package nemesis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/internal/vdso"
	"github.com/lab-chaos/lab/scenarios"
)

// ClockKind moves the wall clock of the target nodes' processes, once (a
// bump) or back and forth (a strobe), through their vDSO ([Clocks]).
type ClockKind struct{}

var _ Kind = ClockKind{}

// ClockParams are a clock fault's parameters.
type ClockParams struct {
	Target `yaml:",inline"`
	// Offset is how far the clock moves (negative: back).
	Offset scenarios.Duration `yaml:"offset"`
	// Period, if set, strobes: the offset is applied and removed every
	// period.
	Period scenarios.Duration `yaml:"period,omitempty"`
}

func (p ClockParams) String() string {
	return fmt.Sprintf("%+v on %s", time.Duration(p.Offset), p.Target)
}

// Name is "clock".
func (ClockKind) Name() string { return KindClock }

// Keys: whom, by how much, how often.
func (ClockKind) Keys() []string { return append([]string{"offset", "period"}, targetKeys...) }

// Decode reads the target, the offset (within a year either way) and the
// strobe period (shorter than the fault).
func (ClockKind) Decode(f fields) any {
	p := ClockParams{Target: decodeTarget(f)}
	if f.Require("offset", "offset: 90s", "kind clock") {
		if v, ok := f.AnyDuration("offset"); ok {
			const year = 24 * 365 * time.Hour
			if v == 0 || time.Duration(v) > year || time.Duration(v) < -year {
				f.Report("offset", "offset must be non-zero, within a year either way (e.g. 90s, -1h)", "%s is out of range", v)
			} else {
				p.Offset = v
			}
		}
	}
	if v, ok := f.Duration("period", 10*time.Millisecond, time.Hour); ok {
		p.Period = v
		if span := f.Span(); span > 0 && time.Duration(v) > span {
			f.Report("period", "a strobe flips the clock every period: make it shorter than duration", "period %s is longer than duration %s", v, scenarios.Duration(span))
		}
	}
	return p
}

// Available: patching a process's vDSO needs ptrace (root), host
// processes, and a kernel whose vDSO the lab knows how to patch.
func (ClockKind) Available(pw Powers, params any) error {
	if !pw.HostProcesses {
		return errors.New("clock faults need nodes that are processes on this host (runtime docker or local)")
	}
	if !pw.Root {
		return errors.New("clock faults patch each node's vDSO through ptrace, which needs root: run the lab with sudo")
	}
	p, _ := params.(ClockParams)
	if err := needsLeader(pw, p.Target); err != nil {
		return err
	}
	if err := vdso.Check(); err != nil {
		return fmt.Errorf("clock faults are not possible on this machine: %w", err)
	}
	return nil
}

// Start returns the run's clock injector.
func (ClockKind) Start(env *Env) Injector {
	return &clocks{env: env, c: NewClocks(env.Nodes, env.Log)}
}

type clocks struct {
	env *Env
	c   *Clocks
}

func (c *clocks) HealAll(ctx context.Context) error { return c.c.HealAll(ctx) }

// observe reads the node's own clock, the proof that the skew is in
// effect, and records it beside what was asked for.
func (c *clocks) observe(ctx context.Context, id int, node string, want time.Duration) {
	env := c.env
	obs := &history.Fault{ID: id, Kind: KindClock, Groups: [][]string{{node}}, Offset: int64(want)}
	if env.NodeClock == nil {
		obs.Detail = fmt.Sprintf("%s: clock set to %+v; this system does not report its own clock", node, want)
	} else if t, err := env.NodeClock(ctx, node); err != nil {
		obs.Detail = fmt.Sprintf("%s: could not read its clock: %v", node, err)
	} else {
		seen := time.Until(t).Round(time.Second)
		obs.Offset = int64(seen)
		obs.Detail = fmt.Sprintf("%s's own clock reads %+v from the lab's (asked for %+v; the node reports whole seconds)", node, seen, want)
	}
	env.Record(history.Observe, obs, "")
}

// subID numbers the per-node parts of one clock fault.
func subID(id, i int) int { return id*1000 + i }

func (c *clocks) Inject(ctx context.Context, o Occurrence) (*history.Fault, func(context.Context) error, error) {
	p, ok := o.Params.(ClockParams)
	if !ok {
		return nil, nil, fmt.Errorf("clock: parameters are %T", o.Params)
	}
	victims, err := c.env.victims(ctx, p.Target)
	if err != nil {
		return nil, nil, err
	}
	offset, period := time.Duration(p.Offset), time.Duration(p.Period)
	f := &history.Fault{ID: o.ID, Kind: KindClock, Shape: targetName(p.Target.Target), Groups: [][]string{victims}, Offset: int64(offset)}
	if period == 0 {
		return c.bump(ctx, o.ID, f, victims, offset)
	}
	return c.strobe(o, f, victims, offset, period)
}

func (c *clocks) bump(ctx context.Context, id int, f *history.Fault, victims []string, offset time.Duration) (*history.Fault, func(context.Context) error, error) {
	var done []int
	heal := func(ctx context.Context) error {
		var errs []error
		for _, sub := range done {
			errs = append(errs, c.c.Reset(ctx, sub))
		}
		for _, v := range victims {
			c.observe(ctx, id, v, 0)
		}
		return errors.Join(errs...)
	}
	for i, v := range victims {
		if err := c.c.Bump(ctx, subID(id, i), v, offset); err != nil {
			return f, nil, errors.Join(err, heal(context.WithoutCancel(ctx)))
		}
		done = append(done, subID(id, i))
	}
	f.Detail = fmt.Sprintf("wall clock of %s moved %+v", strings.Join(victims, " "), offset)
	for _, v := range victims {
		c.observe(ctx, id, v, offset)
	}
	return f, heal, nil
}

// strobe runs until healed; each flip is recorded.
func (c *clocks) strobe(o Occurrence, f *history.Fault, victims []string, offset, period time.Duration) (*history.Fault, func(context.Context) error, error) {
	env := c.env
	sctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errc := make(chan error, len(victims))
	for i, v := range victims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.c.Strobe(sctx, subID(o.ID, i), v, offset, period, o.End-o.Start, func(off time.Duration) {
				env.Record(history.Observe, &history.Fault{ID: o.ID, Kind: KindClock, Groups: [][]string{{v}}, Offset: int64(off), Detail: fmt.Sprintf("%s clock offset now %+v", v, off)}, "")
			})
			if err != nil {
				errc <- err
			}
		}()
	}
	f.Detail = fmt.Sprintf("wall clock of %s strobed between +0 and %+v every %s", strings.Join(victims, " "), offset, period)
	heal := func(ctx context.Context) error {
		cancel()
		wg.Wait()
		close(errc)
		var errs []error
		for err := range errc {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	}
	return f, heal, nil
}
