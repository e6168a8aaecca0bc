package reports

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/lab-chaos/lab/history"
)

// counts are operations by outcome.
type counts struct {
	Attempted, OK, Fail, Unknown int
}

func (c *counts) add(op history.Op) {
	c.Attempted++
	switch op.Type {
	case history.OK:
		c.OK++
	case history.Fail:
		c.Fail++
	default:
		c.Unknown++
	}
}

func countOps(ops []history.Op) counts {
	var c counts
	for _, op := range ops {
		c.add(op)
	}
	return c
}

// nodeCounts is one row of the impact-by-node table.
type nodeCounts struct {
	Node string
	counts
}

// countByNode counts operations per node: the nodes given first, in their
// order (with zero rows for nodes that saw no operation), then any other node
// seen in ops, sorted; operations with no node go under "(none)".
func countByNode(ops []history.Op, nodes []string) []nodeCounts {
	byNode := map[string]*counts{}
	var order, extra []string
	for _, n := range nodes {
		if byNode[n] == nil {
			byNode[n] = &counts{}
			order = append(order, n)
		}
	}
	for _, op := range ops {
		n := cmp.Or(op.Node, "(none)")
		if byNode[n] == nil {
			byNode[n] = &counts{}
			extra = append(extra, n)
		}
		byNode[n].add(op)
	}
	slices.Sort(extra)
	var out []nodeCounts
	for _, n := range append(order, extra...) {
		out = append(out, nodeCounts{n, *byNode[n]})
	}
	return out
}

// percentile is the nearest-rank p-th percentile (0 < p <= 100) of sorted
// values: the smallest value with at least p% of the values at or below it.
// It returns 0 for no values.
func percentile(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// The phases of a run relative to its fault schedule.
const (
	phaseWhole   = "whole run (no faults)"
	phaseBefore  = "before the first fault"
	phaseDuring  = "during faults"
	phaseBetween = "between faults"
	phaseAfter   = "after the last heal"
)

// phase is one row of the impact-by-phase table. Operations belong to the
// phase their invocation falls in.
type phase struct {
	Name string
	// Spans are the time ranges of the phase, [from, to) in ns.
	Spans [][2]int64
	counts
	// P50 and P99 are latencies of the phase's ok operations, in ns; valid
	// when counts.OK > 0.
	P50, P99 int64
}

// spanUnion merges the fault windows into disjoint ranges, an unhealed
// window running to end.
func spanUnion(windows []history.Window, end int64) [][2]int64 {
	var spans [][2]int64
	for _, w := range windows {
		e := w.End
		if e < 0 {
			e = max(end, w.Start)
		}
		spans = append(spans, [2]int64{w.Start, e})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i][0] < spans[j][0] })
	var out [][2]int64
	for _, s := range spans {
		if n := len(out); n > 0 && s[0] <= out[n-1][1] {
			out[n-1][1] = max(out[n-1][1], s[1])
			continue
		}
		out = append(out, s)
	}
	return out
}

// phases splits ops by the fault windows: before the first fault (unless
// it started at time zero), during
// any fault, between faults (only when there is a gap between windows),
// after the last heal (only when every fault was healed). With no fault the
// whole run is one phase. end is the end of the record, in ns.
func phases(ops []history.Op, windows []history.Window, end int64) []phase {
	during := spanUnion(windows, end)
	if len(during) == 0 {
		return []phase{phaseOf(phaseWhole, [][2]int64{{0, end}}, ops)}
	}
	first, last := during[0][0], during[len(during)-1][1]
	healed := true
	for _, w := range windows {
		if w.End < 0 {
			healed = false
		}
	}
	var between [][2]int64
	for i := 1; i < len(during); i++ {
		between = append(between, [2]int64{during[i-1][1], during[i][0]})
	}
	in := func(t int64, spans [][2]int64) bool {
		for _, s := range spans {
			if t >= s[0] && t < s[1] {
				return true
			}
		}
		return false
	}
	var before, dur, betw, after []history.Op
	for _, op := range ops {
		switch {
		case op.Call < first:
			before = append(before, op)
		case in(op.Call, during):
			dur = append(dur, op)
		case op.Call >= last && healed:
			after = append(after, op)
		case in(op.Call, between):
			betw = append(betw, op)
		default: // at or after an unhealed window's nominal end
			dur = append(dur, op)
		}
	}
	var out []phase
	if first > 0 {
		out = append(out, phaseOf(phaseBefore, [][2]int64{{0, first}}, before))
	}
	out = append(out, phaseOf(phaseDuring, during, dur))
	if len(between) > 0 {
		out = append(out, phaseOf(phaseBetween, between, betw))
	}
	if healed {
		out = append(out, phaseOf(phaseAfter, [][2]int64{{last, max(end, last)}}, after))
	}
	return out
}

func phaseOf(name string, spans [][2]int64, ops []history.Op) phase {
	p := phase{Name: name, Spans: spans, counts: countOps(ops)}
	lat := okLatencies(ops)
	p.P50, p.P99 = percentile(lat, 50), percentile(lat, 99)
	return p
}

// okLatencies are the latencies of the ok operations, sorted.
func okLatencies(ops []history.Op) []int64 {
	var lat []int64
	for _, op := range ops {
		if op.Type == history.OK {
			lat = append(lat, op.Return-op.Call)
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat
}

// Recovery is measured against the rate of ok operations in this long a
// window before the fault, over a sliding window this long after the heal.
const (
	baselineWindow   = 5 * time.Second
	recoveryWindow   = 1 * time.Second
	recoveryFraction = 0.8
)

// recovery is how the ok rate came back after one heal.
type recovery struct {
	Window history.Window
	// Baseline is the ok rate (per second) before the fault started; valid
	// when Note is empty.
	Baseline float64
	// Recovered says whether the rate came back within the run, After
	// nanoseconds after the heal.
	Recovered bool
	After     int64
	// Note explains a recovery that could not be measured.
	Note string
}

// recoveries measures, for each healed window, the time from the heal until
// the number of ok completions in a sliding 1 s window (t-1s, t] first
// reaches 80% of the ok rate over the 5 s before the fault started. end is
// the end of the record; a rate that never comes back by then did not
// recover within the run.
func recoveries(ops []history.Op, windows []history.Window, end int64) []recovery {
	var done []int64 // ok completion times, sorted
	for _, op := range ops {
		if op.Type == history.OK {
			done = append(done, op.Return)
		}
	}
	sort.Slice(done, func(i, j int) bool { return done[i] < done[j] })
	// in counts completions in (from, to].
	in := func(from, to int64) int {
		return sort.Search(len(done), func(i int) bool { return done[i] > to }) -
			sort.Search(len(done), func(i int) bool { return done[i] > from })
	}
	var out []recovery
	for _, w := range windows {
		if w.End < 0 {
			continue
		}
		r := recovery{Window: w}
		from := max(w.Start-int64(baselineWindow), 0)
		if w.Start-from <= 0 {
			r.Note = "no time before the fault to compare with"
			out = append(out, r)
			continue
		}
		// [from, start): completions at from count, at start do not.
		n := in(from-1, w.Start-1)
		r.Baseline = float64(n) / (float64(w.Start-from) / float64(time.Second))
		if n == 0 {
			r.Note = "no successful operations in the 5 s before the fault to compare with"
			out = append(out, r)
			continue
		}
		need := recoveryFraction * r.Baseline * recoveryWindow.Seconds()
		check := func(t int64) bool {
			return float64(in(t-int64(recoveryWindow), t)) >= need
		}
		if check(w.End) {
			r.Recovered = true
		} else {
			for i := sort.Search(len(done), func(i int) bool { return done[i] >= w.End }); i < len(done) && done[i] <= end; i++ {
				if check(done[i]) {
					r.Recovered, r.After = true, done[i]-w.End
					break
				}
			}
		}
		out = append(out, r)
	}
	return out
}

// burst is a stretch of whole seconds in which most completions were errors.
type burst struct {
	From, To          int64 // [From, To) in ns, on second boundaries
	Fail, Unknown, Of int
}

// Burst thresholds: a second is part of a burst when at least this many
// completions in it were errors and they were at least half of them.
const burstMinErrors = 5

// errorBursts finds runs of consecutive seconds in which fail and info
// completions were at least half of all completions and at least
// burstMinErrors. Info ops that never completed are not counted.
func errorBursts(ops []history.Op) []burst {
	type bucket struct{ fail, unknown, all int }
	buckets := map[int64]*bucket{}
	for _, op := range ops {
		if op.Completed < 0 {
			continue
		}
		s := op.Completed / int64(time.Second)
		b := buckets[s]
		if b == nil {
			b = &bucket{}
			buckets[s] = b
		}
		b.all++
		switch op.Type {
		case history.Fail:
			b.fail++
		case history.Info:
			b.unknown++
		}
	}
	var secs []int64
	for s, b := range buckets {
		if e := b.fail + b.unknown; e >= burstMinErrors && 2*e >= b.all {
			secs = append(secs, s)
		}
	}
	sort.Slice(secs, func(i, j int) bool { return secs[i] < secs[j] })
	var out []burst
	for _, s := range secs {
		b := buckets[s]
		if n := len(out); n > 0 && out[n-1].To == s*int64(time.Second) {
			out[n-1].To += int64(time.Second)
			out[n-1].Fail += b.fail
			out[n-1].Unknown += b.unknown
			out[n-1].Of += b.all
			continue
		}
		out = append(out, burst{From: s * int64(time.Second), To: (s + 1) * int64(time.Second),
			Fail: b.fail, Unknown: b.unknown, Of: b.all})
	}
	return out
}

// timelineRow is one line of the timeline table.
type timelineRow struct {
	Time   int64
	What   string
	Detail string
}

// timeline orders fault injections and heals, error bursts and the first
// and last anomaly by time.
func timeline(windows []history.Window, bursts []burst, anomalies []Anomaly) []timelineRow {
	var rows []timelineRow
	for _, w := range windows {
		rows = append(rows, timelineRow{w.Start, "fault injected: " + faultName(w.Fault), faultDetail(w.Fault)})
		switch {
		case w.End < 0:
		case w.Fault.Error != "":
			rows = append(rows, timelineRow{w.End, "heal failed: " + faultName(w.Fault), w.Fault.Error})
		default:
			rows = append(rows, timelineRow{w.End, "fault healed: " + faultName(w.Fault),
				fmt.Sprintf("after %s", seconds(w.End-w.Start))})
		}
	}
	for _, b := range bursts {
		rows = append(rows, timelineRow{b.From, "error burst",
			fmt.Sprintf("%s: %d failed and %d unknown of %d completed", spanText(b.From, b.To), b.Fail, b.Unknown, b.Of)})
	}
	if len(anomalies) > 0 {
		first, last := anomalies[0], anomalies[0]
		for _, a := range anomalies[1:] {
			if a.Time < first.Time {
				first = a
			}
			if a.Time > last.Time {
				last = a
			}
		}
		if len(anomalies) == 1 {
			rows = append(rows, timelineRow{first.Time, "anomaly", anomalyLine(first)})
		} else {
			rows = append(rows, timelineRow{first.Time, "first anomaly", anomalyLine(first)},
				timelineRow{last.Time, "last anomaly", anomalyLine(last)})
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Time < rows[j].Time })
	return rows
}

// faultsAt lists the windows in effect at t.
func faultsAt(windows []history.Window, t int64) []history.Window {
	var out []history.Window
	for _, w := range windows {
		if t >= w.Start && (w.End < 0 || t < w.End) {
			out = append(out, w)
		}
	}
	return out
}

// endOf is the time of the last event, the end of the record.
func endOf(events []history.Event) int64 {
	var end int64
	for _, e := range events {
		end = max(end, e.Time)
	}
	return end
}

func faultName(f history.Fault) string {
	name := f.Kind
	if name == "" {
		name = "fault"
	}
	if f.Shape != "" {
		name += " (" + f.Shape + ")"
	}
	return name
}

func faultDetail(f history.Fault) string {
	var parts []string
	if len(f.Groups) > 0 {
		parts = append(parts, groupsText(f.Groups))
	}
	if f.Detail != "" {
		parts = append(parts, f.Detail)
	}
	return strings.Join(parts, "; ")
}

// groupsText renders partition sides as "n1 n2 | n3".
func groupsText(groups [][]string) string {
	sides := make([]string, len(groups))
	for i, g := range groups {
		sides[i] = strings.Join(g, " ")
	}
	return strings.Join(sides, " | ")
}

func anomalyLine(a Anomaly) string {
	s := a.Kind
	if a.Key != "" {
		s += " on key " + a.Key
	}
	return s
}

// seconds renders a duration in ns as seconds with one decimal.
func seconds(ns int64) string { return fmt.Sprintf("%.1f s", float64(ns)/1e9) }

// at renders a time since the start in seconds with three decimals.
func at(ns int64) string { return fmt.Sprintf("%.3f", float64(ns)/1e9) }

func spanText(from, to int64) string {
	return fmt.Sprintf("%.1f–%.1f s", float64(from)/1e9, float64(to)/1e9)
}

// millis renders a latency in ns for people.
func millis(ns int64) string {
	switch d := float64(ns) / 1e6; {
	case d >= 1000:
		return fmt.Sprintf("%.2f s", d/1000)
	case d >= 10:
		return fmt.Sprintf("%.0f ms", d)
	default:
		return fmt.Sprintf("%.1f ms", d)
	}
}

// nodeNames are the nodes given, then any other node seen in ops, sorted.
func nodeNames(ops []history.Op, nodes []string) []string {
	var out []string
	for _, c := range countByNode(ops, nodes) {
		if c.Node != "(none)" {
			out = append(out, c.Node)
		}
	}
	return out
}
