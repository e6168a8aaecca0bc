package reports

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/lab-chaos/lab/rundir"
)

// IndexFile is the store's index of runs, written by [WriteIndex].
const IndexFile = "index.html"

// IndexEntry is one run of the store's index.
type IndexEntry struct {
	// Dir is the run directory relative to the store, with slashes.
	Dir      string
	Scenario string
	Verdict  string // valid, invalid, unknown, or "incomplete"
	Seed     uint64
	Started  time.Time
	Ops      int
	// Anomalies is how many the checker found.
	Anomalies int
	// Report says whether the run directory has report.html.
	Report bool
}

// ReadIndex lists the runs of store: every directory store/<scenario>/<run>
// that holds results.json or history.jsonl, newest first. A run without
// results.json (killed, or still running) is "incomplete".
func ReadIndex(store string) ([]IndexEntry, error) {
	dirs, err := filepath.Glob(filepath.Join(store, "*", "*"))
	if err != nil {
		return nil, err
	}
	var out []IndexEntry
	for _, d := range dirs {
		if fi, err := os.Lstat(d); err != nil || !fi.IsDir() {
			continue
		}
		rel, err := filepath.Rel(store, d)
		if err != nil {
			continue
		}
		e := IndexEntry{Dir: filepath.ToSlash(rel), Scenario: filepath.Base(filepath.Dir(d)), Verdict: "incomplete"}
		if fi, err := os.Stat(filepath.Join(d, HTMLFile)); err == nil && fi.Mode().IsRegular() {
			e.Report = true
		}
		r, err := rundir.ReadSummary(d)
		if errors.Is(err, fs.ErrNotExist) {
			if _, herr := os.Stat(filepath.Join(d, rundir.History)); herr != nil {
				continue // not a run directory
			}
			if fi, err := os.Stat(d); err == nil {
				e.Started = fi.ModTime()
			}
			out = append(out, e)
			continue
		}
		if err == nil {
			switch r.Verdict {
			case Valid, Invalid, Unknown:
				e.Verdict = r.Verdict
			default:
				e.Verdict = Unknown
			}
			if r.Run.Scenario != "" {
				e.Scenario = r.Run.Scenario
			}
			e.Seed, e.Started, e.Ops, e.Anomalies = r.Run.Seed, r.Run.Started, r.Counts.Ops, len(r.Anomalies)
		}
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Started.Equal(out[j].Started) {
			return out[i].Started.After(out[j].Started)
		}
		return out[i].Dir > out[j].Dir
	})
	return out, nil
}

var indexPage = template.Must(template.New("index").Funcs(template.FuncMap{
	"upper": strings.ToUpper,
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.UTC().Format("2006-01-02 15:04:05 MST")
	},
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'">
<title>lab runs</title>
<style>
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328; margin: 0 auto; max-width: 1260px; padding: 1.5em 2em 4em; }
table { border-collapse: collapse; margin: .6em 0 1em; font-size: .93em; }
th, td { border: 1px solid #d0d7de; padding: .25em .6em; text-align: left; }
th { background: #f6f8fa; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.verdict { display: inline-block; padding: 0 .45em; border-radius: 4px; color: #fff; font-weight: 700; font-size: .9em; }
.valid { background: #1a7f37; } .invalid { background: #cf222e; } .unknown { background: #9a6700; } .incomplete { background: #57606a; }
.note { color: #57606a; font-size: .92em; }
</style>
</head>
<body>
<h1>lab runs</h1>
<p class="note">{{len .Entries}} runs in this store, newest first. Written {{when .Now}}.</p>
{{- if .Entries}}
<table>
<tr><th>Started</th><th>Scenario</th><th>Verdict</th><th>Seed</th><th>Operations</th><th>Anomalies</th><th>Run</th></tr>
{{- range .Entries}}
<tr><td>{{when .Started}}</td><td>{{.Scenario}}</td><td><span class="verdict {{.Verdict}}">{{upper .Verdict}}</span></td><td class="n">{{.Seed}}</td><td class="n">{{.Ops}}</td><td class="n">{{.Anomalies}}</td>
<td>{{if .Report}}<a href="{{.Dir}}/report.html">report</a>{{else}}<a href="{{.Dir}}/">files</a>{{end}}</td></tr>
{{- end}}
</table>
{{- else}}
<p>No runs yet: <code>lab run scenarios/partition.yaml</code> makes one.</p>
{{- end}}
</body>
</html>
`))

// WriteIndex writes store/index.html, the list of the store's runs with
// their verdicts and links to their reports. It writes a temporary file
// and renames it, so that a browser never sees half an index.
func WriteIndex(store string) error {
	entries, err := ReadIndex(store)
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	var buf bytes.Buffer
	if err := indexPage.Execute(&buf, struct {
		Entries []IndexEntry
		Now     time.Time
	}{entries, time.Now()}); err != nil {
		return fmt.Errorf("index: %w", err)
	}
	tmp, err := os.CreateTemp(store, ".index-*.html")
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	_, werr := tmp.Write(buf.Bytes())
	cerr := tmp.Close()
	if werr != nil || cerr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("index: %v %v", werr, cerr)
	}
	os.Chmod(tmp.Name(), 0o644)
	if err := os.Rename(tmp.Name(), filepath.Join(store, IndexFile)); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("index: %w", err)
	}
	return nil
}
