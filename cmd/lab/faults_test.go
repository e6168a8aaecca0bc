package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/internal/labtest"
)

// runHistory is a finished run's history, for asserting what a fault did.
type runHistory struct {
	events  []history.Event
	ops     []history.Op
	windows []history.Window
}

func loadRun(t *testing.T, dir string) runHistory {
	t.Helper()
	events, _, err := history.ReadFile(filepath.Join(dir, "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	paired, _, _ := history.Pair(events)
	// The member-* operations are the lab asking each member about itself
	// (its state, its applied revision), answered locally even by a member
	// cut off from the rest: what these tests count is what clients were
	// served, so they are left out.
	var ops []history.Op
	for _, o := range paired {
		if !strings.HasPrefix(o.F, "member-") {
			ops = append(ops, o)
		}
	}
	return runHistory{events: events, ops: ops, windows: history.FaultWindows(events)}
}

// count returns how many operations on node, invoked in [from, to), ended
// with each type.
func (h runHistory) count(node string, from, to int64) map[history.Type]int {
	out := map[history.Type]int{}
	for _, o := range h.ops {
		if o.Node == node && o.Call >= from && o.Call < to {
			out[o.Type]++
		}
	}
	return out
}

// served counts the ok operations on node invoked at or after from that
// also completed by to: what the node served inside a window. (An
// operation invoked during a fault may well complete after its heal.)
func (h runHistory) served(node string, from, to int64) int {
	n := 0
	for _, o := range h.ops {
		if o.Node == node && o.Type == history.OK && o.Call >= from && o.Return <= to {
			n++
		}
	}
	return n
}

// observations returns the nemesis' observations of fault id.
func (h runHistory) observations(id int) []string {
	var out []string
	for _, e := range h.events {
		if e.F == history.Observe && e.Fault != nil && e.Fault.ID == id {
			out = append(out, e.Fault.Detail)
		}
	}
	return out
}

func (h runHistory) window(t *testing.T, i int) history.Window {
	t.Helper()
	if len(h.windows) <= i {
		t.Fatalf("the history has %d fault windows, want at least %d", len(h.windows), i+1)
	}
	w := h.windows[i]
	if w.End < 0 || !w.Healed {
		t.Fatalf("fault %d was not healed: %+v", w.Fault.ID, w)
	}
	return w
}

const sec = int64(time.Second)

// healMargin: a fault's end event is written once every node is healed,
// and the first nodes are healed (tens of milliseconds) before that, so an
// operation may legitimately complete just before the recorded end.
const healMargin = sec / 2

// TestFaultScenarios runs each fault scenario against etcd in Docker and
// checks the fault had its effect, and that etcd stayed linearizable.
func TestFaultScenarios(t *testing.T) {
	labtest.Docker(t)
	labtest.Root(t)
	tests := []struct {
		scenario string
		check    func(t *testing.T, h runHistory)
	}{
		{"kill", func(t *testing.T, h runHistory) {
			w := h.window(t, 0)
			victim := w.Fault.Groups[0][0]
			if c := h.count(victim, w.Start+sec, w.End); h.served(victim, w.Start+sec, w.End-healMargin) != 0 || c[history.Fail]+c[history.Info] == 0 {
				t.Errorf("operations on killed %s while it was down: %v, want none ok and some failed", victim, c)
			}
			if c := h.count(victim, w.End, 1<<62); c[history.OK] == 0 {
				t.Errorf("killed %s never served again after its restart: %v", victim, c)
			}
		}},
		{"pause", func(t *testing.T, h runHistory) {
			w := h.window(t, 0)
			victim := w.Fault.Groups[0][0]
			if c := h.count(victim, w.Start+sec/2, w.End-sec); h.served(victim, w.Start+sec/2, w.End-healMargin) != 0 || c[history.Info] == 0 {
				t.Errorf("operations on paused %s: %v, want none ok and some timed out", victim, c)
			}
			if c := h.count(victim, w.End, 1<<62); c[history.OK] == 0 {
				t.Errorf("paused %s never caught up: %v", victim, c)
			}
		}},
		{"majorities-ring", func(t *testing.T, h runHistory) {
			w := h.window(t, 0)
			if len(h.observations(w.Fault.ID)) == 0 {
				t.Error("no leader was observed during the ring")
			}
		}},
		{"bridge", func(t *testing.T, h runHistory) {
			w := h.window(t, 1)
			if w.Fault.Shape != "leader" {
				t.Fatalf("second fault is %s, want the leader isolated", w.Fault.Shape)
			}
			old := w.Fault.Groups[0][0]
			obs := h.observations(w.Fault.ID)
			if len(obs) == 0 || obs[0] == old || strings.HasPrefix(obs[0], "no leader") {
				t.Errorf("with old leader %s isolated, the majority's leader was observed as %v: want a new one", old, obs)
			}
		}},
		{"one-way", func(t *testing.T, h runHistory) {
			w := h.window(t, 0)
			if n := h.served("n1", w.Start+2*sec, w.End-healMargin); n != 0 {
				t.Errorf("n1 hears nothing, yet served %d operations during the grudge", n)
			}
			mid := (w.Start + w.End) / 2
			if c2, c3 := h.count("n2", mid, w.End), h.count("n3", mid, w.End); c2[history.OK]+c3[history.OK] == 0 {
				t.Errorf("the majority (n2, n3) served nothing in the second half of the grudge: %v %v", c2, c3)
			}
		}},
		{"clock-skew", func(t *testing.T, h runHistory) {
			w := h.window(t, 0)
			var offsets []time.Duration
			for _, e := range h.events {
				if e.F == history.Observe && e.Fault != nil && e.Fault.ID == w.Fault.ID && e.Fault.Kind == "clock" {
					offsets = append(offsets, time.Duration(e.Fault.Offset))
				}
			}
			// The node's own clock, read from its HTTP Date header: +1h
			// while skewed, back to 0 after the heal (whole seconds).
			if len(offsets) < 2 {
				t.Fatalf("clock observations of fault %d: %v, want one while skewed and one after", w.Fault.ID, offsets)
			}
			if d := offsets[0] - time.Hour; d < -3*time.Second || d > 3*time.Second {
				t.Errorf("the node's own clock read %v ahead while skewed, want about 1h", offsets[0])
			}
			if d := offsets[len(offsets)-1]; d < -3*time.Second || d > 3*time.Second {
				t.Errorf("the node's own clock read %v ahead after the reset, want about 0", d)
			}
			strobe := h.window(t, 1)
			flips := map[int64]bool{}
			for _, e := range h.events {
				if e.F == history.Observe && e.Fault != nil && e.Fault.ID == strobe.Fault.ID {
					flips[e.Fault.Offset] = true
				}
			}
			if !flips[int64(90*time.Second)] || !flips[0] {
				t.Errorf("the strobe recorded offsets %v, want both +90s and 0", flips)
			}
		}},
		{"packet-loss", func(t *testing.T, h runHistory) {
			w := h.window(t, 0)
			if !strings.Contains(w.Fault.Detail, "loss") {
				t.Errorf("fault detail %q does not say what was done", w.Fault.Detail)
			}
			// TCP hides most losses (fast retransmits), so the effect is a
			// tail of slow operations: compare it with the same length of
			// time before the fault.
			const slowAt = int64(50 * time.Millisecond)
			slow := func(from, to int64) int {
				n := 0
				for _, o := range h.ops {
					if o.Type == history.OK && o.Call >= from && o.Return <= to && o.Return-o.Call >= slowAt {
						n++
					}
				}
				return n
			}
			before := slow(0, w.Start)
			during := slow(w.Start, w.End)
			scaled := float64(before) * float64(w.End-w.Start) / float64(max(w.Start, 1))
			t.Logf("operations of 50 ms or more: %d before the fault, %d during it", before, during)
			if during < 3 || float64(during) <= 2*scaled {
				t.Errorf("%d operations took 50 ms or more while a third of the leader's packets were lost (%d before, %.1f scaled to the same length): did the loss apply?", during, before, scaled)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			store := t.TempDir()
			start := time.Now()
			code, stdout, stderr := runLab(t, "run", "../../scenarios/"+tt.scenario+".yaml", "--store", store)
			t.Logf("lab run took %s\n%s", time.Since(start).Round(time.Second), stdout)
			if code != ExitValid {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitValid, stdout, stderr)
			}
			dir, _ := filepath.EvalSymlinks(filepath.Join(store, "latest"))
			h := loadRun(t, dir)
			tt.check(t, h)
			if t.Failed() {
				report, _ := os.ReadFile(filepath.Join(dir, "report.md"))
				t.Logf("report:\n%s", report)
			}
			assertNothingLeft(t, runIDOf(t, stderr))
		})
	}
}
