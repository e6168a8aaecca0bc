package reports

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lab-chaos/lab/checker"
	"github.com/lab-chaos/lab/history"
)

// queueRun is 20 s of a queue workload on three nodes: processes 0-3
// publish one message every 50 ms each through n1, n2, n3, n1; n3 is cut
// off from 6 s to 10 s, its publishes time out (unknown) and some of them
// are read later (recovered); two acknowledged messages of process 1 are
// read nowhere (lost in the middle), n3's final drain lacks the last 40
// messages, and n2's drain gives up.
func queueRun(t *testing.T) *Run {
	t.Helper()
	nodes := []string{"n1", "n2", "n3", "n1"}
	var evs []history.Event
	type stored struct{ msg, seq int64 }
	var stream []stored
	seq := int64(0)
	msg := int64(0)
	for step := int64(0); step < 400; step++ {
		for p := int64(0); p < 4; p++ {
			msg++
			call := step*50*ms + p*5*ms
			node := nodes[p]
			cut := node == "n3" && call >= 6000*ms && call < 10000*ms
			switch {
			case cut:
				evs = append(evs, opEvents(p+100*step, node, "enqueue", "", history.IntValue(msg), nil, call, call+1000*ms, history.Info, "context deadline exceeded")...)
				if msg%3 == 0 {
					seq++
					stream = append(stream, stored{msg, seq})
				}
			default:
				seq++
				out := history.Value(fmt.Sprintf("[%d,%d]", msg, seq))
				evs = append(evs, opEvents(p, node, "enqueue", "", history.IntValue(msg), out, call, call+3*ms, history.OK, "")...)
				if p == 1 && (msg == 802 || msg == 806) {
					continue // acknowledged, then lost
				}
				stream = append(stream, stored{msg, seq})
			}
		}
	}
	// Unknown publishes continue as new processes: give them their own.
	for i := range evs {
		if evs[i].Process >= 100 {
			evs[i].Process += 1000
		}
	}
	drain := func(proc int64, node string, keep int, at int64, gaveUp bool) {
		var b strings.Builder
		b.WriteByte('[')
		for i, s := range stream[:keep] {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "[%d,%d]", s.msg, s.seq)
		}
		b.WriteByte(']')
		evs = append(evs, opEvents(proc, node, "drain", "", history.IntValue(1), history.Value(b.String()), at, at+100*ms, history.OK, "")...)
		if gaveUp {
			evs = append(evs, opEvents(proc, node, "drained", "", nil, nil, at+200*ms, at+2000*ms, history.Info, "context deadline exceeded")...)
			return
		}
		last := stream[keep-1].seq
		evs = append(evs, opEvents(proc, node, "drained", "", nil, history.IntValue(last), at+200*ms, at+300*ms, history.OK, "")...)
	}
	drain(9000, "n1", len(stream), 20500*ms, false)
	drain(9001, "n2", len(stream)/2, 21000*ms, true)
	drain(9002, "n3", len(stream)-40, 21500*ms, false)
	evs = append(evs, faultEvents(1, "isolate", [][]string{{"n1", "n2"}, {"n3"}}, 6000*ms, 10000*ms)...)
	sortEvents(evs)
	res, err := checker.Check(context.Background(), evs, checker.Options{Model: "queue"})
	if err != nil {
		t.Fatal(err)
	}
	return &Run{Scenario: "queue-partition", Nodes: []string{"n1", "n2", "n3"}, Events: evs,
		Verdict: string(res.Verdict), VerdictNote: res.Reason, Anomalies: res.Anomalies, Queue: res.Queue}
}

func TestQueuePlot(t *testing.T) {
	run := queueRun(t)
	q := run.Queue
	if q.LostMiddle != 2 || q.Recovered == 0 || q.LostOnNode != 40 || run.Verdict != Invalid {
		t.Fatalf("the synthetic run is not what it should be: verdict %s, %+v", run.Verdict, *q)
	}
	dir := t.TempDir()
	if *out != "" {
		dir = *out
	}
	if err := Write(dir, run); err != nil {
		t.Fatal(err)
	}
	b := readFile(t, filepath.Join(dir, QueueFile))
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("queue plot is not a PNG: %v", err)
	}
	// One panel for the fates, one per node.
	if got := img.Bounds().Size(); got.X != PlotWidth || got.Y != 40+300*4 {
		t.Errorf("queue plot is %v, want %dx%d", got, PlotWidth, 40+300*4)
	}
	if len(b) < 30<<10 {
		t.Errorf("queue plot is %d bytes: too small to hold the points", len(b))
	}
	svg := string(readFile(t, filepath.Join(dir, "queue.svg")))
	for _, want := range []string{"Every publish, by fate", "lost in the middle (a hole) (2)", "recovered (unknown, read)",
		"n3: drain completed at seq", "40 missing though read elsewhere, 2 read nowhere", "n2: drain gave up after seq", "not judged (drain gave up)", "partition (isolate)"} {
		if !strings.Contains(svg, want) {
			t.Errorf("queue.svg does not say %q", want)
		}
	}
	md := string(readFile(t, filepath.Join(dir, MarkdownFile)))
	for _, want := range []string{"### Queue account", "| lost in the middle (a hole) | 2 |", "| lost on a node (message and node) | 40 |",
		"| n2 | gave up: context deadline exceeded |", "![Every publish by fate, and what each node held](queue.png) ([SVG](queue.svg))",
		"message 802 (process 1, via n2)"} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md does not contain %q", want)
		}
	}
	html := string(readFile(t, filepath.Join(dir, HTMLFile)))
	for _, want := range []string{"<h3>Queue account</h3>", `id="fig-queue"`, "lost in the middle (a hole)"} {
		if !strings.Contains(html, want) {
			t.Errorf("report.html does not contain %q", want)
		}
	}
	if strings.Count(html, `id="fig-queue"`) != 1 {
		t.Errorf("the queue plot is in report.html %d times, want once", strings.Count(html, `id="fig-queue"`))
	}
}

// TestNoQueuePlot: a run without a queue account has no queue figure.
func TestNoQueuePlot(t *testing.T) {
	figs, _, err := renderFigures(newView(syntheticRun()))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range figs {
		if f.Name == "queue" {
			t.Errorf("a register run has a queue figure")
		}
	}
	if md := string(renderMarkdown(newView(syntheticRun()), nil)); strings.Contains(md, "Queue account") {
		t.Errorf("a register run's report has a queue account")
	}
}
