package reports

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/logcheck"
)

// view is a run digested for rendering: every number and phrase both
// reports show, computed once, as plain strings. The Markdown and HTML
// renderers only lay it out and escape it.
type view struct {
	run         *Run
	ops         []history.Op
	windows     []history.Window
	end         int64 // end of the record, ns
	never       int   // info ops that never completed (not on the plot)
	logs        []logEvent
	leaders     []logEvent // leader changes, one per term
	outages     []outage   // per node, then the whole system
	sysOutages  []outage
	Title       string
	Verdict     string // VALID, INVALID or UNKNOWN
	Class       string // valid, invalid or unknown
	Facts       [][2]string
	Story       string
	Total       counts
	ByNode      []nodeCounts
	Phases      []phaseView
	Timeline    []rowView
	Anoms       []anomalyView
	Recovery    []recoveryView
	Outages     []outageView
	LogRows     []logView
	Held        []string
	FollowUps   []string
	History     string // history.html, when the run has it
	LogsChecked bool
	AnomsLeft   int // anomalies beyond maxAnomalies, not shown
	Notes       []string
	Command     string
	Files       []string
}

type phaseView struct {
	Name, Spans string
	counts
	P50, P99 string
}

type rowView struct{ At, What, Detail string }

type anomalyView struct {
	Title, At, Summary, InEffect, Key string
	Ops                               []opView
	Factors                           []string
}

type outageView struct{ Who, Spans, Length, Detail string }

type logView struct{ At, Node, Kind, Line, Text string }

type opView struct {
	Process, Node, F, Key, Input, Output, Call, Return, Type, Error string
}

type recoveryView struct{ Fault, Healed, Result, Success string }

func newView(run *Run) *view {
	if run == nil {
		run = &Run{}
	}
	ops, _, problems := history.Pair(run.Events)
	ops = clientOps(ops)
	v := &view{
		run:     run,
		ops:     ops,
		windows: history.FaultWindows(run.Events),
		end:     endOf(run.Events),
		Command: run.Command,
		Files:   run.Files,
	}
	switch run.Verdict {
	case Valid, Invalid:
		v.Class = run.Verdict
	default:
		v.Class = Unknown
	}
	v.Verdict = strings.ToUpper(v.Class)
	name := run.Scenario
	if name == "" {
		name = "unnamed scenario"
	}
	v.Title = name + ": " + v.Verdict
	for _, op := range ops {
		if op.Type == history.Info && op.Completed < 0 {
			v.never++
		}
	}

	v.logs = logEvents(run.Logs, run.Started)
	v.leaders = leaderChanges(v.logs)
	for _, n := range nodeNames(ops, run.Nodes) {
		v.outages = append(v.outages, outages(ops, n, v.end)...)
	}
	v.sysOutages = outages(ops, "", v.end)
	v.outages = append(v.outages, v.sysOutages...)
	for _, f := range run.Files {
		if f == "history.html" {
			v.History = f
		}
	}
	v.Total = countOps(ops)
	v.ByNode = countByNode(ops, run.Nodes)
	for _, p := range phases(ops, v.windows, v.end) {
		pv := phaseView{Name: p.Name, counts: p.counts, P50: "–", P99: "–"}
		var spans []string
		for _, s := range p.Spans {
			spans = append(spans, spanText(s[0], s[1]))
		}
		pv.Spans = strings.Join(spans, ", ")
		if p.OK > 0 {
			pv.P50, pv.P99 = millis(p.P50), millis(p.P99)
		}
		v.Phases = append(v.Phases, pv)
		if p.Name != phaseDuring || len(v.windows) < 2 {
			continue
		}
		// Each fault on its own row as well.
		for i, w := range v.windows {
			in := windowOps(ops, w, v.end)
			fp := phaseOf("", nil, in)
			e := w.End
			if e < 0 {
				e = v.end
			}
			row := phaseView{Name: fmt.Sprintf("  during fault %d: %s", i+1, faultName(w.Fault)), Spans: spanText(w.Start, e),
				counts: fp.counts, P50: "–", P99: "–"}
			if fp.OK > 0 {
				row.P50, row.P99 = millis(fp.P50), millis(fp.P99)
			}
			v.Phases = append(v.Phases, row)
		}
	}
	if len(v.windows) == 1 {
		for i := range v.Phases {
			if v.Phases[i].Name == phaseDuring {
				v.Phases[i].Name = "during " + faultName(v.windows[0].Fault)
				if g := v.windows[0].Fault.Groups; len(g) > 0 {
					v.Phases[i].Name += " [" + groupsText(g) + "]"
				}
			}
		}
	}
	for _, o := range v.outages {
		who := "whole system"
		if o.Node != "" {
			who = o.Node
		}
		v.Outages = append(v.Outages, outageView{Who: who, Spans: spanText(o.From, o.To), Length: seconds(o.To - o.From),
			Detail: fmt.Sprintf("%d failed, %d unknown, none succeeded", o.Fail, o.Unknown)})
	}
	for _, e := range v.logs {
		lv := logView{At: "–", Node: e.Node, Kind: string(e.Kind), Line: fmt.Sprint(e.Line), Text: e.Text}
		if e.Timed {
			lv.At = at(e.At)
		}
		v.LogRows = append(v.LogRows, lv)
	}
	rows := timeline(v.windows, errorBursts(ops), run.Anomalies)
	for _, o := range v.outages {
		who := "the whole system"
		if o.Node != "" {
			who = o.Node
		}
		rows = append(rows, timelineRow{o.From, "unavailable: " + who,
			fmt.Sprintf("%s, no operation succeeded (%d failed, %d unknown)", spanText(o.From, o.To), o.Fail, o.Unknown)})
	}
	for _, e := range v.leaders {
		if e.Timed && e.At >= 0 {
			rows = append(rows, timelineRow{e.At, "raft leader reported (node logs)", fmt.Sprintf("leader of term %d, logged by %s", e.Term, e.Node)})
		}
	}
	for _, e := range v.logs {
		if e.Timed && e.At >= 0 && e.Kind != logcheck.LeaderChange {
			rows = append(rows, timelineRow{e.At, string(e.Kind) + " in the log of " + e.Node, fmt.Sprintf("line %d: %s", e.Line, e.Text)})
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Time < rows[j].Time })
	for _, r := range rows {
		v.Timeline = append(v.Timeline, rowView{At: at(r.Time), What: r.What, Detail: r.Detail})
	}
	v.LogsChecked = run.LogsChecked
	for i, a := range run.Anomalies {
		if i == maxAnomalies {
			v.AnomsLeft = len(run.Anomalies) - i
			break
		}
		v.Anoms = append(v.Anoms, v.anomaly(a))
	}
	for _, r := range recoveries(ops, v.windows, v.end) {
		rv := recoveryView{Fault: faultName(r.Window.Fault), Healed: at(r.Window.End)}
		switch {
		case r.Note != "":
			rv.Result = "not measured: " + r.Note
		case r.Recovered:
			rv.Result = fmt.Sprintf("%.2f s (baseline %.1f ok/s)", float64(r.After)/1e9, r.Baseline)
		default:
			rv.Result = fmt.Sprintf("did not recover within the run (baseline %.1f ok/s)", r.Baseline)
		}
		switch s := recoverSuccess(ops, r.Window, v.end); {
		case s.Note != "":
			rv.Success = "not measured: " + s.Note
		case s.Recovered:
			rv.Success = fmt.Sprintf("%.2f s (baseline %.0f%% ok)", float64(s.After)/1e9, 100*s.Baseline)
		default:
			rv.Success = fmt.Sprintf("did not recover within the run (baseline %.0f%% ok)", 100*s.Baseline)
		}
		v.Recovery = append(v.Recovery, rv)
	}
	for _, w := range v.windows {
		if w.End < 0 {
			v.Recovery = append(v.Recovery, recoveryView{Fault: faultName(w.Fault), Healed: "never",
				Result: "did not recover within the run: the fault was still in effect when the run ended", Success: "did not recover within the run"})
		}
	}
	v.Notes = append(v.Notes, run.Notes...)
	if len(problems) > 0 {
		v.Notes = append(v.Notes, fmt.Sprintf("the history has %d pairing problem(s); the first, at event %d: %s",
			len(problems), problems[0].Index, problems[0].Msg))
	}
	v.Facts = v.facts()
	v.Story = v.story()
	v.Held = v.held()
	v.FollowUps = v.followUps()
	return v
}

// maxAnomalies bounds the anomalies the reports describe one by one; the
// rest are in results.json.
const maxAnomalies = 50

func (v *view) duration() time.Duration {
	if v.run.Wall > 0 {
		return v.run.Wall
	}
	return time.Duration(v.end)
}

func (v *view) facts() [][2]string {
	r := v.run
	or := func(s, dflt string) string {
		if s == "" {
			return dflt
		}
		return s
	}
	scenario := or(r.Scenario, "(unnamed)")
	if r.ScenarioFile != "" {
		scenario += " (" + r.ScenarioFile + ")"
	}
	started := "not recorded"
	if !r.Started.IsZero() {
		started = r.Started.UTC().Format("2006-01-02 15:04:05 MST")
	}
	verdict := v.Verdict
	if r.VerdictNote != "" {
		verdict += ": " + r.VerdictNote
	}
	return [][2]string{
		{"Scenario", scenario},
		{"System", or(r.System, "not recorded")},
		{"Nodes", or(strings.Join(r.Nodes, ", "), "not recorded")},
		{"Workload", or(r.Workload, "not recorded")},
		{"Seed", fmt.Sprint(r.Seed)},
		{"Started", started},
		{"Duration", v.duration().Round(100 * time.Millisecond).String()},
		{"Verdict", verdict},
	}
}

// story is the summary's narrative, stated from the record only.
func (v *view) story() string {
	r := v.run
	var b strings.Builder
	fmt.Fprintf(&b, "The lab ran scenario %s", quoteOr(r.Scenario, "(unnamed)"))
	if r.System != "" {
		fmt.Fprintf(&b, " against %s", r.System)
	}
	fmt.Fprintf(&b, " for %s with seed %d. ", v.duration().Round(100*time.Millisecond), r.Seed)
	t := v.Total
	if t.Attempted == 0 {
		b.WriteString("No client operation was recorded. ")
	} else {
		fmt.Fprintf(&b, "Clients attempted %d %s: %d succeeded, %d failed and %d ended with an unknown outcome. ",
			t.Attempted, plural(t.Attempted, "operation", "operations"), t.OK, t.Fail, t.Unknown)
	}
	switch n := len(v.windows); n {
	case 0:
		b.WriteString("No fault was injected. ")
	default:
		kinds := map[string]int{}
		var names []string
		open, failed := 0, 0
		for _, w := range v.windows {
			k := faultName(w.Fault)
			if kinds[k] == 0 {
				names = append(names, k)
			}
			kinds[k]++
			switch {
			case w.End < 0:
				open++
			case w.Fault.Error != "":
				failed++
			}
		}
		sort.Strings(names)
		var parts []string
		for _, k := range names {
			parts = append(parts, fmt.Sprintf("%d × %s", kinds[k], k))
		}
		fmt.Fprintf(&b, "The nemesis injected %d %s (%s); ", n, plural(n, "fault", "faults"), strings.Join(parts, ", "))
		var left []string
		if failed > 0 {
			left = append(left, fmt.Sprintf("healing failed for %d", failed))
		}
		if open > 0 {
			left = append(left, fmt.Sprintf("%d %s still in effect when the run ended", open, plural(open, "was", "were")))
		}
		if len(left) == 0 {
			left = []string{"all were healed"}
		}
		b.WriteString(strings.Join(left, " and ") + ". ")
	}
	switch a := len(r.Anomalies); {
	case a > 0:
		first := r.Anomalies[0]
		for _, x := range r.Anomalies {
			if x.Time < first.Time {
				first = x
			}
		}
		fmt.Fprintf(&b, "The checker found %d %s; the first (%s) was observed at %s s", a,
			plural(a, "anomaly", "anomalies"), anomalyLine(first), at(first.Time))
		if in := faultsAt(v.windows, first.Time); len(in) > 0 {
			fmt.Fprintf(&b, ", while %s was in effect", faultList(in))
		} else {
			b.WriteString(", while no fault was in effect")
		}
		b.WriteString(". ")
	case v.Class == Valid:
		b.WriteString("The checker found no anomaly. ")
	}
	switch v.Class {
	case Valid:
		b.WriteString("The verdict is VALID: the history is consistent with the model.")
	case Invalid:
		b.WriteString("The verdict is INVALID.")
	default:
		b.WriteString("The verdict is UNKNOWN: the checker could not decide")
		if r.VerdictNote != "" {
			b.WriteString(" (" + r.VerdictNote + ")")
		}
		b.WriteString(", which is not a pass.")
	}
	return b.String()
}

func (v *view) anomaly(a Anomaly) anomalyView {
	av := anomalyView{Title: anomalyLine(a), At: at(a.Time), Summary: a.Summary, Key: a.Key, Factors: v.factors(a)}
	if av.Title == "" {
		av.Title = "anomaly"
	}
	if in := faultsAt(v.windows, a.Time); len(in) > 0 {
		av.InEffect = "Faults in effect at that time (possible contributing factors): " + faultList(in) + "."
	} else {
		av.InEffect = "No fault was in effect at that time."
	}
	for _, op := range a.Ops {
		ov := opView{
			Process: op.Process.String(), Node: op.Node, F: op.F, Key: op.Key,
			Call: at(op.Call), Type: string(op.Type), Error: op.Error,
		}
		if !op.Input.IsNil() {
			ov.Input = op.Input.String()
		}
		if op.Type == history.OK {
			ov.Output = op.Output.String()
		}
		switch {
		case op.Type != history.Info:
			ov.Return = at(op.Return)
		case op.Completed >= 0:
			ov.Return = "unknown (gave up at " + at(op.Completed) + ")"
		default:
			ov.Return = "unknown (never returned)"
		}
		av.Ops = append(av.Ops, ov)
	}
	return av
}

func faultList(ws []history.Window) string {
	var parts []string
	for _, w := range ws {
		s := faultName(w.Fault)
		if len(w.Fault.Groups) > 0 {
			s += " [" + groupsText(w.Fault.Groups) + "]"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " and ")
}

func quoteOr(s, dflt string) string {
	if s == "" {
		return dflt
	}
	return fmt.Sprintf("%q", s)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// clientOps drops the lab's own observations of the members (operations
// named member-*, such as member-state and member-revision): they are not
// what clients asked, so they count in no latency, error rate or outage.
// An anomaly that rests on them still shows them, in its own table.
func clientOps(ops []history.Op) []history.Op {
	out := ops[:0:0]
	for _, op := range ops {
		if !strings.HasPrefix(op.F, "member-") {
			out = append(out, op)
		}
	}
	return out
}
