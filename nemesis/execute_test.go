package nemesis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/scenarios"
)

// These tests run Execute over fake kinds whose injectors only write down
// what they were asked to do: no root, no nodes.

// actions is what the fake injectors did, in order, as lines.
type actions struct {
	mu    sync.Mutex
	lines []string
}

func (a *actions) add(format string, args ...any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lines = append(a.lines, fmt.Sprintf(format, args...))
}

func (a *actions) get() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.lines)
}

// fakeKind is a kind whose injector records "inject <id>" and
// "heal <id>"; failing and panicking make the inject of that ID fail or
// panic.
type fakeKind struct {
	name     string
	acts     *actions
	failing  int
	panicky  int
	disrupts bool
}

func (k fakeKind) Name() string                       { return k.name }
func (fakeKind) Keys() []string                       { return nil }
func (fakeKind) Decode(fields) any                    { return nil }
func (fakeKind) Available(Powers, any) error          { return nil }
func (k fakeKind) DisruptsLeader() bool               { return k.disrupts }
func (k fakeKind) Start(*Env) Injector                { return &fakeInjector{k: k} }
func (i *fakeInjector) HealAll(context.Context) error { return nil }

type fakeInjector struct{ k fakeKind }

func (i *fakeInjector) Inject(_ context.Context, o Occurrence) (*history.Fault, func(context.Context) error, error) {
	f := &history.Fault{ID: o.ID, Kind: o.Kind, Detail: fmt.Sprintf("fake %d", o.ID)}
	switch o.ID {
	case i.k.failing:
		return f, nil, errors.New("cannot")
	case i.k.panicky:
		panic("the fake injector panics")
	}
	i.k.acts.add("inject %d", o.ID)
	return f, func(context.Context) error { i.k.acts.add("heal %d", o.ID); return nil }, nil
}

// events records the history.
type events struct {
	mu  sync.Mutex
	evs []history.Event
}

func (e *events) Append(ev history.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evs = append(e.evs, ev)
	return nil
}

// faultLines are the fault events as "fault-start 1" lines.
func (e *events) faultLines() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.evs {
		if ev.F == history.FaultStart || ev.F == history.FaultEnd {
			s := fmt.Sprintf("%s %d", ev.F, ev.Fault.ID)
			if ev.Fault.Error != "" {
				s += " error"
			}
			out = append(out, s)
		}
	}
	return out
}

func fakeEnv(rec Recorder) *Env {
	clock := history.NewClock()
	names := []string{"n1", "n2", "n3"}
	addrs := []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3"), netip.MustParseAddr("10.0.0.4")}
	return &Env{Nodes: NewNodeSet(names, addrs, nil), Rec: rec, Clock: clock, T0: clock.Base(),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Rand: rand.New(rand.NewPCG(1, 1))}
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func occ(id int, kind string, from, to int) Occurrence {
	return Occurrence{ID: id, Kind: kind, Start: ms(from), End: ms(to)}
}

// TestExecuteOverlapping: occurrences run on schedules of their own; one
// that ends when another starts is healed first; two that end together
// are healed last injected first.
func TestExecuteOverlapping(t *testing.T) {
	acts := &actions{}
	rec := &events{}
	n := New([]Kind{fakeKind{name: "a", acts: acts}, fakeKind{name: "b", acts: acts}}, fakeEnv(rec))
	plan := []Occurrence{
		occ(1, "a", 0, 200),
		occ(2, "b", 50, 150),
		occ(3, "a", 200, 260), // starts as 1 ends
		occ(4, "b", 210, 260), // ends with 3
	}
	if err := n.Execute(context.Background(), plan); err != nil {
		t.Fatal(err)
	}
	want := []string{"inject 1", "inject 2", "heal 2", "heal 1", "inject 3", "inject 4", "heal 4", "heal 3"}
	if got := acts.get(); !slices.Equal(got, want) {
		t.Errorf("actions %q, want %q", got, want)
	}
	wantEvs := []string{"fault-start 1", "fault-start 2", "fault-end 2", "fault-end 1", "fault-start 3", "fault-start 4", "fault-end 4", "fault-end 3"}
	if got := rec.faultLines(); !slices.Equal(got, wantEvs) {
		t.Errorf("history %q, want %q", got, wantEvs)
	}
}

// TestExecuteCancelHealsInReverse: when the run ends early, what is in
// effect is healed at once, the last injected first, and each heal is
// recorded.
func TestExecuteCancelHealsInReverse(t *testing.T) {
	acts := &actions{}
	rec := &events{}
	n := New([]Kind{fakeKind{name: "a", acts: acts}, fakeKind{name: "b", acts: acts}, fakeKind{name: "c", acts: acts}}, fakeEnv(rec))
	plan := []Occurrence{occ(1, "a", 0, 10000), occ(2, "b", 20, 10000), occ(3, "c", 40, 10000), occ(4, "a", 12000, 13000)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for !slices.Contains(acts.get(), "inject 3") {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	began := time.Now()
	if err := n.Execute(ctx, plan); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("Execute took %s after the cancel", took)
	}
	want := []string{"inject 1", "inject 2", "inject 3", "heal 3", "heal 2", "heal 1"}
	if got := acts.get(); !slices.Equal(got, want) {
		t.Errorf("actions %q, want %q", got, want)
	}
	wantEvs := []string{"fault-start 1", "fault-start 2", "fault-start 3", "fault-end 3", "fault-end 2", "fault-end 1"}
	if got := rec.faultLines(); !slices.Equal(got, wantEvs) {
		t.Errorf("history %q, want %q", got, wantEvs)
	}
	if err := n.HealAll(context.Background()); err != nil || len(acts.get()) != len(want) {
		t.Errorf("HealAll after Execute: %v, actions %q: want nothing more healed", err, acts.get())
	}
}

// TestExecuteInjectErrorHealsTheRest: a fault that cannot be injected
// ends the plan; what is in effect is healed in reverse.
func TestExecuteInjectErrorHealsTheRest(t *testing.T) {
	acts := &actions{}
	rec := &events{}
	n := New([]Kind{fakeKind{name: "a", acts: acts}, fakeKind{name: "b", acts: acts, failing: 3}}, fakeEnv(rec))
	plan := []Occurrence{occ(1, "a", 0, 5000), occ(2, "b", 10, 5000), occ(3, "b", 20, 5000), occ(4, "a", 6000, 7000)}
	err := n.Execute(context.Background(), plan)
	if err == nil || !strings.Contains(err.Error(), "fault 3 (b): cannot") {
		t.Fatalf("Execute error %v, want fault 3's", err)
	}
	if got, want := acts.get(), []string{"inject 1", "inject 2", "heal 2", "heal 1"}; !slices.Equal(got, want) {
		t.Errorf("actions %q, want %q", got, want)
	}
	if got, want := rec.faultLines(), []string{"fault-start 1", "fault-start 2", "fault-start 3 error", "fault-end 2", "fault-end 1"}; !slices.Equal(got, want) {
		t.Errorf("history %q, want %q", got, want)
	}
}

// TestExecutePanicHealsInReverse: a panic in an injector, or in the
// watch of a fault (the leader observation, in a goroutine of its own),
// leaves Execute as a panic, after what was in effect is healed in
// reverse.
func TestExecutePanicHealsInReverse(t *testing.T) {
	for _, tc := range []struct {
		name   string
		kinds  func(*actions) []Kind
		leader func(context.Context) (string, error)
		want   string
	}{
		{"in an inject", func(a *actions) []Kind {
			return []Kind{fakeKind{name: "a", acts: a}, fakeKind{name: "b", acts: a, panicky: 3}}
		}, nil, "the fake injector panics"},
		{"in a watch", func(a *actions) []Kind {
			return []Kind{fakeKind{name: "a", acts: a}, fakeKind{name: "b", acts: a, disrupts: true}}
		}, func(context.Context) (string, error) { panic("the leader panics") }, "the leader panics"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acts := &actions{}
			env := fakeEnv(&events{})
			env.Leader = tc.leader
			n := New(tc.kinds(acts), env)
			plan := []Occurrence{occ(1, "a", 0, 5000), occ(2, "b", 10, 5000), occ(3, "b", 200, 5000)}
			if tc.leader != nil {
				// The leader is asked half way into fault 2.
				plan = []Occurrence{occ(1, "a", 0, 400), occ(2, "b", 10, 400)}
			}
			var p any
			func() {
				defer func() { p = recover() }()
				n.Execute(context.Background(), plan)
			}()
			if p == nil || !strings.Contains(fmt.Sprint(p), tc.want) {
				t.Fatalf("Execute panicked with %v, want %q", p, tc.want)
			}
			if got, want := acts.get(), []string{"inject 1", "inject 2", "heal 2", "heal 1"}; !slices.Equal(got, want) {
				t.Errorf("actions %q, want %q", got, want)
			}
		})
	}
}

// TestHealAllHealsInReverse: what Execute left in effect (it is still
// running) is healed by HealAll, the last injected first, once.
func TestHealAllHealsInReverse(t *testing.T) {
	acts := &actions{}
	rec := &events{}
	n := New([]Kind{fakeKind{name: "a", acts: acts}, fakeKind{name: "b", acts: acts}}, fakeEnv(rec))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Execute(ctx, []Occurrence{occ(1, "b", 0, 10000), occ(2, "a", 10, 10000)}) }()
	// Wait until both are in effect as the nemesis sees them, not only
	// injected: the injection returns before the nemesis notes it.
	for {
		n.mu.Lock()
		k := len(n.applied)
		n.mu.Unlock()
		if k == 2 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := n.HealAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, want := acts.get(), []string{"inject 1", "inject 2", "heal 2", "heal 1"}; !slices.Equal(got, want) {
		t.Errorf("actions %q, want %q", got, want)
	}
}

// TestExecuteSequence: the steps of a sequence are faults of their own
// (start and end events, the sequence as parent, named in the detail);
// the sequence itself is only noted; on an early end its steps are healed
// in the reverse order of injection, and the sequence noted as cut short.
func TestExecuteSequence(t *testing.T) {
	for _, cut := range []bool{false, true} {
		t.Run(fmt.Sprintf("cut short %v", cut), func(t *testing.T) {
			acts := &actions{}
			rec := &events{}
			n := New([]Kind{fakeKind{name: "a", acts: acts}, fakeKind{name: "b", acts: acts}}, fakeEnv(rec))
			end := 300
			if cut {
				end = 10000
			}
			plan := []Occurrence{
				{ID: 1, Kind: KindSequence, Params: SequenceParams{}, End: ms(end)},
				{ID: 2, Kind: "a", Start: 0, End: ms(end - 50), Parent: 1, Step: 1},
				{ID: 3, Kind: "b", Start: ms(50), End: ms(150), Parent: 1, Step: 2},
			}
			if cut {
				plan[2].End = ms(end)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if cut {
				go func() {
					for !slices.Contains(acts.get(), "inject 3") {
						time.Sleep(5 * time.Millisecond)
					}
					cancel()
				}()
			}
			if err := n.Execute(ctx, plan); err != nil {
				t.Fatal(err)
			}
			want := []string{"inject 2", "inject 3", "heal 3", "heal 2"}
			if got := acts.get(); !slices.Equal(got, want) {
				t.Errorf("actions %q, want %q", got, want)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			var got []string
			for _, e := range rec.evs {
				s := fmt.Sprintf("%s %d %s", e.F, e.Fault.ID, e.Fault.Detail)
				if e.Fault.Parent != 0 {
					s += fmt.Sprintf(" (parent %d)", e.Fault.Parent)
				}
				got = append(got, s)
			}
			last := "observe 1 sequence: over"
			if cut {
				last = "observe 1 sequence: cut short; its steps in effect were healed"
			}
			wantEvs := []string{
				"observe 1 sequence: begins",
				"fault-start 2 fake 2; step 1 of sequence 1 (parent 1)",
				"fault-start 3 fake 3; step 2 of sequence 1 (parent 1)",
				"fault-end 3 fake 3; step 2 of sequence 1 (parent 1)",
				"fault-end 2 fake 2; step 1 of sequence 1 (parent 1)",
				last,
			}
			if !slices.Equal(got, wantEvs) {
				t.Errorf("history\n%q\nwant\n%q", got, wantEvs)
			}
		})
	}
}

// TestSequenceAvailable: a sequence is available when each step is, and
// says which step is not.
func TestSequenceAvailable(t *testing.T) {
	p := SequenceParams{Steps: []scenarios.Step{
		{Kind: KindKill, Params: Target{Target: TargetOne}},
		{Kind: KindPartition, Params: Partition{Shape: ShapeIsolate}},
	}}
	if err := (SequenceKind{}).Available(Powers{Processes: true, HostProcesses: true, Root: true}, p); err != nil {
		t.Errorf("with every power: %v", err)
	}
	err := (SequenceKind{}).Available(Powers{Processes: true}, p)
	if err == nil || !strings.Contains(err.Error(), "steps[1] (partition): partitions need") || strings.Contains(err.Error(), "steps[0]") {
		t.Errorf("without root: %v, want steps[1] refused alone", err)
	}
}
