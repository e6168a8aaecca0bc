package runner

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/lab-chaos/lab/checker"
	"github.com/lab-chaos/lab/plugins"
	"github.com/lab-chaos/lab/rundir"
	"github.com/lab-chaos/lab/runtime"
	"github.com/lab-chaos/lab/scenarios"
	"github.com/lab-chaos/lab/workloads"
)

// Options configure one run.
type Options struct {
	// Scenario is the loaded scenario; its Path is what the user named.
	Scenario *scenarios.Scenario
	// Seed, if SeedSet, overrides the scenario's seed.
	Seed    uint64
	SeedSet bool
	// Store is the root of run directories; default "store".
	Store string
	// Keep leaves the cluster running at the end.
	Keep bool
	// CheckTimeout bounds the checker; past it the verdict is unknown.
	CheckTimeout time.Duration
	// ReadyTimeout bounds the wait for the cluster; default 90s.
	ReadyTimeout time.Duration
	// Progress receives human progress lines; nil discards them.
	Progress io.Writer
	// Log receives structured logs; nil discards them.
	Log *slog.Logger
	// Command is the command line that reproduces the run (for the report).
	Command string
	// Plugins are the systems, workloads, faults and runtimes the run may
	// use; the zero Set means the lab's own ([plugins.Default]).
	Plugins plugins.Set
	// HealTimeout bounds each step of the cleanup (heal, save logs,
	// remove the cluster); default 60s.
	HealTimeout time.Duration
}

// Outcome is what a run produced.
type Outcome struct {
	Dir         string
	RunID       string
	Verdict     checker.Verdict
	Result      checker.Result
	Interrupted bool
	Stats       workloads.Stats
	// Timings of the phases, for the closing notes and the report.
	Timings Timings
}

// Timings of a run's phases.
type Timings struct {
	Image, Start, FirstOp, Workload, Check time.Duration
	Total                                  time.Duration
}

// BadInput is a scenario this run cannot carry out as written, found
// before anything started: a fault this machine cannot inject, a version
// the system cannot build, a workload the system cannot serve.
type BadInput struct {
	Err  error
	Hint string
}

func (e *BadInput) Error() string { return e.Err.Error() }
func (e *BadInput) Unwrap() error { return e.Err }

// EnvError is a machine that cannot serve the run (no Docker engine, no
// root); it is the runtime's.
type EnvError = runtime.EnvError

// Run runs a scenario end to end, phase by phase: prepare (check
// everything, make the run directory, build), start (the cluster, ready),
// drive (workload and faults, final reads), check (verdict and report).
// The error is for lab failures and bad input only; the verdict is in the
// outcome. Whatever a phase made is undone on every way out, panics
// included, by one cleanup stack.
func Run(ctx context.Context, opt Options) (out Outcome, err error) {
	r := newRun(opt)
	defer func() {
		if p := recover(); p != nil {
			err = errors.Join(err, fmt.Errorf("the lab panicked: %v\n%s", p, debug.Stack()))
		}
		if cerr := r.cleanups.run(ctx); cerr != nil {
			err = errors.Join(err, cerr)
		}
		if r.ownPlugins {
			r.plugins.Close()
		}
		r.out.Timings.Total = time.Since(r.began)
		out = r.out
	}()
	for _, phase := range []func(context.Context) error{r.prepare, r.start, r.drive, r.check} {
		if err := phase(ctx); err != nil {
			return r.out, err
		}
	}
	return r.out, nil
}

// run is the state of one run, filled in phase by phase.
type run struct {
	opt        Options
	plugins    plugins.Set
	ownPlugins bool
	sc         *scenarios.Scenario
	began      time.Time
	out        Outcome
	cleanups   cleanups
	streams    streams

	// Set by prepare.
	dir rundir.Dir
	sys systemRun
	wl  workloads.Workload
	drv runtime.Driver
	// disks is set when the nodes' data directories go on the lab's FUSE
	// layer (a disk fault, or system.disk); diskProblem then says why this
	// machine cannot, if it cannot.
	disks       bool
	diskProblem string

	// Set by start.
	cluster clusterRun
	// logsSaved is set once the node logs are in the run directory.
	logsSaved bool
}

func newRun(opt Options) *run {
	r := &run{opt: opt, began: time.Now(), plugins: opt.Plugins}
	if r.plugins.Systems == nil && r.plugins.Runtimes == nil {
		r.plugins, r.ownPlugins = plugins.Default(), true
	}
	if r.opt.Store == "" {
		r.opt.Store = "store"
	}
	if r.opt.Progress == nil {
		r.opt.Progress = io.Discard
	}
	if r.opt.Log == nil {
		r.opt.Log = slog.New(slog.DiscardHandler)
	}
	if r.opt.CheckTimeout == 0 {
		r.opt.CheckTimeout = 5 * time.Minute
	}
	if r.opt.ReadyTimeout == 0 {
		r.opt.ReadyTimeout = 90 * time.Second
	}
	if r.opt.HealTimeout == 0 {
		r.opt.HealTimeout = 60 * time.Second
	}
	r.cleanups.timeout = r.opt.HealTimeout
	r.cleanups.log = r.opt.Log
	return r
}

// say prints one progress line.
func (r *run) say(format string, a ...any) {
	fmt.Fprintf(r.opt.Progress, "lab: "+format+"\n", a...)
}

func randomSeed() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:]) >> 1
}
