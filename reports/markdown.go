package reports

import (
	"fmt"
	"net/url"
	"strings"
)

// The report's section headings, shared by both formats.
const (
	secSummary   = "Summary"
	secImpact    = "Impact"
	secTimeline  = "Timeline"
	secAnomalies = "Anomalies"
	secFactors   = "Contributing factors"
	secRecovery  = "Recovery"
	secHeld      = "What held"
	secFollowUps = "Follow-ups"
	secReproduce = "How to reproduce"
	secFiles     = "Files"
)

// Fixed explanations shown in both formats.
const (
	impactNote   = "Operations are counted in the phase in which they were invoked. Latencies are those of successful operations; an unknown outcome has no latency."
	recoveryNote = "For each heal: the time until throughput (successful operations in a sliding 1 s window) was back to at least 80% of its rate in the 5 s before the fault started, and until the success rate (the share of completions that were ok, sliding 1 s) was back within 5 points of its level in those 5 s."
	plotNote     = "Latency: each point is one operation at the time it completed, one panel per operation; an unknown outcome is placed where the client gave up. Throughput and success rate: completions per second by outcome, and the share of them that were ok. Shaded: faults in effect."
	outageNote   = "A node (or the whole system) counts as unavailable from the moment an operation sent to it began that would fail or end unknown, until the next operation sent to it succeeded: when no operation succeeded for at least 1 s and at least 3 failed or ended unknown in that time."
	factorsNote  = "The conditions that overlapped each anomaly in time, as the record shows them. Several usually combine; none is singled out as the one that made it happen."
)

func renderMarkdown(v *view, figs []string) []byte {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	e := mdEscape

	p("# %s\n\n", e(v.Title))
	p("**Verdict: %s**\n\n", v.Verdict)

	p("## %s\n\n", secSummary)
	p("%s\n\n", e(v.Story))
	p("| | |\n|---|---|\n")
	for _, f := range v.Facts {
		p("| %s | %s |\n", f[0], e(f[1]))
	}
	p("\n")
	if len(v.Notes) > 0 {
		p("Noticed by the lab:\n\n")
		for _, n := range v.Notes {
			p("- %s\n", e(n))
		}
		p("\n")
	}

	p("## %s\n\n", secImpact)
	p("%s\n\n", impactNote)
	p("| Node | Attempted | OK | Failed | Unknown |\n|---|---:|---:|---:|---:|\n")
	for _, n := range v.ByNode {
		p("| %s | %d | %d | %d | %d |\n", e(n.Node), n.Attempted, n.OK, n.Fail, n.Unknown)
	}
	t := v.Total
	p("| **total** | **%d** | **%d** | **%d** | **%d** |\n\n", t.Attempted, t.OK, t.Fail, t.Unknown)
	p("| Phase | Time | Attempted | OK | Failed | Unknown | p50 | p99 |\n|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, ph := range v.Phases {
		p("| %s | %s | %d | %d | %d | %d | %s | %s |\n", ph.Name, ph.Spans, ph.Attempted, ph.OK, ph.Fail, ph.Unknown, ph.P50, ph.P99)
	}
	p("\n")
	p("### Unavailability\n\n%s\n\n", outageNote)
	if len(v.Outages) == 0 {
		p("No node and not the system as a whole was unavailable by this measure.\n\n")
	} else {
		p("| Who | When | Length | Operations |\n|---|---|---:|---|\n")
		for _, o := range v.Outages {
			p("| %s | %s | %s | %s |\n", e(o.Who), o.Spans, o.Length, o.Detail)
		}
		p("\n")
	}
	for _, f := range figs {
		if f == "latency" || f == "rate" {
			p("![%s](%s) ([SVG](%s))\n\n", figAlt[f], mdLink(f+".png"), mdLink(f+".svg"))
		}
	}
	if len(figs) > 0 {
		p("%s\n\n", plotNote)
	}

	p("## %s\n\n", secTimeline)
	if len(v.Timeline) == 0 {
		p("Nothing to show: no fault, error burst or anomaly was recorded.\n\n")
	} else {
		p("| Time (s) | Event | Detail |\n|---:|---|---|\n")
		for _, r := range v.Timeline {
			p("| %s | %s | %s |\n", r.At, e(r.What), e(r.Detail))
		}
		p("\n")
	}

	for _, f := range figs {
		if f == "timeline" || f == "clock" {
			p("![%s](%s) ([SVG](%s))\n\n", figAlt[f], mdLink(f+".png"), mdLink(f+".svg"))
		}
	}
	p("### Node logs\n\n")
	switch {
	case len(v.LogRows) > 0:
		p("| Time (s) | Node | Finding | Line | Log line |\n|---:|---|---|---:|---|\n")
		for _, l := range v.LogRows {
			p("| %s | %s | %s | %s | %s |\n", l.At, e(l.Node), e(l.Kind), l.Line, e(l.Text))
		}
		p("\n")
	case v.LogsChecked:
		p("The node logs show no panic, fatal error, data race, leader change or restart.\n\n")
	default:
		p("The node logs were not checked.\n\n")
	}

	p("## %s\n\n", secAnomalies)
	b.WriteString(queueMarkdown(v, figs))
	b.WriteString(lockMarkdown(v))
	b.WriteString(leaseMarkdown(v))
	b.WriteString(setMarkdown(v))
	if len(v.Anoms) == 0 {
		p("The checker reported no anomaly.\n\n")
	}
	for i, a := range v.Anoms {
		p("### %d. %s at %s s\n\n", i+1, e(a.Title), a.At)
		if a.Summary != "" {
			p("%s\n\n", e(a.Summary))
		}
		p("%s", e(a.InEffect))
		if v.Porcupine() {
			of := ""
			if a.Key != "" {
				of = " of key " + e(a.Key)
			}
			p(" The operations%s are drawn in [%s](%s) (porcupine's visualization).", of, e(v.History), mdLink(v.History))
		}
		p("\n\n")
		if len(a.Ops) == 0 {
			continue
		}
		p("| Process | Node | F | Key | Input | Output | Call (s) | Return (s) | Type | Error |\n|---|---|---|---|---|---|---:|---|---|---|\n")
		for _, o := range a.Ops {
			p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", e(o.Process), e(o.Node), e(o.F), e(o.Key),
				e(o.Input), e(o.Output), o.Call, e(o.Return), e(o.Type), e(o.Error))
		}
		p("\n")
	}

	if v.AnomsLeft > 0 {
		p("%d more anomalies are listed in results.json.\n\n", v.AnomsLeft)
	}

	p("## %s\n\n%s\n\n", secFactors, factorsNote)
	if len(v.Anoms) == 0 {
		p("No anomaly to account for.\n\n")
	}
	for i, a := range v.Anoms {
		p("### %d. %s at %s s\n\n", i+1, e(a.Title), a.At)
		for _, f := range a.Factors {
			p("- %s\n", e(f))
		}
		p("\n")
	}

	p("## %s\n\n", secRecovery)
	p("%s\n\n", recoveryNote)
	if len(v.Recovery) == 0 {
		p("No fault was injected, so there is nothing to recover from.\n\n")
	} else {
		p("| Fault | Healed at (s) | Throughput: back to 80%% of the earlier ok rate after | Success rate: back within 5 points of its earlier level after |\n|---|---:|---|---|\n")
		for _, r := range v.Recovery {
			p("| %s | %s | %s | %s |\n", e(r.Fault), r.Healed, e(r.Result), e(r.Success))
		}
		p("\n")
	}

	p("## %s\n\n", secHeld)
	if len(v.Held) == 0 {
		p("The record shows no guarantee that was clearly kept.\n\n")
	}
	for _, h := range v.Held {
		p("- %s\n", e(h))
	}
	p("\n## %s\n\n", secFollowUps)
	for _, f := range v.FollowUps {
		p("- %s\n", e(f))
	}
	p("\n")

	p("## %s\n\n", secReproduce)
	if v.Command == "" {
		p("The runner did not record a command.\n\n")
	} else {
		fence := "```"
		for strings.Contains(v.Command, fence) {
			fence += "`"
		}
		p("%ssh\n%s\n%s\n\n", fence, v.Command, fence)
	}

	p("## %s\n\n", secFiles)
	if len(v.Files) == 0 {
		p("No other files.\n")
	}
	for _, f := range v.Files {
		p("- [%s](%s)\n", e(f), mdLink(f))
	}
	return []byte(b.String())
}

// figAlt are the plots' descriptions in the Markdown report.
var figAlt = map[string]string{
	"latency":  "Latency of each operation over time",
	"rate":     "Throughput and success rate over time",
	"timeline": "Timeline",
	"clock":    "Clock offsets",
	"queue":    "Every publish by fate, and what each node held",
}

// mdEscape makes text from anywhere safe inside Markdown prose and table
// cells: HTML is shown as text, table and emphasis syntax is neutralised,
// and line breaks become spaces.
var mdEscape = strings.NewReplacer(
	"&", "&amp;", "<", "&lt;", ">", "&gt;",
	`\`, `\\`, "|", `\|`, "`", "\\`", "*", `\*`, "_", `\_`,
	"[", `\[`, "]", `\]`, "\r\n", " ", "\n", " ", "\r", " ",
).Replace

// mdLink escapes a relative path for a Markdown link target.
func mdLink(path string) string {
	u := url.URL{Path: path}
	return strings.NewReplacer("(", "%28", ")", "%29").Replace(u.EscapedPath())
}
