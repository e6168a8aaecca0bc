package reports

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/logcheck"
)

// An outage is a stretch in which no operation (on one node, or anywhere)
// succeeded: between two successive ok completions (or the last one and the
// end of the record), at least outageMinOps operations failed or ended
// unknown, over at least outageMin.
const (
	outageMin    = time.Second
	outageMinOps = 3
)

// outage is one window of unavailability.
type outage struct {
	Node          string // "" for the whole system
	From, To      int64
	Fail, Unknown int
}

// outages finds the windows in which no operation sent to node (to any
// node when node is "") succeeded. A window starts at the later of the last
// ok completion and the first invocation of an operation that then failed
// or ended unknown, and ends at the next ok completion (or the end of the
// record, end).
func outages(ops []history.Op, node string, end int64) []outage {
	var oks []int64
	type bad struct {
		call, at int64
		fail     bool
	}
	var bads []bad
	for _, op := range ops {
		if node != "" && op.Node != node {
			continue
		}
		switch {
		case op.Type == history.OK:
			oks = append(oks, op.Return)
		case op.Completed >= 0:
			bads = append(bads, bad{op.Call, op.Completed, op.Type == history.Fail})
		default:
			bads = append(bads, bad{op.Call, op.Call, false}) // never returned
		}
	}
	sort.Slice(oks, func(i, j int) bool { return oks[i] < oks[j] })
	// Group the failures by the gap between ok completions they end in.
	gaps := map[int]*outage{} // index of the next ok completion -> outage
	var order []int
	for _, b := range bads {
		i := sort.Search(len(oks), func(i int) bool { return oks[i] > b.at })
		o := gaps[i]
		if o == nil {
			from := int64(0)
			if i > 0 {
				from = oks[i-1]
			}
			to := end
			if i < len(oks) {
				to = oks[i]
			}
			o = &outage{Node: node, From: max(from, b.call), To: to}
			gaps[i] = o
			order = append(order, i)
		}
		if i > 0 {
			o.From = min(o.From, max(oks[i-1], b.call))
		} else {
			o.From = min(o.From, b.call)
		}
		if b.fail {
			o.Fail++
		} else {
			o.Unknown++
		}
	}
	sort.Ints(order)
	var out []outage
	for _, i := range order {
		o := gaps[i]
		if o.Fail+o.Unknown >= outageMinOps && o.To-o.From >= int64(outageMin) {
			out = append(out, *o)
		}
	}
	return out
}

// windowOps are the operations invoked while w was in effect.
func windowOps(ops []history.Op, w history.Window, end int64) []history.Op {
	e := w.End
	if e < 0 {
		e = max(end, w.Start) + 1
	}
	var in []history.Op
	for _, op := range ops {
		if op.Call >= w.Start && op.Call < e {
			in = append(in, op)
		}
	}
	return in
}

// successRecovery is how the share of successful completions came back
// after one heal.
type successRecovery struct {
	Baseline  float64 // share of ok among completions before the fault
	Recovered bool
	After     int64
	Note      string
}

// successSlack is how far below its earlier level the success rate may be
// and still count as back: 5 percentage points.
const successSlack = 0.05

// recoverSuccess measures, for a healed window, the time from the heal until
// the share of ok among the completions in a sliding 1 s window (t-1s, t]
// (at least outageMinOps of them) was back within successSlack of its share
// in the 5 s before the fault.
func recoverSuccess(ops []history.Op, w history.Window, end int64) successRecovery {
	type done struct {
		t  int64
		ok bool
	}
	var ds []done
	for _, op := range ops {
		if op.Completed >= 0 {
			ds = append(ds, done{op.Completed, op.Type == history.OK})
		}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i].t < ds[j].t })
	share := func(from, to int64) (float64, int) { // (from, to]
		ok, all := 0, 0
		i := sort.Search(len(ds), func(i int) bool { return ds[i].t > from })
		for ; i < len(ds) && ds[i].t <= to; i++ {
			all++
			if ds[i].ok {
				ok++
			}
		}
		if all == 0 {
			return 0, 0
		}
		return float64(ok) / float64(all), all
	}
	var r successRecovery
	from := max(w.Start-int64(baselineWindow), 0)
	b, n := share(from-1, w.Start-1)
	if n == 0 {
		r.Note = "no completed operations in the 5 s before the fault to compare with"
		return r
	}
	r.Baseline = b
	check := func(t int64) bool {
		s, n := share(t-int64(recoveryWindow), t)
		return n >= outageMinOps && s >= b-successSlack
	}
	if check(w.End) {
		r.Recovered = true
		return r
	}
	for i := sort.Search(len(ds), func(i int) bool { return ds[i].t >= w.End }); i < len(ds) && ds[i].t <= end; i++ {
		if check(ds[i].t) {
			r.Recovered, r.After = true, ds[i].t-w.End
			return r
		}
	}
	return r
}

// logEvent is a log finding placed on the run's clock.
type logEvent struct {
	logcheck.Finding
	At    int64 // ns since the start (negative: before the workload began)
	Timed bool  // false when the line has no time: At means nothing
}

// logEvents places the findings on the run's clock: started is the wall
// time of time zero.
func logEvents(fs []logcheck.Finding, started time.Time) []logEvent {
	var out []logEvent
	for _, f := range fs {
		e := logEvent{Finding: f}
		if !f.Time.IsZero() && !started.IsZero() {
			e.At, e.Timed = int64(f.Time.Sub(started)), true
		}
		out = append(out, e)
	}
	return out
}

// leaderChanges merges the leader lines of one raft term logged within
// leaderGap of each other (by several nodes, or twice by one) into one
// event with the nodes that logged it; lines without a term or a time stay
// as they are.
func leaderChanges(evs []logEvent) []logEvent {
	const leaderGap = 2 * int64(time.Second)
	last := map[int64]int{} // term -> index in out of its latest group
	var out []logEvent
	for _, e := range evs {
		if e.Kind != logcheck.LeaderChange {
			continue
		}
		if e.Term == 0 || !e.Timed {
			out = append(out, e)
			continue
		}
		if i, ok := last[e.Term]; ok && e.At-out[i].At <= leaderGap && out[i].At-e.At <= leaderGap {
			if !slices.Contains(strings.Split(out[i].Node, ", "), e.Node) {
				out[i].Node += ", " + e.Node
			}
			out[i].At = min(out[i].At, e.At)
			continue
		}
		last[e.Term] = len(out)
		out = append(out, e)
	}
	return out
}

// factors lists the conditions that overlapped an anomaly: faults in effect
// while its operations ran or when it was observed, which side of a
// partition each involved node was on, outages, leader changes and log
// problems near it, and the workload's read mode.
func (v *view) factors(a Anomaly) []string {
	from, to := a.Time, a.Time
	nodes := map[string]string{} // node -> what it did
	for _, op := range a.Ops {
		from = min(from, op.Call)
		e := op.Return
		if op.Type == history.Info {
			e = max(op.Completed, op.Call)
		}
		to = max(to, e)
		if op.Node != "" && nodes[op.Node] == "" {
			nodes[op.Node] = op.F
		}
	}
	var out []string
	for _, w := range v.windows {
		wEnd := w.End
		if wEnd < 0 {
			wEnd = v.end + 1
		}
		if w.Start > to || wEnd < from {
			continue
		}
		s := fmt.Sprintf("The fault %s (injected at %s s", faultName(w.Fault), at(w.Start))
		if w.End >= 0 {
			s += fmt.Sprintf(", healed at %s s)", at(w.End))
		} else {
			s += ", not healed)"
		}
		s += " was in effect while the operations involved ran."
		out = append(out, s)
		for _, n := range sortedKeys(nodes) {
			if side := sideOf(w.Fault.Groups, n, len(v.run.Nodes)); side != "" {
				out = append(out, fmt.Sprintf("Node %s, which served a %s involved, was %s.", n, nodes[n], side))
			}
		}
	}
	for _, o := range v.outages {
		if o.From <= to && o.To >= from {
			who := "the whole system"
			if o.Node != "" {
				who = "node " + o.Node
			}
			out = append(out, fmt.Sprintf("No operation on %s succeeded from %s to %s s.", who, at(o.From), at(o.To)))
		}
	}
	for _, e := range v.leaders {
		if e.Timed && e.At >= from-int64(2*time.Second) && e.At <= to+int64(time.Second) {
			out = append(out, fmt.Sprintf("The raft leader of term %d was reported at %s s by %s (a new leader, or a node learning of it).", e.Term, at(e.At), e.Node))
		}
	}
	for _, e := range v.logs {
		if e.Kind.Problem() && e.Timed && e.At >= from-int64(2*time.Second) && e.At <= to+int64(time.Second) {
			out = append(out, fmt.Sprintf("A %s was logged by %s at %s s (line %d of its log).", e.Kind, e.Node, at(e.At), e.Line))
		}
	}
	if strings.Contains(v.run.Workload, "serializable") {
		out = append(out, "The workload read with serializable consistency: a node answers reads from its own copy, without asking a quorum.")
	}
	if len(out) == 0 {
		out = append(out, "No fault, outage, leader change or log finding overlapped it in the record.")
	}
	return out
}

// sideOf says which side of a partition node was on, or "" when it is in
// none of the groups.
func sideOf(groups [][]string, node string, total int) string {
	if len(groups) < 2 {
		return ""
	}
	for _, g := range groups {
		if !slices.Contains(g, node) {
			continue
		}
		var others []string
		for _, h := range groups {
			if !slices.Equal(h, g) {
				others = append(others, "{"+strings.Join(h, " ")+"}")
			}
		}
		kind := "a side"
		switch {
		case total > 0 && 2*len(g) > total:
			kind = "the majority side"
		case total > 0:
			kind = "a minority side"
		}
		return fmt.Sprintf("on %s {%s} of the partition, cut off from %s", kind, strings.Join(g, " "), strings.Join(others, " and "))
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// held lists the guarantees and expectations the record shows were kept.
func (v *view) held() []string {
	var out []string
	switch v.Class {
	case Valid:
		out = append(out, "The history is consistent with the model: every read saw a value the writes and compare-and-sets allow.")
	case Invalid:
		bad := map[string]bool{}
		for _, a := range v.run.Anomalies {
			bad[a.Key] = true
		}
		keys := map[string]bool{}
		for _, op := range v.ops {
			if op.Key != "" && !bad[op.Key] {
				keys[op.Key] = true
			}
		}
		if ks := sortedKeys(keys); len(ks) > 0 {
			out = append(out, fmt.Sprintf("The checker found no anomaly on %s %s.", plural(len(ks), "key", "keys"), strings.Join(ks, ", ")))
		}
	}
	if len(v.windows) > 0 {
		healed := true
		for _, w := range v.windows {
			if !w.Healed {
				healed = false
			}
		}
		if healed {
			out = append(out, "Every fault was healed when its time was up.")
		}
		all := true
		for _, r := range v.Recovery {
			if !strings.HasPrefix(r.Result, "0.00 s") || !strings.HasPrefix(r.Success, "0.00 s") {
				all = false
			}
		}
		if all && len(v.Recovery) > 0 {
			out = append(out, "After every heal, throughput and success rate were back to their earlier level at once.")
		}
	}
	if v.run.LogsChecked {
		problems := 0
		for _, e := range v.logs {
			if e.Kind.Problem() {
				problems++
			}
		}
		if problems == 0 {
			out = append(out, "The nodes' logs show no panic, fatal error or data race.")
		}
	}
	if len(v.sysOutages) == 0 && v.Total.Attempted > 0 {
		out = append(out, "The system as a whole was never unavailable: at no time did every operation fail for a second or more.")
	}
	return out
}

// followUps are the next steps the record suggests; none assigns blame.
func (v *view) followUps() []string {
	var out []string
	kinds := map[string]bool{}
	for _, a := range v.run.Anomalies {
		if kinds[a.Kind] {
			continue
		}
		kinds[a.Kind] = true
		s := fmt.Sprintf("Compare the %s with the system's documented guarantees for these settings (%s)", cmp.Or(a.Kind, "anomaly"), cmp.Or(v.run.Workload, "workload not recorded"))
		if in := faultsAt(v.windows, a.Time); len(in) > 0 {
			s += " under " + faultList(in)
		}
		out = append(out, s+", and decide whether the behaviour is expected or needs work.")
	}
	for _, e := range v.logs {
		if e.Kind.Problem() {
			out = append(out, fmt.Sprintf("Read logs/%s.log around line %d (%s) with the owners of the system.", e.Node, e.Line, e.Kind))
		}
	}
	for _, r := range v.Recovery {
		if strings.HasPrefix(r.Result, "did not recover") || strings.HasPrefix(r.Success, "did not recover") {
			out = append(out, fmt.Sprintf("The rate after the heal of %s did not come back within the run: a longer recovery period in the scenario would show whether and when it does.", r.Fault))
			break
		}
	}
	if v.Class == Unknown {
		out = append(out, "The verdict is unknown: check the history again with a longer bound (lab check --check-timeout) before drawing conclusions.")
	}
	out = append(out, "Re-run with the command below to see whether the result repeats with the same seed, and with other seeds (lab suite) to see how often it happens.")
	return out
}
