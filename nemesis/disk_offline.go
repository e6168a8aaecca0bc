package nemesis

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/internal/faultfs"
)

// offline is the injector of the kinds that change a stopped node's files
// (corrupt, truncate): each victim is stopped gracefully, apply changes
// the files of its disk's backing directory, and the nodes are started
// again at the fault's end, to find what was done.
type offline struct {
	env  *Env
	kind string
	// apply changes the files under dir as the occurrence asks; what, in
	// a few words, and none, what the detail says of a node it changed
	// nothing of.
	apply func(o Occurrence, dir string) ([]faultfs.Change, error)
	what  func(o Occurrence) string
	none  string
	held
}

func newOffline(env *Env, kind string, apply func(Occurrence, string) ([]faultfs.Change, error), what func(Occurrence) string, none string) *offline {
	return &offline{env: env, kind: kind, apply: apply, what: what, none: none, held: newHeld(env)}
}

// Inject stops every victim (SIGTERM, then SIGKILL after 10 s), then
// changes their files. A change that cannot be made (a glob that matches
// no file, say) is recorded, not fatal: the fault goes on with what it
// could do.
func (x *offline) Inject(ctx context.Context, o Occurrence) (*history.Fault, func(context.Context) error, error) {
	env := x.env
	if env.Procs == nil {
		return nil, nil, fmt.Errorf("%s faults need a runtime that controls processes", x.kind)
	}
	t := targetOf(o.Params)
	victims, err := env.victims(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	f := &history.Fault{ID: o.ID, Kind: x.kind, Shape: targetName(t.Target), Groups: [][]string{victims}}
	disks, err := env.disksOf(x.kind, victims)
	if err != nil {
		return f, nil, err
	}
	notes, err := env.stopAll(ctx, victims, false)
	if err != nil {
		return f, nil, err
	}
	var sums []string
	for _, v := range victims {
		cs, err := x.apply(o, disks[v].Backing())
		e := changeEffect(v, cs, err)
		if err != nil {
			env.Log.Warn("disk fault did not do all it was asked", "fault", o.ID, "kind", x.kind, "node", v, "err", err)
		}
		f.Disk = append(f.Disk, e)
		sums = append(sums, changeSummary(e, x.none))
	}
	f.Detail = fmt.Sprintf("graceful stop of %s (target %s), %s; %s", strings.Join(victims, " "), targetName(t.Target), x.what(o), strings.Join(sums, "; "))
	if len(notes) > 0 {
		f.Detail += "; " + strings.Join(notes, "; ")
	}
	x.hold(o.ID, victims)
	return f, func(ctx context.Context) error { return x.release(ctx, o.ID) }, nil
}

// HealAll starts every node still stopped.
func (x *offline) HealAll(ctx context.Context) error { return x.healAll(ctx) }

// targetOf finds the target in a disk kind's parameters.
func targetOf(params any) Target {
	switch p := params.(type) {
	case Target:
		return p
	case PowerLossParams:
		return p.Target
	case CorruptParams:
		return p.Target
	case TruncateParams:
		return p.Target
	case SnapshotRollbackParams:
		return p.Target
	case DiskErrorsParams:
		return p.Target
	case DiskSlowParams:
		return p.Target
	}
	return Target{Target: TargetOne}
}

var errNoParams = errors.New("parameters of another kind")
