package runner

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/nemesis"
	"github.com/lab-chaos/lab/rundir"
	"github.com/lab-chaos/lab/runtime"
	"github.com/lab-chaos/lab/systems"
	"github.com/lab-chaos/lab/workloads"
)

// drive runs the workload for the time limit and the recovery while the
// nemesis runs the fault plan, all recorded in history.jsonl as it
// happens; then heals, reads what every node holds, and saves the logs.
// Every fault is healed at its scheduled end, at once when ctx ends, and
// by the cleanup stack on any other way out.
func (r *run) drive(ctx context.Context) error {
	sc := r.sc
	hw, err := history.Create(r.dir.Path(rundir.History))
	if err != nil {
		return err
	}
	histClosed := false
	r.cleanups.push("close the history", func(context.Context) error {
		if histClosed {
			return nil
		}
		return hw.Close()
	})

	clock := history.NewClock()
	env := r.nemesisEnv(hw, clock)
	nem := nemesis.New(r.plugins.Faults, env)
	r.cleanups.push("heal every fault", nem.HealAll)

	plan := r.plan()
	for _, o := range plan {
		r.say("fault %d: %s from %s to %s", o.ID, nemesis.Label(o), o.Start, o.End)
	}
	total := time.Duration(sc.TimeLimit) + time.Duration(sc.Recovery)
	wenv := workloads.Env{
		System: r.sys.inst, Nodes: r.cluster.peers,
		Rate: sc.Workload.Rate, Concurrency: sc.Workload.Concurrency, Timeout: time.Duration(sc.Workload.Timeout),
		Params: sc.Workload.Params, Rec: hw, Clock: clock, Rand: r.streams.workload,
		Carry: &workloads.Carry{},
	}
	r.say("workload: %s; faults: %d scheduled (%s schedule)", r.wl.Describe(wenv), len(plan), sc.Schedule.Mode)

	prog := newProgress(r.opt.Progress, hw)
	r.out.Timings.FirstOp = time.Since(r.began)
	wctx, wcancel := context.WithTimeout(ctx, total)
	defer wcancel()
	nctx, ncancel := context.WithCancel(ctx)
	defer ncancel()
	nemDone := make(chan error, 1)
	go func() {
		nemDone <- guarded("the nemesis", func() error { return nem.Execute(nctx, plan) })
	}()
	stopProgress := prog.start(wctx, env.T0, total)
	// Each member's applied revision is watched through the run: one that
	// goes backwards forgot what it had applied.
	revDone := make(chan struct{})
	go func() {
		defer close(revDone)
		workloads.WatchRevisions(wctx, wenv, revisionInterval)
	}()
	stats, werr := r.runWorkload(wctx, wenv, time.Duration(sc.Workload.Timeout)+15*time.Second)
	wcancel()
	<-revDone
	r.out.Stats = stats
	// The nemesis ends with its plan (every fault ends by the time limit)
	// or at once when ctx ends; a workload that failed ends it too.
	if werr != nil {
		ncancel()
	}
	nerr := <-nemDone
	stopProgress()
	r.out.Timings.Workload = time.Since(env.T0)
	r.out.Interrupted = ctx.Err() != nil
	if werr != nil {
		return fmt.Errorf("workload: %w", werr)
	}
	if nerr != nil {
		return fmt.Errorf("nemesis: %w", nerr)
	}
	if sc.FinalReads && !r.out.Interrupted {
		r.say("final reads through every node")
		ferr := guarded("the final reads", func() error {
			return r.wl.FinalReads(ctx, wenv, stats.NextProcess(sc.Workload.Concurrency))
		})
		if ferr != nil && ctx.Err() == nil {
			r.opt.Log.Warn("final reads", "err", ferr)
		}
		r.out.Interrupted = ctx.Err() != nil
	}
	histClosed = true
	if err := hw.Close(); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	// The logs go into the run directory before the check, so the report
	// can read them; the nodes are still up (and healed).
	r.saveLogs(context.WithoutCancel(ctx))
	return nil
}

// revisionInterval is how often each member is asked its revision.
const revisionInterval = time.Second

// nemesisEnv is what the faults act through: the nodes as the runtime
// placed them, its process control, and what the system can tell.
func (r *run) nemesisEnv(hw *history.Writer, clock *history.Clock) *nemesis.Env {
	rt, peers := r.cluster.rt, r.cluster.peers
	names, addrs := systems.Split(peers)
	nodes := nemesis.NewNodeSet(names, addrs, rt.Pid).WithGateway(rt.Gateway())
	env := &nemesis.Env{
		Nodes: nodes, Rec: hw, Clock: clock, T0: clock.Base(), Log: r.opt.Log,
		Rand: r.streams.nemesis, Seed: r.streams.seed,
	}
	if r.drv.Abilities().Processes {
		env.Procs = rt
	}
	env.Running = rt.Running
	if d, ok := rt.(runtime.Disks); ok && r.disks {
		env.Disks = d
	}
	if l, ok := systems.AsLeaders(r.sys.inst); ok {
		env.Leader = func(ctx context.Context) (string, error) { return l.Leader(ctx, peers) }
	}
	if a, ok := r.sys.inst.(systems.Admin); ok {
		env.Admin = func(ctx context.Context, op, node string, arg int64) (string, error) {
			for _, p := range peers {
				if p.Name == node {
					return a.Admin(ctx, op, p, arg)
				}
			}
			return "", fmt.Errorf("no node %q", node)
		}
	}
	if c, ok := r.sys.inst.(systems.Clocks); ok {
		env.NodeClock = func(ctx context.Context, node string) (time.Time, error) {
			for _, p := range peers {
				if p.Name == node {
					return c.NodeTime(ctx, p)
				}
			}
			return time.Time{}, fmt.Errorf("no node %q", node)
		}
	}
	return env
}

// runWorkload runs the workload and waits for it to stop once ctx ends,
// but no longer than grace: a client stuck in a call that ignores its
// deadline must not hold the run (and the heal, the logs and the report)
// hostage. If it happens, the goroutines are dumped into the run
// directory.
func (r *run) runWorkload(ctx context.Context, env workloads.Env, grace time.Duration) (workloads.Stats, error) {
	type result struct {
		stats workloads.Stats
		err   error
	}
	done := make(chan result, 1)
	go func() {
		var s workloads.Stats
		err := guarded("the workload", func() error {
			var err error
			s, err = r.wl.Run(ctx, env)
			return err
		})
		done <- result{s, err}
	}()
	select {
	case res := <-done:
		return res.stats, res.err
	case <-ctx.Done():
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case res := <-done:
		return res.stats, res.err
	case <-timer.C:
		path := r.dir.Path(rundir.Stuck)
		if f, err := os.Create(path); err == nil {
			pprof.Lookup("goroutine").WriteTo(f, 2)
			f.Close()
		}
		r.opt.Log.Warn("the workload did not stop in time; going on without it", "grace", grace, "stacks", path)
		return workloads.Stats{}, nil
	}
}
