package nemesis

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/lab-chaos/lab/history"
)

// process injects kill, stop or pause on the victims; the heal restarts
// or resumes them. Each victim is undone if a later one fails, so nothing
// is left half-applied.
func (env Env) process(ctx context.Context, sp Spec, victims []string) (*history.Fault, func(context.Context) error, error) {
	do, undo, verb := env.processOps(sp.Kind)
	f := &history.Fault{ID: sp.ID, Kind: sp.Kind, Shape: sp.Target, Groups: [][]string{victims},
		Detail: fmt.Sprintf("%s %s (target %s)", verb, strings.Join(victims, " "), targetName(sp.Target))}
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
	heal := func(ctx context.Context) error {
		var errs []error
		for _, v := range victims {
			errs = append(errs, undo(ctx, v))
		}
		return errors.Join(errs...)
	}
	return f, heal, nil
}

func (env Env) processOps(kind string) (do, undo func(context.Context, string) error, verb string) {
	p := env.Procs
	switch kind {
	case KindKill:
		return func(ctx context.Context, n string) error { return p.Kill(ctx, n, "SIGKILL") }, p.StartNode, "SIGKILL"
	case KindStop:
		return func(ctx context.Context, n string) error { return p.Stop(ctx, n, 10) }, p.StartNode, "graceful stop of"
	default:
		return p.Pause, p.Resume, "pause (freeze)"
	}
}

func targetName(t string) string {
	if t == "" {
		return TargetOne
	}
	return t
}
