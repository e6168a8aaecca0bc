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
	secRecovery  = "Recovery"
	secReproduce = "How to reproduce"
	secFiles     = "Files"
)

// Fixed explanations shown in both formats.
const (
	impactNote   = "Operations are counted in the phase in which they were invoked. Latencies are those of successful operations; an unknown outcome has no latency."
	recoveryNote = "For each heal: the time until the number of successful operations in a sliding 1 s window was back to at least 80% of the rate of successful operations in the 5 s before the fault started."
	plotNote     = "Each point is one operation at the time it completed; an unknown outcome is placed where the client gave up. Shaded: faults in effect."
)

func renderMarkdown(v *view, plotFile string) []byte {
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
	if plotFile != "" {
		p("![Latency of each operation over time](%s)\n\n%s\n\n", mdLink(plotFile), plotNote)
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

	p("## %s\n\n", secAnomalies)
	if len(v.Anoms) == 0 {
		p("The checker reported no anomaly.\n\n")
	}
	for i, a := range v.Anoms {
		p("### %d. %s at %s s\n\n", i+1, e(a.Title), a.At)
		if a.Summary != "" {
			p("%s\n\n", e(a.Summary))
		}
		p("%s\n\n", e(a.InEffect))
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

	p("## %s\n\n", secRecovery)
	p("%s\n\n", recoveryNote)
	if len(v.Recovery) == 0 {
		p("No fault was injected, so there is nothing to recover from.\n\n")
	} else {
		p("| Fault | Healed at (s) | Back to 80%% of the earlier ok rate after |\n|---|---:|---|\n")
		for _, r := range v.Recovery {
			p("| %s | %s | %s |\n", e(r.Fault), r.Healed, e(r.Result))
		}
		p("\n")
	}

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
