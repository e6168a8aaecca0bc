package runner_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lab-chaos/lab/checker"
	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/nemesis"
	"github.com/lab-chaos/lab/plugins"
	"github.com/lab-chaos/lab/rundir"
	"github.com/lab-chaos/lab/runner"
	"github.com/lab-chaos/lab/runtime"
	fakert "github.com/lab-chaos/lab/runtime/fake"
	"github.com/lab-chaos/lab/scenarios"
	"github.com/lab-chaos/lab/systems"
	fakesys "github.com/lab-chaos/lab/systems/fake"
	"github.com/lab-chaos/lab/workloads"
)

// These tests run whole runs on the fake runtime and the fake system: no
// root, no Docker, a few seconds each. What the runtime was asked to do is
// its recorded lines, so the order of the phases and every heal is
// asserted as text.

// lab is one test's plugins: the fake system wired to the fake runtime, so
// that a node the runtime kills or pauses stops answering.
type lab struct {
	drv  *fakert.Driver
	sys  *fakesys.System
	inst *fakesys.Instance
	set  plugins.Set
}

func newLab() *lab {
	l := &lab{drv: &fakert.Driver{}, sys: &fakesys.System{}}
	l.sys.OnOpen = func(i *fakesys.Instance) {
		l.inst = i
		l.drv.OnChange = i.NodeState
	}
	return l
}

// plugins are read when the run starts, so a test may change l.sys before.
func (l *lab) plugins() plugins.Set {
	return plugins.Set{
		Systems:   []systems.System{*l.sys},
		Workloads: workloads.All,
		Faults:    nemesis.All,
		Runtimes:  []runtime.Driver{l.drv},
	}
}

// scenario is a short run: 5 s of workload at 200 ops/s over 4 keys on 3
// nodes, no recovery; faults and the system's mode are the test's.
func (l *lab) scenario(t *testing.T, mode, faults string) *scenarios.Scenario {
	t.Helper()
	src := `name: fake-run
seed: 7
runtime: fake
system: {name: fake, nodes: 3, mode: ` + mode + `}
workload: {rate: 200, concurrency: 6, keys: 4, timeout: 300ms}
time_limit: 5s
recovery: 0s
` + faults
	sc, err := scenarios.Parse([]byte(src), "fake-run.yaml", l.plugins().Vocabulary())
	if err != nil {
		t.Fatalf("scenario: %v", err)
	}
	return sc
}

func (l *lab) run(ctx context.Context, t *testing.T, sc *scenarios.Scenario) (runner.Outcome, error) {
	t.Helper()
	return runner.Run(ctx, runner.Options{Scenario: sc, Store: t.TempDir(), Plugins: l.plugins(), HealTimeout: 10 * time.Second})
}

// lines are what the runtime of the run was asked to do.
func (l *lab) lines(t *testing.T) []string {
	t.Helper()
	rt := l.drv.Last()
	if rt == nil {
		return nil
	}
	return rt.Lines()
}

// killN2 kills n2 from 1 s to 3 s.
const killN2 = `faults:
  - {kind: kill, target: nodes, nodes: [n2], at: 1s, duration: 2s}
`

// withoutSaves leaves out the lines of log saving, whose number depends on
// how the run ended, to compare the order of what matters.
func withoutSaves(lines []string) []string {
	return slices.DeleteFunc(slices.Clone(lines), func(s string) bool { return strings.HasPrefix(s, "save logs") })
}

func TestValidRunOnFakes(t *testing.T) {
	l := newLab()
	out, err := l.run(context.Background(), t, l.scenario(t, fakesys.Linearizable, killN2))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if out.Verdict != checker.Valid {
		t.Errorf("verdict %s (%s), want valid", out.Verdict, out.Result.Reason)
	}
	// The phases in order: start the nodes, the fault and its heal, the
	// logs saved before the check, the cluster removed.
	want := []string{"start n1", "start n2", "start n3", "kill n2 SIGKILL", "start n2", "close"}
	if got := withoutSaves(l.lines(t)); !slices.Equal(got, want) {
		t.Errorf("runtime lines %q, want %q", got, want)
	}
	if got := l.lines(t); !slices.Contains(got, "save logs") || slices.Index(got, "save logs") > slices.Index(got, "close") {
		t.Errorf("runtime lines %q: want the logs saved before close", got)
	}
	for _, f := range []string{rundir.Scenario, rundir.Faults, rundir.History, rundir.Results, "report.html"} {
		if _, err := os.Stat(filepath.Join(out.Dir, f)); err != nil {
			t.Errorf("run directory: %v", err)
		}
	}
	if out.Result.Counts.Ops < 500 {
		t.Errorf("%d operations in 5 s at 200/s, want at least 500", out.Result.Counts.Ops)
	}
	// Every member was asked its revision through the run, and the asks
	// are not counted as the clients' operations.
	events, _, err := history.ReadFile(filepath.Join(out.Dir, rundir.History))
	if err != nil {
		t.Fatal(err)
	}
	asked := map[string]int{}
	for _, e := range events {
		if e.F == workloads.MemberRevisionF && e.Type == history.OK {
			asked[e.Node]++
		}
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		if asked[n] < 2 {
			t.Errorf("%s answered %d revision asks in a 5 s run, want at least 2 (%v)", n, asked[n], asked)
		}
	}
}

func TestInvalidRunsOnFakes(t *testing.T) {
	for _, mode := range []string{fakesys.StaleReads, fakesys.LostWrites} {
		t.Run(mode, func(t *testing.T) {
			l := newLab()
			out, err := l.run(context.Background(), t, l.scenario(t, mode, ""))
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if out.Verdict != checker.Invalid || len(out.Result.Anomalies) == 0 {
				t.Errorf("mode %s: verdict %s with %d anomalies, want invalid with some", mode, out.Verdict, len(out.Result.Anomalies))
			}
			if got, want := withoutSaves(l.lines(t)), []string{"start n1", "start n2", "start n3", "close"}; !slices.Equal(got, want) {
				t.Errorf("runtime lines %q, want %q", got, want)
			}
		})
	}
}

// A panic while a fault is in effect ends the run with an error, and the
// cleanup stack still heals the fault and removes the cluster.
func TestHealOnPanic(t *testing.T) {
	tests := []struct {
		name string
		set  func(*fakesys.System)
		want string
	}{
		// The nemesis asks who leads a few seconds into a kill; the fake
		// panics there, in the nemesis' goroutine.
		{"in the nemesis", func(s *fakesys.System) { s.LeaderPanics = true }, "the nemesis panicked"},
		// A client panics while n2 is down, in the workload's goroutines.
		{"in a client", func(s *fakesys.System) { s.PanicAfter = 300 }, "panicked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLab()
			tt.set(l.sys)
			faults := `faults:
  - {kind: kill, target: nodes, nodes: [n2], at: 1s, duration: 3.5s}
`
			_, err := l.run(context.Background(), t, l.scenario(t, fakesys.Linearizable, faults))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run error %v, want one saying %q", err, tt.want)
			}
			got := withoutSaves(l.lines(t))
			want := []string{"start n1", "start n2", "start n3", "kill n2 SIGKILL", "start n2", "close"}
			if !slices.Equal(got, want) {
				t.Errorf("runtime lines %q, want %q (n2 restarted, then the cluster removed)", got, want)
			}
		})
	}
}

// Ctrl-C during a pause: the run stops at once, thaws the node, checks
// what it recorded (never valid: the prefix proves nothing) and removes
// the cluster.
func TestHealOnCancel(t *testing.T) {
	l := newLab()
	sc := l.scenario(t, fakesys.Linearizable, `faults:
  - {kind: pause, target: nodes, nodes: [n3], at: 1s, duration: 3s}
`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// Cancel once the pause is in effect.
		for {
			if rt := l.drv.Last(); rt != nil && slices.Contains(rt.Lines(), "pause n3") {
				cancel()
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	began := time.Now()
	out, err := l.run(ctx, t, sc)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !out.Interrupted || out.Verdict == checker.Valid {
		t.Errorf("interrupted=%v verdict=%s, want an interrupted run that is not valid", out.Interrupted, out.Verdict)
	}
	if took := time.Since(began); took > 4*time.Second {
		t.Errorf("the run took %s after the cancel came at about 1 s", took)
	}
	want := []string{"start n1", "start n2", "start n3", "pause n3", "resume n3", "close"}
	if got := withoutSaves(l.lines(t)); !slices.Equal(got, want) {
		t.Errorf("runtime lines %q, want %q", got, want)
	}
}

// A check that fails (here: finds the fake's stale reads) changes
// nothing of the cleanup: the fault was healed before the check, and the
// cluster removed after it.
func TestHealBeforeAFailedCheck(t *testing.T) {
	l := newLab()
	out, err := l.run(context.Background(), t, l.scenario(t, fakesys.StaleReads, killN2))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if out.Verdict != checker.Invalid {
		t.Errorf("verdict %s, want invalid", out.Verdict)
	}
	want := []string{"start n1", "start n2", "start n3", "kill n2 SIGKILL", "start n2", "close"}
	if got := withoutSaves(l.lines(t)); !slices.Equal(got, want) {
		t.Errorf("runtime lines %q, want %q", got, want)
	}
}

// A fault this run cannot inject is bad input found before anything is
// made: no run directory, no runtime.
func TestUnavailableFaultStartsNothing(t *testing.T) {
	l := newLab()
	sc := l.scenario(t, fakesys.Linearizable, `faults:
  - {kind: partition, shape: isolate, node: n1, at: 1s, duration: 2s}
`)
	store := t.TempDir()
	out, err := runner.Run(context.Background(), runner.Options{Scenario: sc, Store: store, Plugins: l.plugins()})
	var bad *runner.BadInput
	if !errors.As(err, &bad) {
		t.Fatalf("Run error %v (%T), want *runner.BadInput", err, err)
	}
	for _, want := range []string{"fake-run.yaml:9", "faults[0]", "processes on this host"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if out.Dir != "" || l.drv.Last() != nil {
		t.Errorf("run directory %q, runtime %v: want nothing made", out.Dir, l.drv.Last())
	}
	if entries, _ := os.ReadDir(store); len(entries) != 0 {
		t.Errorf("the store holds %d entries, want none", len(entries))
	}
}

// setScenario is scenario's run with the set workload over 2 keys: 5 s at
// 200 ops/s on 3 nodes, a fifth of them reads, no recovery.
func (l *lab) setScenario(t *testing.T, mode, faults string) *scenarios.Scenario {
	t.Helper()
	src := `name: fake-set
seed: 7
runtime: fake
system: {name: fake, nodes: 3, mode: ` + mode + `}
workload: {name: set, rate: 200, concurrency: 6, keys: 2, read_fraction: 0.2, timeout: 300ms, final_deadline: 10s}
time_limit: 5s
recovery: 0s
` + faults
	sc, err := scenarios.Parse([]byte(src), "fake-set.yaml", l.plugins().Vocabulary())
	if err != nil {
		t.Fatalf("scenario: %v", err)
	}
	return sc
}

// setFinalReads returns, from a set run's history, what the final reads
// (the last 6 ok reads: 2 keys through 3 nodes, after every other
// operation) held per key, and the acknowledged adds as key/element.
func setFinalReads(t *testing.T, dir string) (held map[string]map[int64]bool, acked []string) {
	t.Helper()
	events, _, err := history.ReadFile(filepath.Join(dir, rundir.History))
	if err != nil {
		t.Fatal(err)
	}
	var reads []history.Event
	for _, e := range events {
		switch {
		case e.F == "read" && e.Type == history.OK:
			reads = append(reads, e)
		case e.F == "add" && e.Type == history.OK:
			acked = append(acked, e.Key+"/"+string(e.Value))
		}
	}
	if len(reads) < 6 {
		t.Fatalf("%d ok reads in the history, want at least the 6 final ones", len(reads))
	}
	held = map[string]map[int64]bool{}
	nodes := map[string]bool{}
	for _, e := range reads[len(reads)-6:] {
		nodes[e.Node+"/"+e.Key] = true
		vals, ok := e.Value.Ints()
		if !ok {
			t.Fatalf("final read %+v: not a list of elements", e)
		}
		if held[e.Key] == nil {
			held[e.Key] = map[int64]bool{}
		}
		for _, v := range vals {
			held[e.Key][v] = true
		}
	}
	if len(nodes) != 6 {
		t.Fatalf("the last 6 ok reads cover %v, want each of 2 keys through each of 3 nodes", nodes)
	}
	return held, acked
}

// A set run on the right fake, with n2 killed and restarted under it, is
// valid: every acknowledged element is in the final reads through every
// node.
func TestValidSetRunOnFakes(t *testing.T) {
	l := newLab()
	out, err := l.run(context.Background(), t, l.setScenario(t, fakesys.Linearizable, killN2))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if out.Verdict != checker.Valid || out.Result.Set == nil {
		t.Fatalf("verdict %s (%s), set account %+v, want valid with one", out.Verdict, out.Result.Reason, out.Result.Set)
	}
	held, acked := setFinalReads(t, out.Dir)
	for _, a := range acked {
		key, elem, _ := strings.Cut(a, "/")
		n, _ := strconv.ParseInt(elem, 10, 64)
		if !held[key][n] {
			t.Errorf("acknowledged %s is missing from the final reads", a)
		}
	}
	s := out.Result.Set
	if len(acked) < 300 || s.Acknowledged != len(acked) || s.Stable != len(acked) || len(s.Lost) != 0 {
		t.Errorf("%d adds acknowledged, set account %+v: want at least 300, every one stable", len(acked), s)
	}
	// The kill reached the set clients: adds through n2 were refused
	// while it was down, and recorded as failed.
	events, _, err := history.ReadFile(filepath.Join(out.Dir, rundir.History))
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, e := range events {
		if e.F == "add" && e.Type == history.Fail && e.Node == "n2" {
			refused++
		}
	}
	if refused == 0 {
		t.Errorf("no add through n2 failed while it was killed")
	}
	want := []string{"start n1", "start n2", "start n3", "kill n2 SIGKILL", "start n2", "close"}
	if got := withoutSaves(l.lines(t)); !slices.Equal(got, want) {
		t.Errorf("runtime lines %q, want %q", got, want)
	}
}

// A set run on the fake that drops every fifth add is invalid, and the
// lost elements it names are exactly the acknowledged adds the final
// reads lack.
func TestLostElementsRunOnFakes(t *testing.T) {
	l := newLab()
	out, err := l.run(context.Background(), t, l.setScenario(t, fakesys.LostWrites, ""))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if out.Verdict != checker.Invalid || out.Result.Set == nil || len(out.Result.Anomalies) == 0 || out.Result.Anomalies[0].Kind != "lost" {
		t.Fatalf("verdict %s, anomalies %+v, want invalid with lost elements", out.Verdict, out.Result.Anomalies)
	}
	held, acked := setFinalReads(t, out.Dir)
	var want []string
	for _, a := range acked {
		key, elem, _ := strings.Cut(a, "/")
		n, _ := strconv.ParseInt(elem, 10, 64)
		if !held[key][n] {
			want = append(want, a)
		}
	}
	if len(want) == 0 {
		t.Fatalf("none of %d acknowledged adds is missing from the final reads", len(acked))
	}
	// The anomaly names the lost elements of the first key, in the order
	// their adds were invoked.
	events, _, err := history.ReadFile(filepath.Join(out.Dir, rundir.History))
	if err != nil {
		t.Fatal(err)
	}
	ops, _, _ := history.Pair(events)
	first := ""
	for _, op := range ops {
		if n, _ := op.Input.Int(); op.F == "add" && op.Type == history.OK && op.Key == "0" && !held["0"][n] {
			first = "0/" + string(op.Input)
			break
		}
	}
	got := slices.Sorted(slices.Values(out.Result.Set.Lost))
	slices.Sort(want)
	if len(want) < len(acked)/6 || !slices.Equal(got, want) {
		t.Errorf("lost %d: %v\nwant the %d of %d acknowledged adds missing from the final reads: %v", len(got), got, len(want), len(acked), want)
	}
	if !strings.Contains(out.Result.Anomalies[0].Summary, "were lost: "+first+",") {
		t.Errorf("the anomaly says %q, want it to name %s first", out.Result.Anomalies[0].Summary, first)
	}
}

// twoAtOnce kills n2 from 1 s to 3.5 s and pauses n3 from 1.5 s to 4 s:
// two faults in effect together, which the schedule allows.
const twoAtOnce = `schedule: {overlap: true}
faults:
  - {kind: kill, target: nodes, nodes: [n2], at: 1s, duration: 2.5s}
  - {kind: pause, target: nodes, nodes: [n3], at: 1.5s, duration: 2.5s}
`

// faultEvents are the run's fault events as "fault-start 1 kill" lines.
func faultEvents(t *testing.T, dir string) []string {
	t.Helper()
	events, _, err := history.ReadFile(filepath.Join(dir, rundir.History))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range events {
		if e.Fault != nil && (e.F == history.FaultStart || e.F == history.FaultEnd) {
			s := fmt.Sprintf("%s %d %s", e.F, e.Fault.ID, e.Fault.Kind)
			if e.Fault.Parent != 0 {
				s += fmt.Sprintf(" of %d", e.Fault.Parent)
			}
			out = append(out, s)
		}
	}
	return out
}

// Two faults in effect at once, each healed at its own end; the history
// has both windows, overlapping.
func TestOverlappingFaultsOnFakes(t *testing.T) {
	l := newLab()
	out, err := l.run(context.Background(), t, l.scenario(t, fakesys.Linearizable, twoAtOnce))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if out.Verdict != checker.Valid {
		t.Errorf("verdict %s (%s), want valid", out.Verdict, out.Result.Reason)
	}
	want := []string{"start n1", "start n2", "start n3", "kill n2 SIGKILL", "pause n3", "start n2", "resume n3", "close"}
	if got := withoutSaves(l.lines(t)); !slices.Equal(got, want) {
		t.Errorf("runtime lines %q, want %q", got, want)
	}
	wantEvs := []string{"fault-start 1 kill", "fault-start 2 pause", "fault-end 1 kill", "fault-end 2 pause"}
	if got := faultEvents(t, out.Dir); !slices.Equal(got, wantEvs) {
		t.Errorf("fault events %q, want %q", got, wantEvs)
	}
}

// Ctrl-C, or a panic, while two faults are in effect: both are healed at
// once, the last injected first.
func TestHealOverlappingInReverse(t *testing.T) {
	for _, tc := range []struct {
		name  string
		set   func(*fakesys.System)
		panic bool
	}{
		{"on cancel", func(*fakesys.System) {}, false},
		// The nemesis asks who leads 1.25 s into the kill, with the
		// pause in effect; the fake panics there.
		{"on a panic in the nemesis", func(s *fakesys.System) { s.LeaderPanics = true }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab()
			tc.set(l.sys)
			sc := l.scenario(t, fakesys.Linearizable, twoAtOnce)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if !tc.panic {
				go func() {
					// Cancel once both are in effect.
					for {
						if rt := l.drv.Last(); rt != nil && slices.Contains(rt.Lines(), "pause n3") {
							cancel()
							return
						}
						select {
						case <-ctx.Done():
							return
						case <-time.After(10 * time.Millisecond):
						}
					}
				}()
			}
			out, err := l.run(ctx, t, sc)
			switch {
			case tc.panic && (err == nil || !strings.Contains(err.Error(), "the nemesis panicked")):
				t.Fatalf("Run error %v, want the nemesis' panic", err)
			case !tc.panic && err != nil:
				t.Fatalf("Run: %v", err)
			case !tc.panic && (!out.Interrupted || out.Verdict == checker.Valid):
				t.Errorf("interrupted=%v verdict=%s, want an interrupted run that is not valid", out.Interrupted, out.Verdict)
			}
			want := []string{"start n1", "start n2", "start n3", "kill n2 SIGKILL", "pause n3", "resume n3", "start n2", "close"}
			if got := withoutSaves(l.lines(t)); !slices.Equal(got, want) {
				t.Errorf("runtime lines %q, want %q (n3 thawed, then n2 restarted)", got, want)
			}
		})
	}
}

// A sequence: each step a fault of its own in the history, with the
// sequence as its parent, healed at its own end.
func TestSequenceOnFakes(t *testing.T) {
	l := newLab()
	sc := l.scenario(t, fakesys.Linearizable, `faults:
  - kind: sequence
    at: 1s
    duration: 3s
    steps:
      - {kind: kill, target: nodes, nodes: [n2], after: 0s, duration: 3s}
      - {kind: pause, target: nodes, nodes: [n3], after: 0.5s, duration: 1s}
`)
	out, err := l.run(context.Background(), t, sc)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if out.Verdict != checker.Valid {
		t.Errorf("verdict %s (%s), want valid", out.Verdict, out.Result.Reason)
	}
	want := []string{"start n1", "start n2", "start n3", "kill n2 SIGKILL", "pause n3", "resume n3", "start n2", "close"}
	if got := withoutSaves(l.lines(t)); !slices.Equal(got, want) {
		t.Errorf("runtime lines %q, want %q", got, want)
	}
	wantEvs := []string{"fault-start 2 kill of 1", "fault-start 3 pause of 1", "fault-end 3 pause of 1", "fault-end 2 kill of 1"}
	if got := faultEvents(t, out.Dir); !slices.Equal(got, wantEvs) {
		t.Errorf("fault events %q, want %q", got, wantEvs)
	}
	plan, err := os.ReadFile(filepath.Join(out.Dir, rundir.Faults))
	if err != nil || !strings.Contains(string(plan), `"fault": "pause n3 (step 2 of sequence 1)"`) {
		t.Errorf("faults.json does not name the step: %v\n%s", err, plan)
	}
}
