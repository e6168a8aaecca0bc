package reports

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/lab-chaos/lab/history"
)

const sec = int64(time.Second)

// mkOp is an operation called at call that completed at done with typ;
// an info op keeps Return at MaxInt64 as history.Pair does.
func mkOp(node string, typ history.Type, call, done int64) history.Op {
	op := history.Op{Node: node, Type: typ, Call: call, Return: done, Completed: done}
	if typ == history.Info {
		op.Return = math.MaxInt64
	}
	return op
}

func window(start, end int64) history.Window {
	return history.Window{Fault: history.Fault{Kind: "partition"}, Start: start, End: end, Healed: end >= 0}
}

func TestPercentile(t *testing.T) {
	seq := func(n int) []int64 {
		s := make([]int64, n)
		for i := range s {
			s[i] = int64(i + 1)
		}
		return s
	}
	for _, tc := range []struct {
		name string
		in   []int64
		p    float64
		want int64
	}{
		{"empty", nil, 50, 0},
		{"one", []int64{7}, 99, 7},
		{"median of 10", seq(10), 50, 5},
		{"p99 of 10", seq(10), 99, 10},
		{"p99 of 100", seq(100), 99, 99},
		{"p99 of 1000", seq(1000), 99, 990},
		{"p25 of 4", []int64{10, 20, 30, 40}, 25, 10},
		{"p50 of 4", []int64{10, 20, 30, 40}, 50, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.in, tc.p); got != tc.want {
				t.Errorf("percentile(%v, %v) = %d, want %d", tc.in, tc.p, got, tc.want)
			}
		})
	}
}

func TestCountByNode(t *testing.T) {
	ops := []history.Op{
		mkOp("n2", history.OK, 0, 1), mkOp("n2", history.Fail, 0, 1), mkOp("n1", history.Info, 0, 1),
		mkOp("", history.OK, 0, 1), mkOp("n9", history.Info, 0, -1),
	}
	got := countByNode(ops, []string{"n1", "n2", "n3", "n1"})
	want := []nodeCounts{
		{"n1", counts{1, 0, 0, 1}},
		{"n2", counts{2, 1, 1, 0}},
		{"n3", counts{}},
		{"(none)", counts{1, 1, 0, 0}},
		{"n9", counts{1, 0, 0, 1}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("countByNode = %+v, want %+v", got, want)
	}
}

func TestSpanUnion(t *testing.T) {
	got := spanUnion([]history.Window{window(30, 40), window(10, 20), window(15, 25), window(45, -1)}, 50)
	want := [][2]int64{{10, 25}, {30, 40}, {45, 50}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("spanUnion = %v, want %v", got, want)
	}
}

func TestPhases(t *testing.T) {
	ops := []history.Op{
		mkOp("n1", history.OK, 5, 7),
		mkOp("n1", history.OK, 12, 22),
		mkOp("n1", history.Fail, 15, 16),
		mkOp("n1", history.OK, 25, 29),
		mkOp("n1", history.Info, 35, 45),
		mkOp("n1", history.OK, 45, 51),
	}
	type row struct {
		name     string
		spans    [][2]int64
		c        counts
		p50, p99 int64
	}
	for _, tc := range []struct {
		name    string
		windows []history.Window
		want    []row
	}{
		{"no faults", nil, []row{
			{phaseWhole, [][2]int64{{0, 50}}, counts{6, 4, 1, 1}, 4, 10},
		}},
		{"two healed faults", []history.Window{window(10, 20), window(30, 40)}, []row{
			{phaseBefore, [][2]int64{{0, 10}}, counts{1, 1, 0, 0}, 2, 2},
			{phaseDuring, [][2]int64{{10, 20}, {30, 40}}, counts{3, 1, 1, 1}, 10, 10},
			{phaseBetween, [][2]int64{{20, 30}}, counts{1, 1, 0, 0}, 4, 4},
			{phaseAfter, [][2]int64{{40, 50}}, counts{1, 1, 0, 0}, 6, 6},
		}},
		{"never healed", []history.Window{window(10, -1)}, []row{
			{phaseBefore, [][2]int64{{0, 10}}, counts{1, 1, 0, 0}, 2, 2},
			{phaseDuring, [][2]int64{{10, 50}}, counts{5, 3, 1, 1}, 6, 10},
		}},
		{"fault at the start", []history.Window{window(0, 20)}, []row{
			{phaseDuring, [][2]int64{{0, 20}}, counts{3, 2, 1, 0}, 2, 10},
			{phaseAfter, [][2]int64{{20, 50}}, counts{3, 2, 0, 1}, 4, 6},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []row
			for _, p := range phases(ops, tc.windows, 50) {
				got = append(got, row{p.Name, p.Spans, p.counts, p.P50, p.P99})
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("phases =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

// every returns ok ops completing every 100 ms in [from, to).
func every(from, to int64) []history.Op {
	var ops []history.Op
	for t := from; t < to; t += sec / 10 {
		ops = append(ops, mkOp("n1", history.OK, t-sec/1000, t))
	}
	return ops
}

func TestRecoveries(t *testing.T) {
	type result struct {
		baseline  float64
		recovered bool
		after     int64
		note      bool
	}
	for _, tc := range []struct {
		name    string
		ops     []history.Op
		windows []history.Window
		want    []result
	}{
		{
			// 10 ok/s before, nothing during, 10 ok/s again from 8.5 s: the
			// eighth completion after the heal (9.2 s) fills the 1 s window.
			"back after a gap",
			append(every(0, 5*sec), every(8*sec+sec/2, 12*sec)...),
			[]history.Window{window(5*sec, 8*sec)},
			[]result{{10, true, 1200 * time.Millisecond.Nanoseconds(), false}},
		},
		{
			"unaffected",
			every(0, 12*sec),
			[]history.Window{window(5*sec, 8*sec)},
			[]result{{10, true, 0, false}},
		},
		{
			"never back",
			append(every(0, 5*sec), every(9*sec, 9*sec+sec/2)...),
			[]history.Window{window(5*sec, 8*sec)},
			[]result{{10, false, 0, false}},
		},
		{
			// Only 2 s before the fault: the baseline is over those 2 s.
			"short baseline",
			append(every(0, 2*sec), every(3*sec, 6*sec)...),
			[]history.Window{window(2*sec, 3*sec)},
			[]result{{10, true, 700 * time.Millisecond.Nanoseconds(), false}},
		},
		{
			"fault at time zero, one unhealed",
			every(0, 6*sec),
			[]history.Window{window(0, sec), window(3*sec, -1)},
			[]result{{0, false, 0, true}},
		},
		{
			"nothing ok before",
			every(6*sec, 8*sec),
			[]history.Window{window(3*sec, 4*sec)},
			[]result{{0, false, 0, true}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []result
			for _, r := range recoveries(tc.ops, tc.windows, 12*sec) {
				got = append(got, result{r.Baseline, r.Recovered, r.After, r.Note != ""})
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("recoveries = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestErrorBursts(t *testing.T) {
	var ops []history.Op
	add := func(typ history.Type, n int, at int64) {
		for range n {
			ops = append(ops, mkOp("n1", typ, at-1, at))
		}
	}
	add(history.Fail, 6, 100)                              // second 0: 6 errors of 6
	add(history.Fail, 3, sec+100)                          // second 1: 6 errors of 10
	add(history.Info, 3, sec+200)                          //
	add(history.OK, 4, sec+300)                            //
	add(history.Fail, 5, 2*sec+100)                        // second 2: 5 errors of 11: no
	add(history.OK, 6, 2*sec+200)                          //
	add(history.Fail, 4, 3*sec+100)                        // second 3: 4 errors: too few
	add(history.Info, 5, 5*sec+100)                        // second 5: a burst of its own
	ops = append(ops, mkOp("n1", history.Info, 5*sec, -1)) // never returned: not counted
	got := errorBursts(ops)
	want := []burst{
		{From: 0, To: 2 * sec, Fail: 9, Unknown: 3, Of: 16},
		{From: 5 * sec, To: 6 * sec, Fail: 0, Unknown: 5, Of: 5},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("errorBursts = %+v, want %+v", got, want)
	}
}

func TestTimeline(t *testing.T) {
	failed := window(2*sec, 3*sec)
	failed.Fault.Error = "nft: permission denied"
	windows := []history.Window{window(5*sec, 8*sec), failed, window(9*sec, -1)}
	anomalies := []Anomaly{
		{Kind: "stale read", Key: "k2", Time: 7 * sec},
		{Kind: "stale read", Key: "k1", Time: 6 * sec},
		{Kind: "lost write", Time: 10 * sec},
	}
	bursts := []burst{{From: 5 * sec, To: 6 * sec, Fail: 1, Unknown: 4, Of: 5}}
	var got []timelineRow
	got = append(got, timeline(windows, bursts, anomalies)...)
	want := []timelineRow{
		{2 * sec, "fault injected: partition", ""},
		{3 * sec, "heal failed: partition", "nft: permission denied"},
		{5 * sec, "fault injected: partition", ""},
		{5 * sec, "error burst", "5.0–6.0 s: 1 failed and 4 unknown of 5 completed"},
		{6 * sec, "first anomaly", "stale read on key k1"},
		{8 * sec, "fault healed: partition", "after 3.0 s"},
		{9 * sec, "fault injected: partition", ""},
		{10 * sec, "last anomaly", "lost write"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("timeline =\n%+v\nwant\n%+v", got, want)
	}
}

func TestFaultsAt(t *testing.T) {
	windows := []history.Window{window(1, 3), window(2, -1)}
	for _, tc := range []struct {
		at   int64
		want int
	}{{0, 0}, {1, 1}, {2, 2}, {3, 1}, {100, 1}} {
		if got := len(faultsAt(windows, tc.at)); got != tc.want {
			t.Errorf("len(faultsAt(%d)) = %d, want %d", tc.at, got, tc.want)
		}
	}
}
