package reports

import (
	"bytes"
	"flag"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lab-chaos/lab/history"
)

const ms = int64(time.Millisecond)

// opEvents returns the invocation and completion of one operation; typ ""
// leaves it without a completion.
func opEvents(proc int64, node, f, key string, in, out history.Value, call, done int64, typ history.Type, errText string) []history.Event {
	evs := []history.Event{{Time: call, Process: history.Process(proc), Type: history.Invoke, F: f, Key: key, Value: in, Node: node}}
	if typ != "" {
		evs = append(evs, history.Event{Time: done, Process: history.Process(proc), Type: typ, F: f, Key: key, Value: out, Node: node, Error: errText})
	}
	return evs
}

func faultEvents(id int, shape string, groups [][]string, start, end int64) []history.Event {
	f := &history.Fault{ID: id, Kind: "partition", Shape: shape, Groups: groups}
	evs := []history.Event{{Time: start, Process: history.Nemesis, Type: history.Info, F: history.FaultStart, Fault: f}}
	if end >= 0 {
		evs = append(evs, history.Event{Time: end, Process: history.Nemesis, Type: history.Info, F: history.FaultEnd, Fault: f})
	}
	return evs
}

func sortEvents(evs []history.Event) {
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Time < evs[j].Time })
}

const (
	scriptValue = `"<script>alert(1)</script>"`
	boldError   = "<b>x</b>"
)

// syntheticRun is 30 s of traffic, one operation every 100 ms on three
// nodes: n3 is isolated from 8 s to 14 s (its operations time out), n1 is
// in the minority from 20 s to 24 s (its operations fail), and a read at
// 21.9 s on n1 is stale, next to a failed write whose error is markup.
func syntheticRun() *Run {
	var evs []history.Event
	nodes := []string{"n1", "n2", "n3"}
	isolated := func(t int64) bool { return t >= 8000*ms && t < 14000*ms }
	minority := func(t int64) bool { return t >= 20000*ms && t < 24000*ms }
	var anomalyOps []history.Op
	for i := int64(0); i < 300; i++ {
		call := i * 100 * ms
		node := nodes[i%3]
		key := "k" + string(rune('0'+i%4))
		in, out := history.IntValue(i), history.Nil
		f := "write"
		if i%2 == 1 {
			f, in, out = "read", history.Nil, history.IntValue(i-1)
		}
		if i == 40 {
			in = history.Value(scriptValue)
		}
		if i == 219 {
			key, out = "k0", history.IntValue(0)
		}
		switch {
		case node == "n3" && isolated(call):
			evs = append(evs, opEvents(i, node, f, key, in, nil, call, call+1000*ms, history.Info, "context deadline exceeded")...)
		case node == "n1" && minority(call) && i != 219:
			evs = append(evs, opEvents(i, node, f, key, in, nil, call, call+3*ms, history.Fail, boldError)...)
		default:
			lat := 5*ms + (i%7)*ms
			if i > 140 && i < 150 {
				lat = 40 * ms
			}
			evs = append(evs, opEvents(i, node, f, key, in, out, call, call+lat, history.OK, "")...)
		}
	}
	evs = append(evs, faultEvents(1, "isolate", [][]string{{"n1", "n2"}, {"n3"}}, 8000*ms, 14000*ms)...)
	evs = append(evs, faultEvents(2, "majority-minority", [][]string{{"n1"}, {"n2", "n3"}}, 20000*ms, 24000*ms)...)
	sortEvents(evs)
	ops, _, _ := history.Pair(evs)
	for _, op := range ops {
		if op.Call == 40*100*ms || op.Call == 201*100*ms || op.Call == 219*100*ms {
			anomalyOps = append(anomalyOps, op)
		}
	}
	return &Run{
		Scenario:     "partition",
		ScenarioFile: "scenarios/partition.yaml",
		Seed:         7,
		System:       "etcd 3.6.16, 3 nodes",
		Nodes:        nodes,
		Workload:     "register: 4 keys, 10 ops/s, 3 clients, 1s timeout, linearizable reads",
		Command:      "lab run scenarios/partition.yaml --seed 7",
		Started:      time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		Wall:         30 * time.Second,
		Events:       evs,
		Verdict:      Invalid,
		Anomalies: []Anomaly{{
			Kind: "stale read", Key: "k0", Time: 21903 * ms,
			Summary: "A read on n1 returned a value older than a write that had completed before the read began.",
			Ops:     anomalyOps,
		}},
		Notes: []string{"rate held"},
		Files: []string{"history.html", "results.json", "logs/n1.log"},
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkPNG(t *testing.T, b []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("latency plot is not a PNG: %v", err)
	}
	if got := img.Bounds().Size(); got.X != PlotWidth || got.Y < PlotHeight {
		t.Errorf("plot size = %v, want %d wide and at least %d high", got, PlotWidth, PlotHeight)
	}
}

var headings = []string{"## Summary", "## Impact", "## Timeline", "## Anomalies", "## Contributing factors",
	"## Recovery", "## What held", "## Follow-ups", "## How to reproduce", "## Files"}

// out keeps the synthetic reports for a person (or a browser) to look at:
// go test ./reports -run TestWrite$ -out /tmp/report
var out = flag.String("out", "", "also write the synthetic run's reports into this directory")

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	if *out != "" {
		dir = *out
	}
	run := syntheticRun()
	if len(run.Anomalies[0].Ops) != 3 {
		t.Fatalf("synthetic anomaly has %d ops, want 3", len(run.Anomalies[0].Ops))
	}
	if err := Write(dir, run); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, readFile(t, filepath.Join(dir, PlotFile)))

	html := string(readFile(t, filepath.Join(dir, HTMLFile)))
	for _, want := range []string{
		"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;b&gt;x&lt;/b&gt;",
		`class="verdict invalid">INVALID<`, "data:image/png;base64,",
		"lab run scenarios/partition.yaml --seed 7", `href="logs/n1.log"`,
		"stale read on key k0", "partition (isolate)", "partition (majority-minority)",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("report.html does not contain %q", want)
		}
	}
	for _, bad := range []string{"<script", "<b>x", "http://", "https://", "@import"} {
		if strings.Contains(html, bad) {
			t.Errorf("report.html contains %q", bad)
		}
	}

	md := string(readFile(t, filepath.Join(dir, MarkdownFile)))
	if !strings.HasPrefix(md, "# partition: INVALID\n") {
		t.Errorf("report.md starts with %q, want the title with the verdict", md[:min(len(md), 40)])
	}
	for _, h := range headings {
		if !strings.Contains(md, "\n"+h+"\n") {
			t.Errorf("report.md has no heading %q", h)
		}
	}
	for _, want := range []string{"![Latency of each operation over time](latency.png) ([SVG](latency.svg))", "&lt;b&gt;x&lt;/b&gt;", "```sh\nlab run scenarios/partition.yaml --seed 7\n```"} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md does not contain %q", want)
		}
	}
	for _, bad := range []string{"<script", "<b>"} {
		if strings.Contains(md, bad) {
			t.Errorf("report.md contains %q", bad)
		}
	}
	for _, word := range []string{"cause", "blame"} {
		if strings.Contains(strings.ToLower(md), word) {
			t.Errorf("report.md uses the word %q", word)
		}
	}
}

func TestWriteLatencyPlotSVG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latency.svg")
	if err := WriteLatencyPlot(path, syntheticRun()); err != nil {
		t.Fatal(err)
	}
	if b := readFile(t, path); !bytes.Contains(b, []byte("<svg")) {
		t.Errorf("latency.svg is not SVG: %.60q", b)
	}
}

// unknownEvents is 20 reads on n2 that all time out, 4 of them with no
// completion at all, under a partition that starts at time zero and is
// never healed.
func unknownEvents() []history.Event {
	var evs []history.Event
	for i := int64(0); i < 20; i++ {
		typ := history.Info
		if i%5 == 0 {
			typ = "" // never returned
		}
		evs = append(evs, opEvents(i, "n2", "read", "k", nil, nil, i*50*ms, i*50*ms+1000*ms, typ, "timeout")...)
	}
	evs = append(evs, faultEvents(1, "isolate", [][]string{{"n1"}, {"n2", "n3"}}, 0, -1)...)
	sortEvents(evs)
	return evs
}

// TestWriteDegenerate checks that runs with nothing to measure still give
// complete reports.
func TestWriteDegenerate(t *testing.T) {
	unknown := unknownEvents()
	for _, tc := range []struct {
		name string
		run  *Run
	}{
		{"nil", nil},
		{"empty", &Run{}},
		{"only unknown", &Run{Scenario: "s", Verdict: Unknown, VerdictNote: "check timed out", Events: unknown}},
		{"one op", &Run{Verdict: Valid, Events: opEvents(0, "n1", "read", "k", nil, history.Nil, 0, 0, history.OK, "")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := Write(dir, tc.run); err != nil {
				t.Fatal(err)
			}
			checkPNG(t, readFile(t, filepath.Join(dir, PlotFile)))
			md := string(readFile(t, filepath.Join(dir, MarkdownFile)))
			for _, h := range headings {
				if !strings.Contains(md, h) {
					t.Errorf("report.md has no heading %q", h)
				}
			}
			if html := readFile(t, filepath.Join(dir, HTMLFile)); !bytes.Contains(html, []byte("</html>")) {
				t.Error("report.html is incomplete")
			}
		})
	}
}

func TestStory(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  *Run
		want string
	}{
		{"synthetic", syntheticRun(),
			"The lab ran scenario \"partition\" against etcd 3.6.16, 3 nodes for 30s with seed 7. " +
				"Clients attempted 300 operations: 268 succeeded, 12 failed and 20 ended with an unknown outcome. " +
				"The nemesis injected 2 faults (1 × partition (isolate), 1 × partition (majority-minority)); all were healed. " +
				"The checker found 1 anomaly; the first (stale read on key k0) was observed at 21.903 s, " +
				"while partition (majority-minority) [n1 | n2 n3] was in effect. The verdict is INVALID."},
		{"only unknown", &Run{Scenario: "s", Seed: 3, Verdict: Unknown, VerdictNote: "check timed out", Events: unknownEvents()},
			"The lab ran scenario \"s\" for 2s with seed 3. " +
				"Clients attempted 20 operations: 0 succeeded, 0 failed and 20 ended with an unknown outcome. " +
				"The nemesis injected 1 fault (1 × partition (isolate)); 1 was still in effect when the run ended. " +
				"The verdict is UNKNOWN: the checker could not decide (check timed out), which is not a pass."},
		{"empty", &Run{Verdict: Valid},
			"The lab ran scenario (unnamed) for 0s with seed 0. No client operation was recorded. No fault was injected. " +
				"The checker found no anomaly. The verdict is VALID: the history is consistent with the model."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := newView(tc.run).Story; got != tc.want {
				t.Errorf("story:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestRecoveryView(t *testing.T) {
	got := newView(&Run{Events: unknownEvents()}).Recovery
	want := []recoveryView{{Fault: "partition (isolate)", Healed: "never",
		Result: "did not recover within the run: the fault was still in effect when the run ended", Success: "did not recover within the run"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("recovery = %+v, want %+v", got, want)
	}
}
