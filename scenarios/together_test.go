package scenarios_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lab-chaos/lab/nemesis"
	"github.com/lab-chaos/lab/scenarios"
)

const partitionAndPause = `faults:
  - {kind: partition, shape: majority-minority, at: 5s, duration: 15s}
  - {kind: pause, target: one, at: 10s, duration: 5s, every: 12s}
`

// TestOverlapNeedsTheFlag: faults that overlap are refused, with a hint
// naming the field that allows them; with it their windows stay as
// written.
func TestOverlapNeedsTheFlag(t *testing.T) {
	_, err := parse([]byte(minimal+partitionAndPause), "o.yaml")
	if err == nil || !strings.Contains(err.Error(), "o.yaml:7:") || !strings.Contains(err.Error(), "faults[1].at: faults[1] (pause one) from 10s to 15s overlaps faults[0]") ||
		!strings.Contains(err.Error(), "schedule: {overlap: true}") {
		t.Fatalf("overlap without the flag: %v", err)
	}
	for _, sched := range []string{"schedule: {overlap: true}\n", "schedule: {mode: fixed, overlap: true}\n"} {
		s, err := parse([]byte(minimal+sched+partitionAndPause), "o.yaml")
		if err != nil {
			t.Fatalf("%s: %v", sched, err)
		}
		if !s.Schedule.Overlap || s.Schedule.Mode != "fixed" {
			t.Errorf("schedule %+v, want fixed with overlap", s.Schedule)
		}
		sec := func(n int) time.Duration { return time.Duration(n) * time.Second }
		want := []scenarios.Planned{
			{Fault: 0, Window: scenarios.Window{Start: sec(5), End: sec(20)}},
			{Fault: 1, Window: scenarios.Window{Start: sec(10), End: sec(15)}},
			{Fault: 1, Window: scenarios.Window{Start: sec(22), End: sec(27)}},
		}
		if got := s.Plan(); !reflect.DeepEqual(got, want) {
			t.Errorf("Plan()=%v, want %v", got, want)
		}
	}
	if _, err := parse([]byte(minimal+"schedule: {overlap: yes}\n"), "o.yaml"); err == nil || !strings.Contains(err.Error(), "schedule.overlap: want true or false") {
		t.Errorf("overlap: yes: %v", err)
	}
}

// TestOverlapTogether: with overlap, kinds that compose may overlap each
// other (two partitions; kills of disjoint nodes), and those that cannot
// are refused where they overlap.
func TestOverlapTogether(t *testing.T) {
	for _, tc := range []struct{ name, faults, want string }{
		{"two partitions", "  - {kind: partition, shape: isolate, at: 1s, duration: 5s}\n  - {kind: partition, shape: bridge, at: 2s, duration: 5s}\n", ""},
		{"kills of disjoint nodes", "  - {kind: kill, target: nodes, nodes: [n1], at: 1s, duration: 5s}\n  - {kind: kill, target: nodes, nodes: [n2, n3], at: 2s, duration: 5s}\n", ""},
		{"compactions", "  - {kind: compact, at: 1s, duration: 5s}\n  - {kind: compact, at: 2s, duration: 5s}\n", ""},
		{"kills of the same node", "  - {kind: kill, target: nodes, nodes: [n1], at: 1s, duration: 5s}\n  - {kind: kill, target: nodes, nodes: [n1, n2], at: 2s, duration: 5s}\n",
			"faults[1].at: faults[1] (kill n1 n2) from 2s to 7s overlaps faults[0] (kill n1) from 1s to 6s, and they cannot act together: kill n1 and kill n1 n2 may hit the same node"},
		{"a kill and a pause drawn from the seed", "  - {kind: kill, target: one, at: 1s, duration: 5s}\n  - {kind: pause, target: minority, at: 2s, duration: 5s}\n",
			"cannot act together: kill one and pause minority may hit the same node"},
		{"two clock faults", "  - {kind: clock, offset: 1s, at: 1s, duration: 5s}\n  - {kind: clock, offset: 2s, at: 2s, duration: 5s}\n",
			"two clock faults cannot be in effect at once"},
		{"a kill and a clock", "  - {kind: clock, offset: 1s, at: 1s, duration: 5s}\n  - {kind: kill, at: 2s, duration: 5s}\n",
			"kill one and clock one may hit the same node"},
		{"kills that do not overlap", "  - {kind: kill, at: 1s, duration: 5s}\n  - {kind: kill, at: 6s, duration: 5s}\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse([]byte(minimal+"schedule: {overlap: true}\nfaults:\n"+tc.faults), "t.yaml")
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// TestRandomOverlapPlan: with overlap the random schedule draws a
// timeline per fault, from the seed alone; occurrences of different
// faults overlap, never two of one fault, and none passes the limit.
func TestRandomOverlapPlan(t *testing.T) {
	src := minimal + `schedule: {mode: random, mean_interval: 2s, overlap: true}
faults:
  - {kind: partition, shape: majority-minority, duration: 3s}
  - {kind: pause, target: one, duration: 2s}
  - {kind: compact, duration: 1s}
`
	s, err := parse([]byte(src), "r.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s.Resolve(5)
	a, b := s.Plan(), s.Plan()
	if !reflect.DeepEqual(a, b) || len(a) == 0 {
		t.Fatalf("plan not repeatable or empty: %v vs %v", a, b)
	}
	lastEnd := map[int]time.Duration{}
	crossed := false
	for i, p := range a {
		if p.End > time.Duration(s.TimeLimit) || p.End-p.Start != time.Duration(s.Faults[p.Fault].Duration) {
			t.Errorf("occurrence %+v passes the time limit or lasts the wrong time", p)
		}
		if i > 0 && p.Start < a[i-1].Start {
			t.Errorf("plan not in time order at %d: %v", i, a)
		}
		if p.Start < lastEnd[p.Fault] {
			t.Errorf("occurrence %+v overlaps an earlier one of its fault", p)
		}
		lastEnd[p.Fault] = p.End
		for _, q := range a[:i] {
			if q.Fault != p.Fault && p.Start < q.End {
				crossed = true
			}
		}
	}
	if !crossed || len(lastEnd) != 3 {
		t.Errorf("a 30 s plan of 3 faults with a 2 s mean: overlap %v, faults used %d; want overlap and all 3:\n%v", crossed, len(lastEnd), a)
	}
	s2, _ := parse([]byte(src), "r.yaml")
	s2.Resolve(6)
	if reflect.DeepEqual(s2.Plan(), a) {
		t.Error("another seed gave the same plan")
	}
	// The same mix without overlap: one at a time.
	s3, _ := parse([]byte(strings.Replace(src, ", overlap: true", "", 1)), "r.yaml")
	s3.Resolve(5)
	p3 := s3.Plan()
	for i := 1; i < len(p3); i++ {
		if p3[i].Start < p3[i-1].End {
			t.Errorf("without overlap, %+v overlaps %+v", p3[i], p3[i-1])
		}
	}
}

// TestRandomOverlapRefusesWhatCannotActTogether: with the random schedule
// any two faults of the mix may overlap, so two that cannot act together
// are refused where the second is named.
func TestRandomOverlapRefusesWhatCannotActTogether(t *testing.T) {
	src := minimal + `schedule: {mode: random, mean_interval: 2s, overlap: true}
faults:
  - {kind: kill, target: one, duration: 3s}
  - {kind: partition, shape: isolate, duration: 3s}
  - {kind: pause, target: one, duration: 2s}
`
	_, err := parse([]byte(src), "r.yaml")
	want := "r.yaml:9:12: faults[2].kind: with schedule random and overlap the seed may make faults[2] (pause one) overlap faults[0] (kill one), and they cannot act together"
	if err == nil || !strings.Contains(err.Error(), want) || strings.Count(err.Error(), "\n") != 0 {
		t.Errorf("error %v, want only %q", err, want)
	}
}

// TestSequence: a sequence's steps are decoded by their own kinds, keep
// their lines, and become occurrences of their own in the nemesis' plan,
// numbered in time order with the sequence as their parent.
func TestSequence(t *testing.T) {
	s, err := load("etcd-part-kill.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sec := func(n int) scenarios.Duration { return scenarios.Duration(time.Duration(n) * time.Second) }
	want := nemesis.SequenceParams{Steps: []scenarios.Step{
		{Kind: "partition", After: 0, Duration: sec(25), Line: 32,
			Params: nemesis.Partition{Shape: nemesis.ShapeGroups, Mode: nemesis.ModeSilent, Groups: [][]string{{"n1", "n2"}, {"n3", "n4", "n5"}}}},
		{Kind: "kill", After: sec(5), Duration: sec(10), Line: 34, Params: nemesis.Target{Target: nemesis.TargetNodes, Nodes: []string{"n5"}}},
	}}
	if len(s.Faults) != 1 || !reflect.DeepEqual(s.Faults[0].Params, want) {
		t.Fatalf("faults %+v, want one sequence of %+v", s.Faults, want)
	}
	// A plain fault that starts inside the sequence takes the next ID in
	// time order.
	s.Faults = append(s.Faults, scenarios.Fault{Kind: "compact", At: sec(12), Duration: sec(2), Times: 1, Params: nemesis.AdminParams{}})
	got := nemesis.Plan(s)
	type line struct {
		id           int
		kind         string
		start, end   scenarios.Duration
		parent, step int
	}
	var lines []line
	for _, o := range got {
		lines = append(lines, line{o.ID, o.Kind, scenarios.Duration(o.Start), scenarios.Duration(o.End), o.Parent, o.Step})
	}
	wantLines := []line{
		{1, "sequence", sec(10), sec(40), 0, 0},
		{2, "partition", sec(10), sec(35), 1, 1},
		{3, "compact", sec(12), sec(14), 0, 0},
		{4, "kill", sec(15), sec(25), 1, 2},
	}
	if !reflect.DeepEqual(lines, wantLines) {
		t.Errorf("plan %+v\nwant %+v", lines, wantLines)
	}
	if l := nemesis.Label(got[3]); l != "kill n5 (step 2 of sequence 1)" {
		t.Errorf("label %q", l)
	}
}

// TestSequenceSteps: what a sequence's steps may and may not be.
func TestSequenceSteps(t *testing.T) {
	seq := func(steps string) string {
		return minimal + "faults:\n  - kind: sequence\n    at: 5s\n    duration: 20s\n    steps:\n" + steps
	}
	for _, tc := range []struct{ name, src, want string }{
		{"overlapping steps", seq("      - {kind: partition, shape: isolate, duration: 20s}\n      - {kind: pause, target: one, after: 5s, duration: 10s}\n"), ""},
		{"a step that ends with the sequence", seq("      - {kind: kill, after: 10s, duration: 10s}\n"), ""},
		{"a step beyond the sequence", seq("      - {kind: kill, after: 10s, duration: 11s}\n"),
			"f.yaml:10:44: faults[0].steps[0].duration: the step ends at 21s, after the sequence's duration 20s"},
		{"a step of a bad kind", seq("      - {kind: kil, duration: 1s}\n"), `faults[0].steps[0].kind: unknown kind "kil" (hint: did you mean "kill"?)`},
		{"a step without a duration", seq("      - {kind: kill}\n"), `faults[0].steps[0].duration: required field "duration" is missing`},
		{"a field of another kind", seq("      - {kind: kill, shape: isolate, duration: 1s}\n"), "faults[0].steps[0].shape: shape does not apply to kind kill"},
		{"a partition's node", seq("      - {kind: partition, shape: isolate, node: n7, duration: 1s}\n"), `f.yaml:10:49: faults[0].steps[0].node: node "n7" does not exist`},
		{"no steps", seq("      []\n"), "faults[0].steps: want a list of steps, got a list"},
		{"a nested sequence", seq("      - {kind: sequence, duration: 5s, steps: [{kind: kill, duration: 1s}]}\n"),
			"faults[0].steps[0].kind: a step cannot be a sequence: sequences nest one level only"},
		{"steps given to a kill", minimal + "faults:\n  - {kind: kill, at: 1s, duration: 2s, steps: []}\n", "faults[0].steps: steps does not apply to kind kill"},
		{"two kills drawn from the seed", seq("      - {kind: kill, duration: 5s}\n      - {kind: kill, after: 4s, duration: 5s}\n"),
			"faults[0].steps[1].after: faults[0].steps[1] (kill one) from +4s to +9s overlaps faults[0].steps[0] (kill one) from +0s to +5s, and they cannot act together"},
		{"two kills one after the other", seq("      - {kind: kill, duration: 5s}\n      - {kind: kill, after: 5s, duration: 5s}\n"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse([]byte(tc.src), "f.yaml")
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// TestSequenceTogether: with overlap, a step is checked against the
// faults it overlaps, as a fault of its own would be; without, the
// sequence as a whole must not overlap another fault.
func TestSequenceTogether(t *testing.T) {
	faults := `faults:
  - kind: sequence
    at: 5s
    duration: 20s
    steps:
      - {kind: partition, shape: isolate, duration: 20s}
      - {kind: pause, target: one, after: 10s, duration: 5s}
  - {kind: kill, target: one, at: 12s, duration: 5s}
`
	_, err := parse([]byte(minimal+faults), "f.yaml")
	if err == nil || !strings.Contains(err.Error(), "faults[1].at: faults[1] (kill one) from 12s to 17s overlaps faults[0] (sequence") {
		t.Errorf("without overlap: %v", err)
	}
	_, err = parse([]byte(minimal+"schedule: {overlap: true}\n"+faults), "f.yaml")
	if err == nil || !strings.Contains(err.Error(), "faults[1].at: faults[1] (kill one) from 12s to 17s overlaps faults[0].steps[1] (pause one) from 15s to 20s, and they cannot act together") {
		t.Errorf("with overlap: %v", err)
	}
	if _, err := parse([]byte(minimal+"schedule: {overlap: true}\n"+strings.Replace(faults, "at: 12s", "at: 8s", 1)), "f.yaml"); err != nil {
		t.Errorf("a kill inside the partition step, before the pause: %v", err)
	}
}
