package reports

import (
	"bytes"
	"image/png"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/logcheck"
)

func TestOutages(t *testing.T) {
	var evs []history.Event
	add := func(p int64, node string, call, done int64, typ history.Type) {
		evs = append(evs, opEvents(p, node, "write", "k", history.IntValue(1), history.IntValue(1), call*ms, done*ms, typ, "")...)
	}
	add(0, "n1", 0, 10, history.OK)
	add(1, "n1", 1000, 2000, history.Info) // n1 down from 1.0 s...
	add(2, "n1", 1500, 1510, history.Fail)
	add(3, "n1", 2100, 3100, history.Info)
	add(4, "n1", 3200, 3300, history.OK) // ...to 3.3 s
	add(5, "n2", 0, 10, history.OK)
	add(6, "n2", 1200, 1300, history.Fail) // one failure is no outage
	add(7, "n2", 2000, 2010, history.OK)
	add(8, "n3", 500, 1500, history.Info) // n3: never back
	add(9, "n3", 1600, 1700, history.Fail)
	add(10, "n3", 1800, 1900, history.Fail)
	sortEvents(evs)
	ops, _, _ := history.Pair(evs)
	tests := []struct {
		node string
		want []outage
	}{
		{"n1", []outage{{Node: "n1", From: 1000 * ms, To: 3300 * ms, Fail: 1, Unknown: 2}}},
		{"n2", nil},
		{"n3", []outage{{Node: "n3", From: 500 * ms, To: 4000 * ms, Fail: 2, Unknown: 1}}},
		{"", []outage{{From: 500 * ms, To: 2010 * ms, Fail: 4, Unknown: 2}}}, // no success anywhere from 0.5 s to 2.01 s
	}
	for _, tt := range tests {
		if got := outages(ops, tt.node, 4000*ms); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("outages(%q)=%+v, want %+v", tt.node, got, tt.want)
		}
	}
}

func TestLeaderChanges(t *testing.T) {
	ev := func(node string, term int64, at time.Duration) logEvent {
		return logEvent{Finding: logcheck.Finding{Node: node, Kind: logcheck.LeaderChange, Term: term}, At: int64(at), Timed: true}
	}
	got := leaderChanges([]logEvent{ev("n1", 2, 100*time.Millisecond), ev("n2", 2, 110*time.Millisecond), ev("n1", 2, 120*time.Millisecond),
		ev("n3", 2, 20*time.Second), ev("n2", 3, 21*time.Second)})
	var s []string
	for _, e := range got {
		s = append(s, e.Node+"@"+at(e.At))
	}
	if want := "n1, n2@0.100 n3@20.000 n2@21.000"; strings.Join(s, " ") != want {
		t.Errorf("leaderChanges=%q, want %q", strings.Join(s, " "), want)
	}
}

func TestSideOf(t *testing.T) {
	g := [][]string{{"n3"}, {"n1", "n2"}}
	for node, want := range map[string]string{
		"n3": "on a minority side {n3} of the partition, cut off from {n1 n2}",
		"n1": "on the majority side {n1 n2} of the partition, cut off from {n3}",
		"n9": "",
	} {
		if got := sideOf(g, node, 3); got != want {
			t.Errorf("sideOf(%s)=%q, want %q", node, got, want)
		}
	}
}

func TestFactorsAndHeld(t *testing.T) {
	run := syntheticRun()
	run.Workload = "register, serializable reads"
	run.LogsChecked = true
	v := newView(run)
	f := strings.Join(v.Anoms[0].Factors, "\n")
	for _, want := range []string{"partition (majority-minority)", "was in effect while the operations involved ran", "serializable"} {
		if !strings.Contains(f, want) {
			t.Errorf("factors lack %q:\n%s", want, f)
		}
	}
	held := strings.Join(v.Held, "\n")
	if !strings.Contains(held, "no panic, fatal error or data race") {
		t.Errorf("what held lacks the clean logs:\n%s", held)
	}
	for _, text := range append(append([]string{}, v.Anoms[0].Factors...), append(v.Held, v.FollowUps...)...) {
		for _, word := range []string{"cause", "blame", "should have", "if only", "failed to"} {
			if strings.Contains(strings.ToLower(text), word) {
				t.Errorf("%q uses %q", text, word)
			}
		}
	}
}

func TestHeldRecoveryOnlyWhenBoth(t *testing.T) {
	v := &view{Class: Unknown, run: &Run{}, windows: []history.Window{{Start: 1, End: 2, Healed: true}},
		Recovery: []recoveryView{{Result: "0.00 s (baseline 60 ok/s)", Success: "1.22 s (baseline 100% ok)"}}}
	if held := strings.Join(v.held(), "\n"); strings.Contains(held, "at once") {
		t.Errorf("held() claims an immediate recovery when the success rate took 1.22 s:\n%s", held)
	}
}

func TestClockPlot(t *testing.T) {
	run := syntheticRun()
	f := &history.Fault{ID: 9, Kind: "clock", Shape: "skew", Offset: int64(-250 * time.Millisecond)}
	run.Events = append(run.Events,
		history.Event{Time: 5000 * ms, Process: history.Nemesis, Type: history.Info, F: history.FaultStart, Node: "n1,n2", Fault: f},
		history.Event{Time: 9000 * ms, Process: history.Nemesis, Type: history.Info, F: history.FaultEnd, Node: "n1,n2", Fault: f})
	sortEvents(run.Events)
	steps := clockSteps(run.Events, 30000*ms)
	if len(steps) != 2 || len(steps["n1"]) != 4 || steps["n1"][1].Y != -250 || steps["n2"][2].X != 9 {
		t.Errorf("clockSteps=%v, want n1 and n2 at -250 ms from 5 s to 9 s", steps)
	}
	dir := t.TempDir()
	if err := Write(dir, run); err != nil {
		t.Fatal(err)
	}
	if img, err := png.Decode(bytes.NewReader(readFile(t, filepath.Join(dir, ClockFile)))); err != nil || img.Bounds().Dx() != PlotWidth {
		t.Errorf("clock.png: %v", err)
	}
	if svg := readFile(t, filepath.Join(dir, "clock.svg")); !bytes.Contains(svg, []byte("<svg")) {
		t.Error("clock.svg is not SVG")
	}
	if md := string(readFile(t, filepath.Join(dir, MarkdownFile))); !strings.Contains(md, "(clock.png)") {
		t.Error("report.md does not show the clock plot")
	}
	if err := Write(t.TempDir(), syntheticRun()); err != nil {
		t.Fatal(err)
	}
}
