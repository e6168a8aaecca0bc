package reports

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/lab-chaos/lab/checker"
)

// The queue's part of the report, when the run's result has a queue
// account ([Run.Queue]): a table of the account, the drain of each node,
// and a plot of every publish's fate and of what each node held.

// QueueFile is the queue plot, written only for queue runs.
const QueueFile = "queue.png"

// queueNote explains the queue plot and table, in both formats.
const queueNote = "Top: every publish, at its acknowledgement (or its invocation, when it was not acknowledged), one lane per publishing process (a client whose publish ended unknown continues as a new process), coloured by fate; failed publishes are not drawn. Lost: acknowledged and read by no consumer and no drain although a drain completed, placed among the same publisher's messages that were read (before the first, between two, after the last). Unread: acknowledged and read nowhere, while no drain completed: not counted as loss. Below, one panel per node: each acknowledged message at its acknowledgement time and seq, held by that node's final drain, missing from it though read elsewhere (lost on the node), read nowhere (lost), or not judged (the node's drain gave up). Shaded: faults in effect."

// Porcupine reports whether history.html is porcupine's drawing of the
// operations: it is not for a queue or a lease history, whose history.html
// is its account.
func (v *view) Porcupine() bool {
	return v.History != "" && v.run.Queue == nil && v.run.Lease == nil
}

// QueueAccount is the account table: one row per count.
func (v *view) QueueAccount() [][2]string {
	q := v.run.Queue
	if q == nil {
		return nil
	}
	dup := "allowed (at-least-once); an anomaly with --exactly-once"
	if q.ExactlyOnce {
		dup = "anomalies (exactly-once)"
	}
	n := strconv.Itoa
	rows := [][2]string{
		{"published (publishes that did not fail)", n(q.Attempted)},
		{"acknowledged", n(q.Acknowledged)},
		{"unknown outcome", n(q.Unknown)},
		{"failed (not published)", n(q.Failed)},
		{"read (distinct messages, by a consumer or a drain)", n(q.Read)},
		{"recovered (unknown outcome, read)", n(q.Recovered)},
		{"lost at the start", n(q.LostStart)},
		{"lost in the middle (a hole)", n(q.LostMiddle)},
		{"lost at the end", n(q.LostEnd)},
		{"unread (no drain completed: not loss)", n(q.Unread)},
		{"lost on a node (message and node)", n(q.LostOnNode)},
		{"seqs holding different messages (divergent)", n(q.Divergent)},
		{"unexpected (read, never published)", n(q.Unexpected)},
		{"duplicated: " + dup, n(q.Duplicated)},
		{"out of order", n(q.Order)},
	}
	return rows
}

// queueNodeRow is one node's drain in the report.
type queueNodeRow struct{ Node, State, LastSeq, Read, Missing string }

// QueueNodes are the rows of the drain table.
func (v *view) QueueNodes() []queueNodeRow {
	q := v.run.Queue
	if q == nil {
		return nil
	}
	var rows []queueNodeRow
	for _, nd := range q.Nodes {
		r := queueNodeRow{Node: queueNodeName(nd.Node), State: "completed", LastSeq: strconv.FormatInt(nd.LastSeq, 10),
			Read: strconv.Itoa(nd.Read), Missing: strconv.Itoa(nd.Missing)}
		if !nd.Complete {
			r.State, r.Missing = "gave up: "+nd.Error, "not judged"
		}
		rows = append(rows, r)
	}
	return rows
}

func queueNodeName(n string) string {
	if n == "" {
		return "(the drain)"
	}
	return n
}

// queueMarkdown is the queue account in the Markdown report.
func queueMarkdown(v *view, figs []string) string {
	rows := v.QueueAccount()
	if rows == nil {
		return ""
	}
	e := mdEscape
	s := newAccount("Queue account", "messages", rows).markdown()
	if nodes := v.QueueNodes(); len(nodes) > 0 {
		s += "\n| Drain through | State | Last seq | Read | Missing |\n|---|---|---:|---:|---:|\n"
		for _, r := range nodes {
			s += fmt.Sprintf("| %s | %s | %s | %s | %s |\n", e(r.Node), e(r.State), r.LastSeq, r.Read, r.Missing)
		}
	}
	s += "\n"
	if slices.Contains(figs, "queue") {
		s += fmt.Sprintf("![%s](%s) ([SVG](%s))\n\n%s\n\n", figAlt["queue"], mdLink("queue.png"), mdLink("queue.svg"), queueNote)
	}
	return s
}

// Fates in the plot: drawing order (later on top), name, colour, glyph.
var queueFates = []struct {
	fate, name string
	c          color.Color
	glyph      draw.GlyphDrawer
	r          float64
}{
	{checker.FateRead, "read", colorOK, draw.CircleGlyph{}, 1.6},
	{checker.FateRecovered, "recovered (unknown, read)", color.NRGBA{R: 0x1f, G: 0x78, B: 0xb4, A: 0xff}, draw.RingGlyph{}, 2.6},
	{checker.FateUnknown, "unknown (never read)", colorUnknown, draw.TriangleGlyph{}, 2.6},
	{checker.FateUnread, "unread (no drain completed)", color.Gray{Y: 0x70}, draw.RingGlyph{}, 3},
	{checker.FateLostStart, "lost at the start", color.NRGBA{R: 0x80, G: 0x3f, B: 0xa8, A: 0xff}, draw.SquareGlyph{}, 3},
	{checker.FateLostEnd, "lost at the end", color.NRGBA{R: 0xa0, G: 0x50, B: 0x00, A: 0xff}, draw.PyramidGlyph{}, 3.2},
	{checker.FateLostMiddle, "lost in the middle (a hole)", colorFail, draw.CrossGlyph{}, 3.6},
}

// renderQueue draws every publish by fate over time, and one panel per
// node of what its drain held; nil when the run has no queue account.
func renderQueue(v *view, f plotFormat) ([]byte, error) {
	q := v.run.Queue
	if q == nil || len(q.Messages) == 0 {
		return nil, nil
	}
	var nodes []checker.QueueNode
	for _, n := range q.Nodes {
		if n.Node != "" {
			nodes = append(nodes, n)
		}
	}
	top, topLegend, err := queueFatePanel(v, q)
	if err != nil {
		return nil, err
	}
	rows := 1 + len(nodes)
	cw, dc := newCanvas(PlotWidth, 40+300*rows, f)
	tiles := draw.Tiles{Rows: rows, Cols: 1, PadY: vg.Points(6), PadTop: vg.Points(4), PadBottom: vg.Points(4)}
	legendWidth := vg.Points(190)
	place := func(i int, p *plot.Plot, l *plot.Legend) {
		c := tiles.At(dc, 0, i)
		p.Draw(draw.Crop(c, 0, -legendWidth, 0, 0))
		l.Draw(draw.Crop(c, c.Max.X-c.Min.X-legendWidth+vg.Points(12), 0, 0, -vg.Points(30)))
	}
	place(0, top, topLegend)
	for i, n := range nodes {
		p, l, err := queueNodePanel(v, q, n)
		if err != nil {
			return nil, err
		}
		place(i+1, p, l)
	}
	return encode(cw)
}

// queueFatePanel: x the acknowledgement (or invocation), y the publisher:
// one lane per process, in the order of the process numbers (a client whose
// publish ended unknown continues as a new process, so lanes can be many).
func queueFatePanel(v *view, q *checker.QueueReport) (*plot.Plot, *plot.Legend, error) {
	p := basePlot(v, "Every publish, by fate", "publisher (process)")
	p.X.Label.Text = "seconds since start (acknowledgement, or invocation if not acknowledged)"
	var procs []int64
	for _, m := range q.Messages {
		if !slices.Contains(procs, int64(m.Process)) {
			procs = append(procs, int64(m.Process))
		}
	}
	slices.Sort(procs)
	lane := map[int64]float64{}
	for i, pr := range procs {
		lane[pr] = float64(i)
	}
	byFate := map[string]plotter.XYs{}
	failed := 0
	for _, m := range q.Messages {
		if m.Fate == checker.FateFailed {
			failed++
			continue
		}
		t := m.Acked
		if t < 0 {
			t = m.Invoked
		}
		byFate[m.Fate] = append(byFate[m.Fate], plotter.XY{X: float64(t) / 1e9, Y: lane[int64(m.Process)]})
	}
	p.Y.Min, p.Y.Max = -0.8, math.Max(float64(len(procs))-0.2, 0.8)
	var ticks plot.ConstantTicks
	every := max(1, (len(procs)+15)/16)
	for i, pr := range procs {
		if i%every == 0 {
			ticks = append(ticks, plot.Tick{Value: float64(i), Label: strconv.FormatInt(pr, 10)})
		}
	}
	p.Y.Tick.Marker = ticks
	legend := newLegend()
	for _, fs := range queueFates {
		xys := byFate[fs.fate]
		if len(xys) == 0 {
			continue
		}
		s, err := plotter.NewScatter(xys)
		if err != nil {
			return nil, nil, err
		}
		s.GlyphStyle = draw.GlyphStyle{Shape: fs.glyph, Color: fs.c, Radius: vg.Points(fs.r)}
		p.Add(s)
		legend.Add(fmt.Sprintf("%s (%d)", fs.name, len(xys)), s)
	}
	if failed > 0 {
		legend.Add(fmt.Sprintf("failed, not drawn: %d", failed))
	}
	if len(v.windows) > 0 {
		legend.Add("fault in effect", swatch{})
	}
	p.Add(labels{v.windows})
	return p, &legend, nil
}

// queueNodePanel: each acknowledged message with a seq, at its
// acknowledgement time and seq: held by n's drain, missing from it though
// read elsewhere (lost on the node), read nowhere (lost), or not judged
// (n's drain gave up).
func queueNodePanel(v *view, q *checker.QueueReport, n checker.QueueNode) (*plot.Plot, *plot.Legend, error) {
	var held, missing, nowhere, unjudged plotter.XYs
	hi := 1.0
	for _, m := range q.Messages {
		if m.Acked < 0 || m.Seq == 0 {
			continue
		}
		pt := plotter.XY{X: float64(m.Acked) / 1e9, Y: float64(m.Seq)}
		hi = math.Max(hi, float64(m.Seq))
		switch {
		case slices.Contains(m.HeldBy, n.Node):
			held = append(held, pt)
		case n.Complete && strings.HasPrefix(m.Fate, "lost-"):
			nowhere = append(nowhere, pt)
		case n.Complete:
			missing = append(missing, pt)
		default:
			unjudged = append(unjudged, pt)
		}
	}
	title := fmt.Sprintf("%s: drain completed at seq %d; holds %d of %d acknowledged messages; %d missing though read elsewhere, %d read nowhere",
		n.Node, n.LastSeq, len(held), len(held)+len(missing)+len(nowhere), len(missing), len(nowhere))
	if !n.Complete {
		title = fmt.Sprintf("%s: drain gave up after seq %d (%s); %d acknowledged messages read, the rest not judged", n.Node, n.LastSeq, n.Error, len(held))
	}
	p := basePlot(v, title, "acknowledged at seq")
	p.X.Label.Text = "seconds since start (acknowledgement)"
	p.Y.Min, p.Y.Max = 0, math.Max(hi, float64(n.LastSeq))*1.05+1
	legend := newLegend()
	if n.Complete {
		l, err := plotter.NewLine(plotter.XYs{{X: p.X.Min, Y: float64(n.LastSeq)}, {X: p.X.Max, Y: float64(n.LastSeq)}})
		if err != nil {
			return nil, nil, err
		}
		l.LineStyle = draw.LineStyle{Color: colorLabel, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}
		p.Add(l)
		legend.Add(fmt.Sprintf("last seq %s holds: %d", n.Node, n.LastSeq), l)
	}
	for _, s := range []struct {
		name  string
		xys   plotter.XYs
		c     color.Color
		glyph draw.GlyphDrawer
		r     float64
	}{
		{"held", held, colorOK, draw.CircleGlyph{}, 1.6},
		{"not judged (drain gave up)", unjudged, color.Gray{Y: 0x90}, draw.RingGlyph{}, 2.4},
		{"read nowhere (lost)", nowhere, color.NRGBA{R: 0x80, G: 0x3f, B: 0xa8, A: 0xff}, draw.SquareGlyph{}, 3},
		{"missing, read elsewhere", missing, colorFail, draw.CrossGlyph{}, 3.4},
	} {
		if len(s.xys) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(s.xys)
		if err != nil {
			return nil, nil, err
		}
		sc.GlyphStyle = draw.GlyphStyle{Shape: s.glyph, Color: s.c, Radius: vg.Points(s.r)}
		p.Add(sc)
		legend.Add(fmt.Sprintf("%s (%d)", s.name, len(s.xys)), sc)
	}
	if len(v.windows) > 0 {
		legend.Add("fault in effect", swatch{})
	}
	p.Add(labels{v.windows})
	return p, &legend, nil
}
