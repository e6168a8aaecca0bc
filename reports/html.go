package reports

import (
	"bytes"
	"encoding/base64"
	"html/template"
)

// htmlPage is the HTML report: one file, inline CSS, no scripts, nothing
// fetched from anywhere. Every value is escaped by html/template; the only
// value marked safe is the data: URI of the plot, built here from bytes.
var htmlPage = template.Must(template.New("report").
	Funcs(template.FuncMap{"inc": func(i int) int { return i + 1 }, "account": newAccount}).
	Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'">
<title>{{.V.Title}}</title>
<style>
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328; margin: 0 auto; max-width: 1260px; padding: 1.5em 2em 4em; }
h1 { font-size: 1.7em; margin-bottom: .2em; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2em; margin-top: 1.8em; }
h3 { font-size: 1.05em; }
.verdict { display: inline-block; padding: .1em .55em; border-radius: 4px; color: #fff; font-weight: 700; letter-spacing: .03em; }
.valid { background: #1a7f37; } .invalid { background: #cf222e; } .unknown { background: #9a6700; }
table { border-collapse: collapse; margin: .6em 0 1em; font-size: .93em; }
th, td { border: 1px solid #d0d7de; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: 700; }
table.facts th { width: 8em; }
code, pre, td.v { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .92em; }
td.v { word-break: break-all; max-width: 22em; }
pre { background: #f6f8fa; border: 1px solid #d0d7de; border-radius: 4px; padding: .7em 1em; overflow-x: auto; white-space: pre-wrap; }
.note { color: #57606a; font-size: .92em; }
img.plot { max-width: 100%; height: auto; border: 1px solid #d0d7de; display: block; margin: .5em 0; }
nav { font-size: .92em; margin: .3em 0 1em; } nav a { margin-right: .8em; }
ul.factors li { margin: .15em 0; }
td.log { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .85em; word-break: break-all; max-width: 48em; }
</style>
</head>
<body>
{{- $v := .V}}
<h1>{{$v.Title}} <span class="verdict {{$v.Class}}">{{$v.Verdict}}</span></h1>
<nav>{{range .Nav}}<a href="#{{index . 0}}">{{index . 1}}</a>{{end}}</nav>

<h2 id="summary">{{.S.Summary}}</h2>
<p>{{$v.Story}}</p>
<table class="facts">
{{- range $v.Facts}}
<tr><th>{{index . 0}}</th><td>{{index . 1}}</td></tr>
{{- end}}
</table>
{{- if $v.Notes}}
<p>Noticed by the lab:</p>
<ul>{{range $v.Notes}}<li>{{.}}</li>{{end}}</ul>
{{- end}}

<h2 id="impact">{{.S.Impact}}</h2>
<p class="note">{{.ImpactNote}}</p>
<table>
<tr><th>Node</th><th>Attempted</th><th>OK</th><th>Failed</th><th>Unknown</th></tr>
{{- range $v.ByNode}}
<tr><td>{{.Node}}</td><td class="n">{{.Attempted}}</td><td class="n">{{.OK}}</td><td class="n">{{.Fail}}</td><td class="n">{{.Unknown}}</td></tr>
{{- end}}
<tr class="total"><td>total</td><td class="n">{{$v.Total.Attempted}}</td><td class="n">{{$v.Total.OK}}</td><td class="n">{{$v.Total.Fail}}</td><td class="n">{{$v.Total.Unknown}}</td></tr>
</table>
<table>
<tr><th>Phase</th><th>Time</th><th>Attempted</th><th>OK</th><th>Failed</th><th>Unknown</th><th>p50</th><th>p99</th></tr>
{{- range $v.Phases}}
<tr><td>{{.Name}}</td><td>{{.Spans}}</td><td class="n">{{.Attempted}}</td><td class="n">{{.OK}}</td><td class="n">{{.Fail}}</td><td class="n">{{.Unknown}}</td><td class="n">{{.P50}}</td><td class="n">{{.P99}}</td></tr>
{{- end}}
</table>
<h3>Unavailability</h3>
<p class="note">{{.OutageNote}}</p>
{{- if $v.Outages}}
<table>
<tr><th>Who</th><th>When</th><th>Length</th><th>Operations</th></tr>
{{- range $v.Outages}}
<tr><td>{{.Who}}</td><td>{{.Spans}}</td><td class="n">{{.Length}}</td><td>{{.Detail}}</td></tr>
{{- end}}
</table>
{{- else}}
<p>No node and not the system as a whole was unavailable by this measure.</p>
{{- end}}
{{- range .Figs}}{{if ne .Name "timeline"}}{{if ne .Name "clock"}}{{if ne .Name "queue"}}
<img class="plot" id="fig-{{.Name}}" src="{{.Src}}" width="{{.Width}}" alt="{{.Alt}}">
{{- end}}{{end}}{{end}}{{end}}
<p class="note">{{.PlotNote}}</p>

<h2 id="timeline">{{.S.Timeline}}</h2>
{{- if $v.Timeline}}
<table>
<tr><th>Time (s)</th><th>Event</th><th>Detail</th></tr>
{{- range $v.Timeline}}
<tr><td class="n">{{.At}}</td><td>{{.What}}</td><td>{{.Detail}}</td></tr>
{{- end}}
</table>
{{- else}}
<p>Nothing to show: no fault, error burst or anomaly was recorded.</p>
{{- end}}
{{- range .Figs}}{{if or (eq .Name "timeline") (eq .Name "clock")}}
<img class="plot" id="fig-{{.Name}}" src="{{.Src}}" width="{{.Width}}" alt="{{.Alt}}">
{{- end}}{{end}}
<h3>Node logs</h3>
{{- if $v.LogRows}}
<table>
<tr><th>Time (s)</th><th>Node</th><th>Finding</th><th>Line</th><th>Log line</th></tr>
{{- range $v.LogRows}}
<tr><td class="n">{{.At}}</td><td>{{.Node}}</td><td>{{.Kind}}</td><td class="n">{{.Line}}</td><td class="log">{{.Text}}</td></tr>
{{- end}}
</table>
{{- else if $v.LogsChecked}}
<p>The node logs show no panic, fatal error, data race, leader change or restart.</p>
{{- else}}
<p>The node logs were not checked.</p>
{{- end}}

<h2 id="anomalies">{{.S.Anomalies}}</h2>
{{- with $v.QueueAccount}}
{{template "account" (account "Queue account" "messages" .)}}
{{- with $v.QueueNodes}}
<table>
<tr><th>Drain through</th><th>State</th><th>Last seq</th><th>Read</th><th>Missing</th></tr>
{{- range .}}
<tr><td>{{.Node}}</td><td>{{.State}}</td><td class="n">{{.LastSeq}}</td><td class="n">{{.Read}}</td><td class="n">{{.Missing}}</td></tr>
{{- end}}
</table>
{{- end}}
{{- range $.Figs}}{{if eq .Name "queue"}}
<img class="plot" id="fig-{{.Name}}" src="{{.Src}}" width="{{.Width}}" alt="{{.Alt}}">
<p class="note">{{$.QueueNote}}</p>
{{- end}}{{end}}
{{- end}}
{{- with $v.LockAccount}}
{{template "account" (account "Lock account" "count" .)}}
{{- with $v.LockByLock}}
<table>
<tr><th>Lock</th><th>Holds</th><th>Highest token</th><th>Two holders, leases alive</th><th>Lease may have expired</th><th>Tokens out of order</th></tr>
{{- range .}}
<tr><td>{{.Name}}</td><td class="n">{{.Holds}}</td><td class="n">{{.MaxToken}}</td><td class="n">{{.TwoHolders}}</td><td class="n">{{.LeaseExpired}}</td><td class="n">{{.TokenOrder}}</td></tr>
{{- end}}
</table>
{{- end}}
<p class="note">{{$.LockNote}}</p>
{{- with $v.LockLimit}}
<p>{{.Head}}</p>
<ul>{{range .Stories}}<li>{{.}}</li>{{end}}</ul>
{{- if .More}}
<p>{{.More}}</p>
{{- end}}
{{- end}}
{{- end}}
{{- with $v.LeaseAccount}}
{{template "account" (account "Lease account" "count" .)}}
<p class="note">{{$v.LeaseNote}}</p>
{{- end}}
{{- with $v.SetAccount}}
{{template "account" (account "Set account" "elements" .)}}
<p class="note">{{$v.SetNote}}</p>
{{- with $v.SetLost}}
<p>{{.}}</p>
{{- end}}
{{- end}}
{{- if not $v.Anoms}}
<p>The checker reported no anomaly.</p>
{{- end}}
{{- range $i, $a := $v.Anoms}}
<h3>{{inc $i}}. {{$a.Title}} at {{$a.At}} s</h3>
{{- if $a.Summary}}
<p>{{$a.Summary}}</p>
{{- end}}
<p>{{$a.InEffect}}{{if $v.Porcupine}} The operations{{if $a.Key}} of key {{$a.Key}}{{end}} are drawn in <a href="{{$v.History}}">{{$v.History}}</a> (porcupine's visualization).{{end}}</p>
{{- if $a.Ops}}
<table>
<tr><th>Process</th><th>Node</th><th>F</th><th>Key</th><th>Input</th><th>Output</th><th>Call (s)</th><th>Return (s)</th><th>Type</th><th>Error</th></tr>
{{- range $a.Ops}}
<tr><td>{{.Process}}</td><td>{{.Node}}</td><td>{{.F}}</td><td class="v">{{.Key}}</td><td class="v">{{.Input}}</td><td class="v">{{.Output}}</td><td class="n">{{.Call}}</td><td>{{.Return}}</td><td>{{.Type}}</td><td class="v">{{.Error}}</td></tr>
{{- end}}
</table>
{{- end}}
{{- end}}
{{- if $v.AnomsLeft}}
<p>{{$v.AnomsLeft}} more anomalies are listed in results.json.</p>
{{- end}}

<h2 id="factors">{{.S.Factors}}</h2>
<p class="note">{{.FactorsNote}}</p>
{{- if not $v.Anoms}}
<p>No anomaly to account for.</p>
{{- end}}
{{- range $i, $a := $v.Anoms}}
<h3>{{inc $i}}. {{$a.Title}} at {{$a.At}} s</h3>
<ul class="factors">{{range $a.Factors}}<li>{{.}}</li>{{end}}</ul>
{{- end}}

<h2 id="recovery">{{.S.Recovery}}</h2>
<p class="note">{{.RecoveryNote}}</p>
{{- if $v.Recovery}}
<table>
<tr><th>Fault</th><th>Healed at (s)</th><th>Throughput: back to 80% of the earlier ok rate after</th><th>Success rate: back within 5 points of its earlier level after</th></tr>
{{- range $v.Recovery}}
<tr><td>{{.Fault}}</td><td class="n">{{.Healed}}</td><td>{{.Result}}</td><td>{{.Success}}</td></tr>
{{- end}}
</table>
{{- else}}
<p>No fault was injected, so there is nothing to recover from.</p>
{{- end}}

<h2 id="held">{{.S.Held}}</h2>
{{- if $v.Held}}
<ul>{{range $v.Held}}<li>{{.}}</li>{{end}}</ul>
{{- else}}
<p>The record shows no guarantee that was clearly kept.</p>
{{- end}}

<h2 id="followups">{{.S.FollowUps}}</h2>
<ul>{{range $v.FollowUps}}<li>{{.}}</li>{{end}}</ul>

<h2 id="reproduce">{{.S.Reproduce}}</h2>
{{- if $v.Command}}
<pre><code>{{$v.Command}}</code></pre>
{{- else}}
<p>The runner did not record a command.</p>
{{- end}}

<h2 id="files">{{.S.Files}}</h2>
{{- if $v.Files}}
<ul>{{range $v.Files}}<li><a href="{{.}}">{{.}}</a></li>{{end}}</ul>
{{- else}}
<p>No other files.</p>
{{- end}}
</body>
</html>
{{- define "account"}}
<h3>{{.Title}}</h3>
<table>
<tr><th></th><th>{{.Unit}}</th></tr>
{{- range .Rows}}
<tr><td>{{index . 0}}</td><td class="n">{{index . 1}}</td></tr>
{{- end}}
</table>
{{- end}}
`))

type sections struct {
	Summary, Impact, Timeline, Anomalies, Factors, Recovery, Held, FollowUps, Reproduce, Files string
}

type htmlFig struct {
	figure
	Src template.URL
}

func renderHTML(v *view, figs []figure) ([]byte, error) {
	data := struct {
		V                                                           *view
		S                                                           sections
		Nav                                                         [][2]string
		Figs                                                        []htmlFig
		ImpactNote, RecoveryNote, PlotNote, OutageNote, FactorsNote string
		QueueNote, LockNote                                         string
	}{
		V: v,
		S: sections{secSummary, secImpact, secTimeline, secAnomalies, secFactors, secRecovery, secHeld, secFollowUps, secReproduce, secFiles},
		Nav: [][2]string{{"summary", secSummary}, {"impact", secImpact}, {"timeline", secTimeline}, {"anomalies", secAnomalies},
			{"factors", secFactors}, {"recovery", secRecovery}, {"held", secHeld}, {"followups", secFollowUps}, {"reproduce", secReproduce}, {"files", secFiles}},
		ImpactNote: impactNote, RecoveryNote: recoveryNote, PlotNote: plotNote, OutageNote: outageNote, FactorsNote: factorsNote,
		QueueNote: queueNote, LockNote: lockNote,
	}
	for _, f := range figs {
		// The only value marked safe: a data: URI built here from PNG bytes.
		data.Figs = append(data.Figs, htmlFig{f, template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(f.PNG))})
	}
	var buf bytes.Buffer
	if err := htmlPage.Execute(&buf, data); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
