package reports

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/lab-chaos/lab/history"
)

func TestStack(t *testing.T) {
	w := func(start, end int64) history.Window { return history.Window{Start: start, End: end} }
	windows := []history.Window{w(0, 10), w(5, 15), w(10, 20), w(12, -1), w(30, 40)}
	rows, n := stack(windows, 50)
	if want := []int{0, 1, 0, 2, 0}; !reflect.DeepEqual(rows, want) || n != 3 {
		t.Errorf("stack = %v, %d; want %v, 3", rows, n, want)
	}
	if rows, n := stack(nil, 50); len(rows) != 0 || n != 1 {
		t.Errorf("stack(nil) = %v, %d; want none on 1 row", rows, n)
	}
}

// overlappingRun is the synthetic run with a kill of n2 from 10 s to 12 s
// (step 1 of sequence 3) inside the isolation of n3 (8 s to 14 s).
func overlappingRun() *Run {
	run := syntheticRun()
	f := &history.Fault{ID: 4, Kind: "kill", Shape: "nodes", Groups: [][]string{{"n2"}}, Parent: 3, Detail: "SIGKILL n2; step 1 of sequence 3"}
	run.Events = append(run.Events,
		history.Event{Time: 10000 * ms, Process: history.Nemesis, Type: history.Info, F: history.FaultStart, Fault: f},
		history.Event{Time: 12000 * ms, Process: history.Nemesis, Type: history.Info, F: history.FaultEnd, Fault: f})
	sortEvents(run.Events)
	return run
}

// TestOverlappingWindows: two fault windows in effect at once both show:
// shaded and labelled on the plots, on strips of their own in the
// timeline's fault lane, and in the timeline table.
func TestOverlappingWindows(t *testing.T) {
	run := overlappingRun()
	v := newView(run)
	if len(v.windows) != 3 {
		t.Fatalf("%d windows, want 3", len(v.windows))
	}
	if rows, n := stack(v.windows, v.end); n != 2 || rows[0] == rows[1] {
		t.Errorf("timeline rows %v of %d: want the kill and the isolation apart", rows, n)
	}
	dir := t.TempDir()
	if *out != "" {
		dir = *out
	}
	if err := Write(dir, run); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"latency.svg", "rate.svg", "timeline.svg"} {
		svg := string(readFile(t, filepath.Join(dir, f)))
		for _, want := range []string{"partition (isolate)", "kill (nodes)", "partition (majority-minority)"} {
			if !strings.Contains(svg, want) {
				t.Errorf("%s does not name %q", f, want)
			}
		}
	}
	// Each window is shaded in the latency plot (one panel per
	// operation: read and write), with the legend's swatch beside.
	svg := string(readFile(t, filepath.Join(dir, "latency.svg")))
	if got := strings.Count(svg, shadeFill); got != 2*(3+1) {
		t.Errorf("latency.svg has %d shaded areas, want %d", got, 2*(3+1))
	}
	md := string(readFile(t, filepath.Join(dir, MarkdownFile)))
	for _, want := range []string{"fault injected: partition (isolate)", "fault injected: kill (nodes)", "fault healed: kill (nodes)",
		"SIGKILL n2; step 1 of sequence 3", "3 faults"} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md does not say %q", want)
		}
	}
	if i, j := strings.Index(md, "fault injected: kill (nodes)"), strings.Index(md, "fault healed: partition (isolate)"); i < 0 || j < i {
		t.Errorf("report.md's timeline does not put the kill inside the isolation")
	}
}

// shadeFill is how the SVG writer spells colorShade, premultiplied.
const shadeFill = "fill:#496EB4;fill-opacity:0.21961"
