package runner

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/lab-chaos/lab/checker"
	"github.com/lab-chaos/lab/cluster"
	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/nemesis"
	"github.com/lab-chaos/lab/scenarios"
	"github.com/lab-chaos/lab/systems"
	"github.com/lab-chaos/lab/systems/etcd"
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

// EnvError is an environment problem with a hint.
type EnvError struct {
	Err  error
	Hint string
}

func (e *EnvError) Error() string { return e.Err.Error() }
func (e *EnvError) Unwrap() error { return e.Err }

// systemFor returns the system under test named in a scenario. Adding a
// system is one case here and a folder under systems/.
func systemFor(name string, progress io.Writer) (systems.Registers, error) {
	switch name {
	case "etcd":
		return &etcd.Etcd{BuildOutput: progress}, nil
	}
	return nil, fmt.Errorf("unknown system %q", name)
}

// Run runs a scenario end to end. The error is for lab failures only; the
// verdict is in the outcome.
func Run(ctx context.Context, opt Options) (out Outcome, err error) {
	began := time.Now()
	if opt.Store == "" {
		opt.Store = "store"
	}
	if opt.Progress == nil {
		opt.Progress = io.Discard
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opt.CheckTimeout == 0 {
		opt.CheckTimeout = 5 * time.Minute
	}
	if opt.ReadyTimeout == 0 {
		opt.ReadyTimeout = 90 * time.Second
	}
	sc := opt.Scenario
	if opt.SeedSet {
		sc.Seed, sc.SeedSet = opt.Seed, true
	}
	if !sc.SeedSet {
		sc.Resolve(randomSeed())
	}
	say := func(format string, a ...any) { fmt.Fprintf(opt.Progress, "lab: "+format+"\n", a...) }

	sys, err := systemFor(sc.System.Name, opt.Progress)
	if err != nil {
		return out, err
	}
	if len(sc.Faults) > 0 && os.Geteuid() != 0 {
		return out, &EnvError{Err: errors.New("partitions are cut with netlink inside each node's network namespace, which needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN)"), Hint: "sudo bin/lab run " + sc.Path}
	}
	be, err := newBackend(ctx, sc.Runtime, sys, opt.Progress)
	if err != nil {
		return out, err
	}
	defer be.close()

	dir, runID, err := makeRunDir(opt.Store, sc.Name, began)
	if err != nil {
		return out, err
	}
	out.Dir, out.RunID = dir, runID
	resolved, err := sc.Resolved()
	if err != nil {
		return out, err
	}
	if err := os.WriteFile(filepath.Join(dir, "scenario.yaml"), resolved, 0o644); err != nil {
		return out, err
	}
	say("run %s, seed %d, directory %s", runID, sc.Seed, dir)

	// What the nodes run.
	t := time.Now()
	what, built, err := be.build(ctx)
	if err != nil {
		return out, fmt.Errorf("build %s: %w", what, err)
	}
	if built {
		say("built %s in %s", what, time.Since(t).Round(time.Second))
	} else {
		say("%s (cached by content)", what)
	}
	out.Timings.Image = time.Since(t)

	// Cluster. Everything after this point removes what it made, on every
	// path out.
	t = time.Now()
	cl, err := be.create(ctx, runID)
	if err != nil {
		return out, err
	}
	cleanupCtx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
	}
	logsSaved := false
	saveLogs := func() {
		cctx, cancel := cleanupCtx()
		defer cancel()
		if lerr := cl.SaveLogs(cctx, filepath.Join(dir, "logs")); lerr != nil {
			opt.Log.Warn("saving node logs", "err", lerr)
		}
		logsSaved = true
	}
	defer func() {
		cctx, cancel := cleanupCtx()
		defer cancel()
		if !logsSaved {
			saveLogs()
		}
		if opt.Keep {
			say("cluster kept running: remove it with `lab cleanup --run %s`", runID)
			return
		}
		if cerr := cl.Close(cctx); cerr != nil {
			err = errors.Join(err, fmt.Errorf("remove cluster: %w", cerr))
		}
	}()
	names := sc.NodeNames()
	peers := make([]systems.Peer, len(names))
	for i, n := range names {
		peers[i] = systems.Peer{Name: n, Addr: cl.AddressOf(i)}
	}
	if err := cl.Start(ctx, be.nodeSpecs(cl, peers, "lab-"+runID)); err != nil {
		return out, err
	}
	say("started %d %s nodes on %s; waiting until ready", len(peers), sys.Name(), cl.Network())
	if err := waitReady(ctx, sys, cl, peers, opt.ReadyTimeout); err != nil {
		return out, err
	}
	out.Timings.Start = time.Since(t)
	say("cluster ready in %s", out.Timings.Start.Round(100*time.Millisecond))

	// Workload and faults.
	hw, err := history.Create(filepath.Join(dir, "history.jsonl"))
	if err != nil {
		return out, err
	}
	histClosed := false
	defer func() {
		if !histClosed {
			hw.Close()
		}
	}()
	names, addrs := systems.Split(peers)
	nodes := nemesis.NewNodeSet(names, addrs, cl.Pid)
	if g, ok := cl.(nemesis.Gateways); ok {
		nodes.WithGateway(g.Gateway())
	}
	part := nemesis.NewPartitioner(nodes)
	defer func() {
		// The last line of defence: heal whatever is still cut, even when a
		// panic is unwinding.
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if herr := part.HealAll(hctx); herr != nil {
			err = errors.Join(err, fmt.Errorf("heal: %w", herr))
		}
	}()
	specs := faultSpecs(sc)
	progress := newProgress(opt.Progress, hw)
	clock := history.NewClock()
	t0 := clock.Base()
	out.Timings.FirstOp = time.Since(began)
	wctx, wcancel := context.WithTimeout(ctx, time.Duration(sc.TimeLimit)+time.Duration(sc.Recovery))
	defer wcancel()
	env := nemesis.Env{
		Nodes: nodes, Partitioner: part, Procs: cl,
		Rec: hw, Clock: clock, T0: t0, Log: opt.Log, Seed: sc.Seed,
		Extra: map[string]nemesis.Injector{},
	}
	if l, ok := sys.(systems.Leaders); ok {
		env.Leader = func(ctx context.Context) (string, error) { return l.Leader(ctx, peers) }
	}
	healExtra := wireExtraFaults(&env, sys, peers, sc.Seed, opt.Log)
	defer func() {
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if herr := healExtra(hctx); herr != nil {
			err = errors.Join(err, fmt.Errorf("heal: %w", herr))
		}
		// A node left killed, stopped or paused by an interrupted fault
		// comes back before its logs are saved.
		for _, p := range peers {
			cl.Resume(hctx, p.Name)
			cl.StartNode(hctx, p.Name)
		}
	}()
	for _, sp := range specs {
		say("fault %d: %s from %s to %s", sp.ID, describeSpec(sp), sp.Start, sp.End)
	}
	if err := writePlan(filepath.Join(dir, "faults.json"), sc, specs); err != nil {
		return out, err
	}
	nemDone := make(chan error, 1)
	go func() {
		nemDone <- nemesis.Execute(ctx, env, specs)
	}()
	stopProgress := progress.start(wctx, t0, time.Duration(sc.TimeLimit)+time.Duration(sc.Recovery))
	wl := workloads.Register{
		Keys: sc.Workload.Keys, Rate: sc.Workload.Rate, Concurrency: sc.Workload.Concurrency,
		Timeout: time.Duration(sc.Workload.Timeout), Reads: systems.ReadMode(sc.Workload.Reads),
		Mix:   workloads.Mix{Read: sc.Workload.Mix.Read, Write: sc.Workload.Mix.Write, CAS: sc.Workload.Mix.CAS},
		Nodes: peers, Seed: sc.Seed,
	}
	say("workload: %s; faults: %d scheduled (%s schedule)", describeWorkload(sc), len(specs), sc.Schedule.Mode)
	stats, werr := runWorkload(wctx, wl, sys, hw, clock, time.Duration(sc.Workload.Timeout)+15*time.Second, dir, opt.Log)
	out.Stats = stats
	nerr := <-nemDone
	stopProgress()
	out.Timings.Workload = time.Since(t0)
	out.Interrupted = ctx.Err() != nil
	if werr != nil {
		return out, fmt.Errorf("workload: %w", werr)
	}
	if nerr != nil {
		return out, fmt.Errorf("nemesis: %w", nerr)
	}
	if sc.FinalReads && !out.Interrupted {
		say("final reads through every node")
		fctx, cancel := context.WithTimeout(ctx, time.Duration(len(peers)*sc.Workload.Keys+1)*time.Duration(sc.Workload.Timeout)+10*time.Second)
		_, ferr := workloads.FinalReads(fctx, sys, peers, sc.Workload.Keys, time.Duration(sc.Workload.Timeout), hw, clock, stats.NextProcess(sc.Workload.Concurrency))
		cancel()
		if ferr != nil && ctx.Err() == nil {
			opt.Log.Warn("final reads", "err", ferr)
		}
		out.Interrupted = ctx.Err() != nil
	}
	histClosed = true
	if err := hw.Close(); err != nil {
		return out, fmt.Errorf("history: %w", err)
	}
	// The logs go into the run directory before the check, so the report
	// can read them; the nodes are still up (and healed).
	saveLogs()

	// Check and report.
	t = time.Now()
	if out.Interrupted {
		say("interrupted: faults healed; checking what was recorded")
	} else {
		say("checking %d events", hw.Count())
	}
	res, err := checkAndReport(context.WithoutCancel(ctx), dir, sc, sys, opt, out, began)
	out.Timings.Check = time.Since(t)
	out.Result, out.Verdict = res, res.Verdict
	out.Timings.Total = time.Since(began)
	return out, err
}

// runWorkload runs the workload and waits for it to stop once ctx ends, but
// no longer than grace: a client stuck in a call that ignores its deadline
// must not hold the run (and the heal, the logs and the report) hostage. If
// it happens, the goroutines are dumped into the run directory.
func runWorkload(ctx context.Context, wl workloads.Register, sys systems.Registers, hw *history.Writer, clock *history.Clock, grace time.Duration, dir string, log *slog.Logger) (workloads.Stats, error) {
	type result struct {
		stats workloads.Stats
		err   error
	}
	done := make(chan result, 1)
	go func() {
		s, err := wl.Run(ctx, sys, hw, clock)
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		return r.stats, r.err
	case <-ctx.Done():
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case r := <-done:
		return r.stats, r.err
	case <-timer.C:
		path := filepath.Join(dir, "stuck-goroutines.txt")
		if f, err := os.Create(path); err == nil {
			pprof.Lookup("goroutine").WriteTo(f, 2)
			f.Close()
		}
		log.Warn("the workload did not stop in time; going on without it", "grace", grace, "stacks", path)
		return workloads.Stats{}, nil
	}
}

func randomSeed() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:]) >> 1
}

// makeRunDir creates store/<name>/<timestamp>[-N] and points store/latest
// at it. The run ID is the timestamp and a random suffix.
func makeRunDir(store, name string, t time.Time) (dir, runID string, err error) {
	ts := t.UTC().Format("20060102T150405")
	base := filepath.Join(store, name)
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", "", err
	}
	leaf := ts
	for i := 2; ; i++ {
		err := os.Mkdir(filepath.Join(base, leaf), 0o755)
		if err == nil {
			break
		}
		if !os.IsExist(err) || i > 100 {
			return "", "", err
		}
		leaf = fmt.Sprintf("%s-%d", ts, i)
	}
	dir = filepath.Join(base, leaf)
	latest := filepath.Join(store, "latest")
	tmp := latest + ".tmp"
	os.Remove(tmp)
	if err := os.Symlink(filepath.Join(name, leaf), tmp); err == nil {
		os.Rename(tmp, latest)
	}
	var r [3]byte
	rand.Read(r[:])
	return dir, strings.ToLower(ts) + "-" + hex.EncodeToString(r[:]), nil
}

func waitReady(ctx context.Context, sys systems.System, cl nodeRuntime, peers []systems.Peer, timeout time.Duration) error {
	for _, p := range peers {
		err := cluster.WaitFor(ctx, timeout, 250*time.Millisecond, func(ctx context.Context) error {
			if running, state, err := cl.Running(ctx, p.Name); err == nil && !running {
				return cluster.Final(fmt.Errorf("node %s exited (%s)", p.Name, state))
			}
			return sys.Ready(ctx, p.Addr)
		})
		if err != nil {
			logs, _ := cl.Logs(context.WithoutCancel(ctx), p.Name, 15)
			return fmt.Errorf("node %s not ready: %w\nlast lines of its log:\n%s", p.Name, err, logs)
		}
	}
	return nil
}

// faultSpecs turns the scenario's plan into the nemesis' specs, numbered
// from 1 in time order.
func faultSpecs(sc *scenarios.Scenario) []nemesis.Spec {
	var specs []nemesis.Spec
	for i, p := range sc.Plan() {
		f := sc.Faults[p.Fault]
		specs = append(specs, nemesis.Spec{
			ID: i + 1, Kind: f.Kind, Shape: f.Shape, Mode: f.Mode, Node: f.Node,
			Groups: f.Groups, From: f.From, To: f.To, Clients: f.Clients, Target: f.Target, Nodes: f.Nodes,
			Offset: time.Duration(f.Offset), Period: time.Duration(f.Period),
			Start: p.Start, End: p.End,
		})
		if f.Packet != nil {
			specs[len(specs)-1].Packet = nemesis.PacketFault{
				Delay: time.Duration(f.Packet.Delay), Jitter: time.Duration(f.Packet.Jitter),
				Loss: f.Packet.Loss, Duplicate: f.Packet.Duplicate, Reorder: f.Packet.Reorder,
				Corrupt: f.Packet.Corrupt, Rate: f.Packet.Rate,
			}
		}
	}
	return specs
}

// plannedFault is one line of faults.json: the plan the seed gave, before
// the run (the history says what actually happened, and when).
type plannedFault struct {
	ID       int    `json:"id"`
	Fault    string `json:"fault"`
	StartsAt string `json:"starts_at"`
	EndsAt   string `json:"ends_at"`
}

// writePlan records which faults the seed planned, so the run directory
// says which schedule a seed gave.
func writePlan(path string, sc *scenarios.Scenario, specs []nemesis.Spec) error {
	plan := struct {
		Seed     uint64         `json:"seed"`
		Schedule string         `json:"schedule"`
		Faults   []plannedFault `json:"faults"`
	}{Seed: sc.Seed, Schedule: sc.Schedule.Mode, Faults: []plannedFault{}}
	for _, sp := range specs {
		plan.Faults = append(plan.Faults, plannedFault{ID: sp.ID, Fault: describeSpec(sp), StartsAt: sp.Start.String(), EndsAt: sp.End.String()})
	}
	return writeJSON(path, plan)
}

func describeSpec(sp nemesis.Spec) string {
	switch sp.Kind {
	case nemesis.KindPartition:
		s := "partition " + sp.Shape
		if sp.Node != "" {
			s += " " + sp.Node
		}
		return s
	case nemesis.KindClock:
		return fmt.Sprintf("clock %+v on %s", sp.Offset, sp.Target)
	}
	return sp.Kind + " " + sp.Target
}

func describeWorkload(sc *scenarios.Scenario) string {
	w := sc.Workload
	return fmt.Sprintf("%s: %d keys, %g ops/s, %d clients, %s timeout, %s reads", w.Name, w.Keys, w.Rate, w.Concurrency, time.Duration(w.Timeout), w.Reads)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
