package fake_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lab-chaos/lab/checker"
	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/internal/seed"
	"github.com/lab-chaos/lab/runtime"
	"github.com/lab-chaos/lab/systems"
	"github.com/lab-chaos/lab/systems/fake"
	"github.com/lab-chaos/lab/workloads"
)

func open(t *testing.T, s fake.System, mode string) *fake.Instance {
	t.Helper()
	inst, err := s.Open(systems.Config{Params: fake.Params{Mode: mode}})
	if err != nil {
		t.Fatal(err)
	}
	return inst.(*fake.Instance)
}

func client(t *testing.T, inst *fake.Instance, node string) systems.RegisterClient {
	t.Helper()
	c, err := inst.RegisterClient(context.Background(), systems.Peer{Name: node}, systems.Linearizable)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func read(t *testing.T, c systems.RegisterClient, key string) string {
	t.Helper()
	v, found, err := c.Read(context.Background(), key)
	if err != nil {
		t.Fatalf("Read(%s): %v", key, err)
	}
	if !found {
		return "<none>"
	}
	return v
}

func write(t *testing.T, c systems.RegisterClient, key, value string) {
	t.Helper()
	if err := c.Write(context.Background(), key, value); err != nil {
		t.Fatalf("Write(%s, %s): %v", key, value, err)
	}
}

func TestWriteThenRead(t *testing.T) {
	for _, mode := range fake.Modes {
		t.Run(mode, func(t *testing.T) {
			inst := open(t, fake.System{}, mode)
			c := client(t, inst, "n1")
			if got := read(t, c, "k"); got != "<none>" {
				t.Errorf("Read(k) of an empty store=%q", got)
			}
			write(t, c, "k", "1")
			if got := read(t, c, "k"); got != "1" {
				t.Errorf("Read(k) after Write(k, 1)=%q, want 1", got)
			}
		})
	}
}

func TestCAS(t *testing.T) {
	ctx := context.Background()
	inst := open(t, fake.System{}, fake.Linearizable)
	c := client(t, inst, "n1")
	tests := []struct {
		name     string
		old      string
		oldFound bool
		new      string
		swapped  bool
		after    string
	}{
		{"absent, expected absent", "", false, "1", true, "1"},
		{"present, expected absent", "", false, "2", false, "1"},
		{"expected other value", "7", true, "2", false, "1"},
		{"expected empty string", "", true, "2", false, "1"},
		{"expected value", "1", true, "2", true, "2"},
	}
	for _, tt := range tests {
		swapped, err := c.CAS(ctx, "k", tt.old, tt.oldFound, tt.new)
		if err != nil || swapped != tt.swapped {
			t.Errorf("%s: CAS(k, %q, %v, %q)=%v, %v, want %v, nil", tt.name, tt.old, tt.oldFound, tt.new, swapped, err, tt.swapped)
		}
		if got := read(t, c, "k"); got != tt.after {
			t.Errorf("%s: then Read(k)=%q, want %q", tt.name, got, tt.after)
		}
	}
	if swapped, err := c.CAS(ctx, "e", "", true, "x"); swapped || err != nil {
		t.Errorf(`CAS(e, "", found) on an absent key=%v, %v, want false, nil`, swapped, err)
	}
}

func TestStaleReads(t *testing.T) {
	inst := open(t, fake.System{}, fake.StaleReads)
	n1, n2 := client(t, inst, "n1"), client(t, inst, "n2")
	write(t, n2, "k", "1")
	if got := read(t, n1, "k"); got != "1" {
		t.Errorf("Read(k) through the leader n1=%q, want 1", got)
	}
	if got := read(t, n2, "k"); got != "<none>" {
		t.Errorf("Read(k) through n2 before any refresh=%q, want the stale <none>", got)
	}
	for i := 2; i <= 10; i++ {
		write(t, n1, "k", fmt.Sprint(i))
	}
	if got := read(t, n2, "k"); got != "10" {
		t.Errorf("Read(k) through n2 after the 10th write=%q, want 10 (refreshed)", got)
	}
	write(t, n1, "k", "11")
	if got := read(t, n2, "k"); got != "10" {
		t.Errorf("Read(k) through n2 after the 11th write=%q, want the stale 10", got)
	}
	// With n1 down, n2 leads and reads through it are fresh.
	inst.NodeState("n1", "killed")
	if got := read(t, n2, "k"); got != "11" {
		t.Errorf("Read(k) through n2, leader once n1 is killed=%q, want 11", got)
	}
}

func TestLostWrites(t *testing.T) {
	inst := open(t, fake.System{}, fake.LostWrites)
	c := client(t, inst, "n1")
	var got []string
	for i := 1; i <= 10; i++ {
		write(t, c, "k", fmt.Sprint(i))
		got = append(got, read(t, c, "k"))
	}
	want := "1 2 3 4 4 6 7 8 9 9"
	if s := strings.Join(got, " "); s != want {
		t.Errorf("reads after writes 1..10: %s, want %s (every 5th lost)", s, want)
	}
}

func setClient(t *testing.T, inst *fake.Instance, node string) systems.SetClient {
	t.Helper()
	c, err := inst.SetClient(context.Background(), systems.Peer{Name: node})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func readSet(t *testing.T, c systems.SetClient, key string) string {
	t.Helper()
	v, err := c.ReadSet(context.Background(), key)
	if err != nil {
		t.Fatalf("ReadSet(%s): %v", key, err)
	}
	return strings.Join(v, " ")
}

// TestSets: an element added through one node is read through every
// node, once however often it is added, and only in its own key's set;
// in lost-writes mode every fifth add is acknowledged and never applied,
// and stale-reads leaves sets alone.
func TestSets(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct{ mode, want string }{
		{fake.Linearizable, "1 2 3 4 5 6 7 8 9 10"},
		{fake.StaleReads, "1 2 3 4 5 6 7 8 9 10"},
		{fake.LostWrites, "1 2 3 4 6 7 8 9"},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			inst := open(t, fake.System{}, tt.mode)
			n1, n2 := setClient(t, inst, "n1"), setClient(t, inst, "n2")
			if got := readSet(t, n2, "a"); got != "" {
				t.Errorf("ReadSet(a) of an empty store=%q", got)
			}
			for i := 1; i <= 10; i++ {
				if err := n1.Add(ctx, "a", fmt.Sprint(i)); err != nil {
					t.Fatalf("Add(a, %d): %v", i, err)
				}
			}
			for _, c := range []systems.SetClient{n1, n2} {
				if got := readSet(t, c, "a"); got != tt.want {
					t.Errorf("ReadSet(a)=%q, want %q", got, tt.want)
				}
			}
			if got := readSet(t, n1, "b"); got != "" {
				t.Errorf("ReadSet(b), a key nothing was added to=%q", got)
			}
			// The 11th add is applied in every mode; adding it again (the
			// 12th) changes nothing.
			for range 2 {
				if err := n2.Add(ctx, "a", "11"); err != nil {
					t.Fatal(err)
				}
			}
			if got := readSet(t, n1, "a"); got != tt.want+" 11" {
				t.Errorf("ReadSet(a) after adding 11 twice=%q, want %q", got, tt.want+" 11")
			}
		})
	}
}

func TestDownNode(t *testing.T) {
	ctx := context.Background()
	for _, state := range []string{"killed", "stopped"} {
		t.Run(state, func(t *testing.T) {
			inst := open(t, fake.System{}, fake.Linearizable)
			c := client(t, inst, "n2")
			inst.NodeState("n2", state)
			err := c.Write(ctx, "k", "1")
			if !systems.IsDefinite(err) || !strings.Contains(fmt.Sprint(err), "connection refused") {
				t.Errorf("Write through a %s node: %v, want a definite connection refused", state, err)
			}
			if _, _, err := c.Read(ctx, "k"); !systems.IsDefinite(err) {
				t.Errorf("Read through a %s node: %v, want definite", state, err)
			}
			if _, err := c.CAS(ctx, "k", "", false, "1"); !systems.IsDefinite(err) {
				t.Errorf("CAS through a %s node: %v, want definite", state, err)
			}
			sc := setClient(t, inst, "n2")
			if err := sc.Add(ctx, "s", "1"); !systems.IsDefinite(err) {
				t.Errorf("Add through a %s node: %v, want definite", state, err)
			}
			if _, err := sc.ReadSet(ctx, "s"); !systems.IsDefinite(err) {
				t.Errorf("ReadSet through a %s node: %v, want definite", state, err)
			}
			if err := inst.Ready(ctx, systems.Peer{Name: "n2"}); err == nil {
				t.Errorf("Ready(n2) of a %s node is nil", state)
			}
			inst.NodeState("n2", "running")
			if got := read(t, c, "k"); got != "<none>" {
				t.Errorf("Read(k) after the refused write=%q, want <none>", got)
			}
			if got := readSet(t, sc, "s"); got != "" {
				t.Errorf("ReadSet(s) after the refused add=%q, want none", got)
			}
			if err := inst.Ready(ctx, systems.Peer{Name: "n2"}); err != nil {
				t.Errorf("Ready(n2) once running: %v", err)
			}
		})
	}
}

func TestPausedNode(t *testing.T) {
	inst := open(t, fake.System{}, fake.Linearizable)
	c := client(t, inst, "n3")
	inst.NodeState("n3", "paused")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := c.Write(ctx, "k", "1")
	if !errors.Is(err, context.DeadlineExceeded) || systems.IsDefinite(err) {
		t.Errorf("Write through a paused node: %v, want the context's deadline, not definite", err)
	}
	if got := read(t, client(t, inst, "n1"), "k"); got != "<none>" {
		t.Errorf("Read(k) after the timed-out write=%q, want <none>", got)
	}

	// A request waiting on a paused node is served once it resumes.
	done := make(chan error, 1)
	go func() { done <- c.Write(context.Background(), "k", "2") }()
	select {
	case err := <-done:
		t.Fatalf("Write through a paused node returned %v before the node resumed", err)
	case <-time.After(20 * time.Millisecond):
	}
	inst.NodeState("n3", "running")
	if err := <-done; err != nil {
		t.Fatalf("Write after resume: %v", err)
	}
	if got := read(t, c, "k"); got != "2" {
		t.Errorf("Read(k) after resume=%q, want 2", got)
	}
}

func TestLeader(t *testing.T) {
	ctx := context.Background()
	peers := []systems.Peer{{Name: "n3"}, {Name: "n1"}, {Name: "n2"}}
	tests := []struct {
		states map[string]string
		want   string
	}{
		{nil, "n1"},
		{map[string]string{"n1": "killed"}, "n2"},
		{map[string]string{"n1": "paused", "n2": "stopped"}, "n3"},
		{map[string]string{"n1": "killed", "n2": "killed", "n3": "paused"}, ""},
	}
	for _, tt := range tests {
		inst := open(t, fake.System{}, fake.Linearizable)
		for n, s := range tt.states {
			inst.NodeState(n, s)
		}
		got, err := inst.Leader(ctx, peers)
		if got != tt.want || (err != nil) != (tt.want == "") {
			t.Errorf("Leader() with %v=%q, %v, want %q", tt.states, got, err, tt.want)
		}
	}
}

func TestOpen(t *testing.T) {
	var opened *fake.Instance
	s := fake.System{OnOpen: func(i *fake.Instance) { opened = i }}
	inst, err := s.Open(systems.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if opened != inst {
		t.Errorf("OnOpen got %p, Open returned %p", opened, inst)
	}
	if got := opened.Settings(); len(got) != 1 || got[0] != "mode: linearizable" {
		t.Errorf("Settings()=%q", got)
	}
	spec := inst.Node(runtime.Placement{Name: "n2"}, systems.Cluster{})
	if got := strings.Join(spec.Args, " "); spec.Name != "n2" || got != "--mode linearizable" {
		t.Errorf("Node(n2)=%+v", spec)
	}
	art, built, err := inst.Artifact(context.Background())
	if want := (runtime.Artifact{Name: "fake", Version: "1", Binary: "fake", Content: "fake-1"}); art != want || built || err != nil {
		t.Errorf("Artifact()=%+v, %v, %v", art, built, err)
	}
	for _, cfg := range []systems.Config{
		{Version: "2"},
		{Params: fake.Params{Mode: "eventual"}},
		{Params: "stale-reads"},
	} {
		if _, err := s.Open(cfg); err == nil {
			t.Errorf("Open(%+v) is no error", cfg)
		}
	}
}

func TestPanicAfter(t *testing.T) {
	inst := open(t, fake.System{PanicAfter: 2}, fake.Linearizable)
	c := client(t, inst, "n1")
	write(t, c, "k", "1")
	read(t, c, "k")
	func() {
		defer func() {
			if recover() == nil {
				t.Errorf("the third operation did not panic")
			}
		}()
		read(t, c, "k")
	}()
	// Once only, and the lock is not left held.
	if got := read(t, c, "k"); got != "1" {
		t.Errorf("Read(k) after the panic=%q", got)
	}
}

// memory is a history recorder in memory.
type memory struct {
	mu     sync.Mutex
	events []history.Event
}

func (m *memory) Append(e history.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, e)
	return nil
}

// TestVerdicts runs the register workload against each mode, with a node
// paused and resumed under it, and checks the history: the modes must be
// as wrong as they claim, and reliably so.
func TestVerdicts(t *testing.T) {
	pause := []string{"paused", "running", "paused", "running"}
	tests := []struct {
		mode   string
		faults []string
		want   checker.Verdict
	}{
		{fake.Linearizable, pause, checker.Valid},
		{fake.StaleReads, pause, checker.Invalid},
		{fake.LostWrites, pause, checker.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			for s := uint64(1); s <= 3; s++ {
				checkVerdict(t, tt.mode, s, tt.faults, tt.want)
			}
		})
	}
}

// TestRefusedCAS kills a node under a linearizable load: every operation
// refused by the dead node is a definite failure, which changes nothing.
func TestRefusedCAS(t *testing.T) {
	t.Skip("known lab bug: the workload records a cas refused by a dead node as fail, " +
		"and the checker reads every failed cas as a compare that did not match")
	checkVerdict(t, fake.Linearizable, 1, []string{"killed", "running", "killed", "running"}, checker.Valid)
}

// checkVerdict runs the workload for 300 ms against a fresh instance in
// mode while n2 goes through states, 50 ms each, and checks the verdict.
func checkVerdict(t *testing.T, mode string, s uint64, states []string, want checker.Verdict) {
	t.Helper()
	inst := open(t, fake.System{}, mode)
	rec := &memory{}
	env := workloads.Env{
		System:      inst,
		Nodes:       []systems.Peer{{Name: "n1"}, {Name: "n2"}, {Name: "n3"}},
		Rate:        2000,
		Concurrency: 6,
		Timeout:     20 * time.Millisecond,
		Params:      workloads.Register{Keys: 4, Reads: systems.Linearizable, Mix: workloads.Mix{Read: 2, Write: 1, CAS: 1}},
		Rec:         rec,
		Clock:       history.NewClock(),
		Rand:        seed.Workload.Rand(s),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	go func() {
		for _, st := range states {
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			inst.NodeState("n2", st)
		}
	}()
	if _, err := (workloads.RegisterWorkload{}).Run(ctx, env); err != nil {
		t.Fatal(err)
	}
	res, err := checker.Check(context.Background(), rec.events, checker.Options{Model: "cas-register", Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != want {
		t.Errorf("seed %d: verdict %s over %d events, want %s", s, res.Verdict, len(rec.events), want)
		for _, a := range res.Anomalies {
			t.Logf("%s: %s", a.Kind, a.Summary)
		}
	}
}
