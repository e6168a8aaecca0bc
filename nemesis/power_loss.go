package nemesis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/scenarios"
)

// PowerLossKind cuts the power of the target nodes: each is killed with
// SIGKILL, then its disk drops every write it did not make durable (with
// fsync or fdatasync) and undoes the changes to names not made durable,
// as a machine losing power would (see internal/faultfs). The nodes stay
// down for the rest of the fault's duration and are started at its end,
// with what reached their disks. What each disk dropped is recorded in the
// fault's start event: files, writes and bytes, and the names undone.
//
// By default nothing but fsync made anything durable: the strictest case,
// a page cache that never wrote back. With writeback, the disks write
// every change back (as the kernel's periodic write-back of dirty pages
// does) when the fault starts, and the power goes writeback later: what
// was written in between and not fsynced is lost, what came before is
// not.
type PowerLossKind struct{}

// PowerLossParams are a power-loss fault's parameters.
type PowerLossParams struct {
	Target `yaml:",inline"`
	// Writeback, when set, is how long before the cut the disks last
	// wrote everything back.
	Writeback scenarios.Duration `yaml:"writeback,omitempty"`
}

func (p PowerLossParams) String() string {
	if p.Writeback > 0 {
		return fmt.Sprintf("%s, written back %s before", p.Target, time.Duration(p.Writeback))
	}
	return p.Target.String()
}

var (
	_ Kind     = PowerLossKind{}
	_ DiskUser = PowerLossKind{}
)

// Name is "power-loss".
func (PowerLossKind) Name() string { return KindPowerLoss }

// Keys: whom it hits, and when the disks last wrote back.
func (PowerLossKind) Keys() []string { return append([]string{"writeback"}, targetKeys...) }

// Decode reads the target and writeback (shorter than the fault).
func (PowerLossKind) Decode(f fields) any {
	p := PowerLossParams{Target: decodeTarget(f)}
	if v, ok := f.Duration("writeback", time.Millisecond, time.Hour); ok {
		p.Writeback = v
		if span := f.Span(); span > 0 && time.Duration(v) >= span {
			f.Report("writeback", "the power goes writeback after the fault starts, and the nodes come back at its end: make it shorter than duration",
				"writeback %s is not shorter than duration %s", v, scenarios.Duration(span))
		}
	}
	return p
}

// NeedsDisk: always.
func (PowerLossKind) NeedsDisk(any) bool { return true }

// DisruptsLeader: the nodes are down for the fault.
func (PowerLossKind) DisruptsLeader() bool { return true }

// Available needs disks, FUSE and process control.
func (PowerLossKind) Available(pw Powers, params any) error {
	return diskAvailable(KindPowerLoss, pw, targetOf(params), true)
}

// Start returns the run's power-loss injector.
func (PowerLossKind) Start(env *Env) Injector { return &powerLoss{env: env, held: newHeld(env)} }

type powerLoss struct {
	env *Env
	held
}

// Inject kills every victim first, then cuts the power of each disk, so
// that no victim outlives another's power loss.
func (p *powerLoss) Inject(ctx context.Context, o Occurrence) (*history.Fault, func(context.Context) error, error) {
	env := p.env
	if env.Procs == nil {
		return nil, nil, errors.New("power-loss faults need a runtime that controls processes")
	}
	params, _ := o.Params.(PowerLossParams)
	t := targetOf(o.Params)
	victims, err := env.victims(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	f := &history.Fault{ID: o.ID, Kind: KindPowerLoss, Shape: targetName(t.Target), Groups: [][]string{victims}}
	disks, err := env.disksOf(KindPowerLoss, victims)
	if err != nil {
		return f, nil, err
	}
	wb := ""
	if params.Writeback > 0 {
		for _, v := range victims {
			if err := disks[v].Sync(); err != nil {
				return f, nil, fmt.Errorf("write-back of %s: %w", v, err)
			}
		}
		wb = fmt.Sprintf(", %s after the disks wrote everything back", time.Duration(params.Writeback))
		timer := time.NewTimer(time.Duration(params.Writeback))
		select {
		case <-timer.C:
		case <-ctx.Done():
			// The run was interrupted before the cut: the power stays on.
			timer.Stop()
			f.Detail = fmt.Sprintf("the disks of %s wrote everything back; the run was interrupted before the power went, so it stayed on", strings.Join(victims, " "))
			return f, func(context.Context) error { return nil }, nil
		}
	}
	notes, err := env.stopAll(ctx, victims, true)
	if err != nil {
		return f, nil, err
	}
	var sums []string
	var errs []error
	for _, v := range victims {
		rep, err := disks[v].PowerLoss()
		e := lossEffect(v, rep, err)
		f.Disk = append(f.Disk, e)
		sums = append(sums, lossSummary(e))
		if err != nil {
			errs = append(errs, fmt.Errorf("power loss of %s: %w", v, err))
		}
	}
	f.Detail = fmt.Sprintf("SIGKILL and power loss of %s (target %s%s); %s", strings.Join(victims, " "), targetName(t.Target), wb, strings.Join(sums, "; "))
	if len(notes) > 0 {
		f.Detail += "; " + strings.Join(notes, "; ")
	}
	if len(errs) > 0 {
		// What the disk could not undo is the lab's failure: the nodes
		// come back at once, and the run ends with the error.
		errs = append(errs, env.startAll(context.WithoutCancel(ctx), victims))
		return f, nil, errors.Join(errs...)
	}
	p.hold(o.ID, victims)
	return f, func(ctx context.Context) error { return p.release(ctx, o.ID) }, nil
}

// HealAll starts every node a power loss still holds down.
func (p *powerLoss) HealAll(ctx context.Context) error { return p.healAll(ctx) }
