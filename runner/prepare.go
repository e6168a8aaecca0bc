package runner

import (
	"context"

	"fmt"
	"os"
	"time"

	"github.com/lab-chaos/lab/nemesis"
	"github.com/lab-chaos/lab/rundir"
	"github.com/lab-chaos/lab/runtime"
	"github.com/lab-chaos/lab/scenarios"
	"github.com/lab-chaos/lab/systems"
	"github.com/lab-chaos/lab/workloads"
)

// systemRun is the system under test as this run configured it.
type systemRun struct {
	kind systems.System
	inst systems.Instance
	art  runtime.Artifact
}

// prepare checks everything that can be checked before anything starts
// (the system opens the version asked for, the workload can drive it, the
// runtime is there, this machine can inject every fault), then makes the
// run directory and builds what the nodes run. A problem before the run
// directory exists is bad input or the machine's, and nothing was made.
func (r *run) prepare(ctx context.Context) error {
	r.sc = r.opt.Scenario
	sc := r.sc
	if r.opt.SeedSet {
		sc.Seed, sc.SeedSet = r.opt.Seed, true
	}
	if !sc.SeedSet {
		sc.Resolve(randomSeed())
	}
	r.streams = newStreams(sc.Seed)

	kind, ok := r.plugins.System(sc.System.Name)
	if !ok {
		return &BadInput{Err: fmt.Errorf("%s: system %q is not one this lab knows", sc.Path, sc.System.Name)}
	}
	inst, err := kind.Open(systems.Config{Version: sc.System.Version, Params: sc.System.Params, BuildOutput: r.opt.Progress})
	if err != nil {
		return &BadInput{Err: fmt.Errorf("%s: system: %w", sc.Path, err), Hint: "fix system.version in the scenario"}
	}
	r.sys = systemRun{kind: kind, inst: inst}
	wl, ok := workloads.Lookup(r.plugins.Workloads, sc.Workload.Name)
	if !ok {
		return &BadInput{Err: fmt.Errorf("%s: workload %q is not one this lab knows", sc.Path, sc.Workload.Name)}
	}
	if err := wl.Supports(inst); err != nil {
		return &BadInput{Err: fmt.Errorf("%s: workload: %w", sc.Path, err), Hint: "choose a workload the system serves"}
	}
	r.wl = wl
	drv, ok := r.plugins.Runtime(sc.Runtime)
	if !ok {
		return &BadInput{Err: fmt.Errorf("%s: runtime %q is not one this lab knows", sc.Path, sc.Runtime)}
	}
	r.drv = drv
	if p, ok := inst.(systems.Packaged); ok && p.NeedsImage() && drv.Abilities().StaticOnly {
		return &BadInput{Err: fmt.Errorf("%s: the %s runtime runs only static binaries, and %s runs from a file system of its own", sc.Path, sc.Runtime, systems.NameOf(kind, inst)), Hint: "use runtime: docker"}
	}
	r.disks = r.needsDisks()
	if r.disks {
		r.diskProblem = r.checkDisks(ctx)
	}
	if err := r.faultsAvailable(); err != nil {
		return err
	}
	if err := drv.Check(ctx); err != nil {
		return err
	}

	dir, runID, err := rundir.Create(r.opt.Store, sc.Name, r.began)
	if err != nil {
		return err
	}
	r.dir, r.out.Dir, r.out.RunID = dir, string(dir), runID
	resolved, err := sc.Resolved()
	if err != nil {
		return err
	}
	if err := os.WriteFile(dir.Path(rundir.Scenario), resolved, 0o644); err != nil {
		return err
	}
	r.say("run %s, seed %d, directory %s", runID, sc.Seed, dir)
	if err := r.writePlan(); err != nil {
		return err
	}

	t := time.Now()
	art, built, err := inst.Artifact(ctx)
	if err != nil {
		return fmt.Errorf("build %s: %w", kind.Name(), err)
	}
	what, imageBuilt, err := drv.Prepare(ctx, art, r.opt.Progress)
	if err != nil {
		return fmt.Errorf("prepare %s: %w", what, err)
	}
	r.sys.art = art
	if built || imageBuilt {
		r.say("built %s %s (%s) in %s", art.Name, art.Version, what, time.Since(t).Round(time.Second))
	} else {
		r.say("%s %s: %s (cached by content)", art.Name, art.Version, what)
	}
	r.out.Timings.Image = time.Since(t)
	return nil
}

// powers are what this run can do, as the fault kinds ask it.
func (r *run) powers() nemesis.Powers {
	ab := r.drv.Abilities()
	_, leader := systems.AsLeaders(r.sys.inst)
	pw := nemesis.Powers{Root: os.Geteuid() == 0, HostProcesses: ab.HostProcesses, Processes: ab.Processes, Leader: leader,
		Disks: ab.Disks, DiskProblem: r.diskProblem}
	if a, ok := r.sys.inst.(systems.Admin); ok {
		pw.Admin = a.AdminOps()
	}
	return pw
}

// faultsAvailable asks each fault's kind whether this run can inject it,
// and lists every one that cannot, by file, line and field.
func (r *run) faultsAvailable() error {
	pw := r.powers()
	var errs scenarios.Errors
	check := func(kind string, params any, line int, field string) {
		k, ok := nemesis.Lookup(r.plugins.Faults, kind)
		var err error
		if !ok {
			err = fmt.Errorf("fault kind %q is not one this lab knows", kind)
		} else {
			err = k.Available(pw, params)
		}
		if err != nil {
			errs = append(errs, &scenarios.Error{File: r.sc.Path, Line: line, Field: field, Msg: err.Error(),
				Hint: "this run cannot inject it as written; `lab doctor` says what this machine has"})
		}
	}
	for i, f := range r.sc.Faults {
		// Each step of a sequence is asked of its own kind, where it is.
		if c, ok := f.Params.(scenarios.Compound); ok {
			for j, s := range c.FaultSteps() {
				check(s.Kind, s.Params, s.Line, fmt.Sprintf("faults[%d].steps[%d]", i, j))
			}
			continue
		}
		check(f.Kind, f.Params, f.Line, fmt.Sprintf("faults[%d]", i))
	}
	if r.sc.System.Disk == scenarios.DiskFaultFS {
		var msg string
		switch {
		case !pw.Disks:
			msg = fmt.Sprintf("disk %s: the %s runtime cannot put the nodes' data directories on the lab's FUSE layer", scenarios.DiskFaultFS, r.sc.Runtime)
		case pw.DiskProblem != "":
			msg = fmt.Sprintf("disk %s needs FUSE on this machine: %s", scenarios.DiskFaultFS, pw.DiskProblem)
		}
		if msg != "" {
			errs = append(errs, &scenarios.Error{File: r.sc.Path, Field: "system.disk", Msg: msg,
				Hint: "remove system.disk, or run where FUSE works (`lab doctor` says)"})
		}
	}
	if len(errs) > 0 {
		return &BadInput{Err: errs}
	}
	return nil
}

// needsDisks says whether the run puts the nodes' data directories on the
// lab's FUSE layer: system.disk asks for it, or one of the faults needs
// it. Runs without either pay nothing for it.
func (r *run) needsDisks() bool {
	if r.sc.System.Disk == scenarios.DiskFaultFS {
		return true
	}
	needs := func(kind string, params any) bool {
		k, ok := nemesis.Lookup(r.plugins.Faults, kind)
		return ok && nemesis.NeedsDisk(k, params)
	}
	for _, f := range r.sc.Faults {
		// A sequence's steps are faults of their own kinds.
		if c, ok := f.Params.(scenarios.Compound); ok {
			for _, s := range c.FaultSteps() {
				if needs(s.Kind, s.Params) {
					return true
				}
			}
			continue
		}
		if needs(f.Kind, f.Params) {
			return true
		}
	}
	return false
}

// checkDisks asks the runtime whether this machine can serve its disks
// (FUSE), once; "" if it can.
func (r *run) checkDisks(ctx context.Context) string {
	c, ok := r.drv.(runtime.DiskChecker)
	if !ok || !r.drv.Abilities().Disks {
		return ""
	}
	if err := c.CheckDisks(ctx); err != nil {
		return err.Error()
	}
	return ""
}

// settings are the system's settings as the report lists them, and the
// disks the lab put the nodes on.
func (r *run) settings() []string {
	s := r.sys.inst.Settings()
	if r.disks {
		s = append(s, "data directories: on the lab's FUSE layer (faultfs), which tracks every write to drop what was not fsynced")
	}
	return s
}

// plan is the scenario's fault plan as the nemesis runs it, numbered from
// 1 in time order, each step of a sequence an occurrence of its own.
func (r *run) plan() []nemesis.Occurrence {
	return nemesis.Plan(r.sc)
}

// writePlan records which faults the seed planned in faults.json.
func (r *run) writePlan() error {
	plan := rundir.PlanFile{Seed: r.sc.Seed, Schedule: r.sc.Schedule.Mode, Faults: []rundir.PlannedLine{}}
	for _, o := range r.plan() {
		plan.Faults = append(plan.Faults, rundir.PlannedLine{ID: o.ID, Fault: nemesis.Label(o), StartsAt: o.Start.String(), EndsAt: o.End.String()})
	}
	return r.dir.WriteJSON(rundir.Faults, plan)
}
