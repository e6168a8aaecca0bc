package reports

import (
	"cmp"
	"fmt"
	"image/color"
	"math"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/logcheck"
)

// renderRate draws completions per second by outcome (top) and the share
// of ok among them (bottom), fault windows shaded.
func renderRate(v *view, f plotFormat) ([]byte, error) {
	secs := int(v.end/int64(time.Second)) + 1
	ok, fail, unk := make([]float64, secs), make([]float64, secs), make([]float64, secs)
	for _, op := range v.ops {
		if op.Completed < 0 {
			continue
		}
		s := min(int(op.Completed/int64(time.Second)), secs-1)
		switch op.Type {
		case history.OK:
			ok[s]++
		case history.Fail:
			fail[s]++
		default:
			unk[s]++
		}
	}
	// The last second is cut short by the end of the record: scale it to a
	// rate, or leave it out when it is too short to say anything.
	if part := float64(v.end-int64(secs-1)*int64(time.Second)) / 1e9; secs > 1 && part < 0.999 {
		if part < 0.25 {
			secs--
			ok, fail, unk = ok[:secs], fail[:secs], unk[:secs]
		} else {
			ok[secs-1], fail[secs-1], unk[secs-1] = ok[secs-1]/part, fail[secs-1]/part, unk[secs-1]/part
		}
	}
	line := func(ys []float64) plotter.XYs {
		xys := make(plotter.XYs, len(ys))
		for i, y := range ys {
			xys[i] = plotter.XY{X: float64(i) + 0.5, Y: y}
		}
		return xys
	}
	var share plotter.XYs
	for i := range ok {
		if all := ok[i] + fail[i] + unk[i]; all > 0 {
			share = append(share, plotter.XY{X: float64(i) + 0.5, Y: 100 * ok[i] / all})
		}
	}

	top := basePlot(v, "Completed operations per second, by outcome", "operations / s")
	legend := newLegend()
	for _, s := range []struct {
		name   string
		ys     []float64
		c      color.Color
		dashes []vg.Length
	}{
		{"ok", ok, colorOK, nil},
		{"failed", fail, colorFail, []vg.Length{vg.Points(5), vg.Points(2)}},
		{"unknown", unk, colorUnknown, []vg.Length{vg.Points(1.5), vg.Points(1.5)}},
	} {
		l, err := plotter.NewLine(line(s.ys))
		if err != nil {
			return nil, err
		}
		l.LineStyle = draw.LineStyle{Color: s.c, Width: vg.Points(1.4), Dashes: s.dashes}
		top.Add(l)
		legend.Add(s.name, l)
	}
	top.Y.Min = 0
	top.Add(labels{v.windows})

	bottom := basePlot(v, "Success rate: share of completions that were ok, per second", "ok (%)")
	bottom.Y.Min, bottom.Y.Max = 0, 105
	if len(share) > 0 {
		l, err := plotter.NewLine(share)
		if err != nil {
			return nil, err
		}
		l.LineStyle = draw.LineStyle{Color: colorLabel, Width: vg.Points(1.4)}
		bottom.Add(l)
	}
	bottom.Add(labels{v.windows})
	if len(v.windows) > 0 {
		legend.Add("fault in effect", swatch{})
	}

	cw, dc := newCanvas(PlotWidth, 600, f)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadY: vg.Points(6), PadTop: vg.Points(4), PadBottom: vg.Points(4)}
	legendWidth := vg.Points(190)
	for i, p := range []*plot.Plot{top, bottom} {
		c := tiles.At(dc, 0, i)
		p.Draw(draw.Crop(c, 0, -legendWidth, 0, 0))
	}
	c := tiles.At(dc, 0, 0)
	legend.Draw(draw.Crop(c, c.Max.X-c.Min.X-legendWidth+vg.Points(12), 0, 0, -vg.Points(30)))
	return encode(cw)
}

// basePlot is a plot over the run's time with a grid and fault shading.
func basePlot(v *view, title, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "seconds since start"
	p.Y.Label.Text = ylabel
	p.X.Min, p.X.Max = 0, math.Max(float64(v.end)/1e9, 1)
	p.X.Tick.Marker = secondTicks{}
	grid := plotter.NewGrid()
	grid.Vertical.Color = color.Gray{Y: 0xe4}
	grid.Horizontal.Color = color.Gray{Y: 0xe4}
	p.Add(grid, shading{v.windows, v.end})
	return p
}

// renderTimeline draws the timeline as lanes: the faults, one lane per node
// (its outages, and what its log showed), the whole system's outages, and
// the anomalies.
func renderTimeline(v *view, f plotFormat) ([]byte, error) {
	nodes := nodeNames(v.ops, v.run.Nodes)
	for _, e := range v.logs {
		if !slices.Contains(nodes, e.Node) {
			nodes = append(nodes, e.Node)
		}
	}
	lanes := append([]string{"faults"}, nodes...)
	lanes = append(lanes, "system", "anomalies")
	y := func(lane string) float64 { // top lane first
		return float64(len(lanes) - 1 - slices.Index(lanes, lane))
	}
	p := basePlot(v, "Timeline", "")
	p.Y.Min, p.Y.Max = -0.6, float64(len(lanes))-0.4
	var ticks plot.ConstantTicks
	for _, l := range lanes {
		ticks = append(ticks, plot.Tick{Value: y(l), Label: l})
	}
	p.Y.Tick.Marker = ticks

	tl := &lanePlot{}
	// Faults that overlap share the lane, each on a strip of its own.
	rows, n := stack(v.windows, v.end)
	for i, w := range v.windows {
		e := w.End
		if e < 0 {
			e = v.end
		}
		h := 0.6 / float64(n)
		top := y("faults") + 0.3 - float64(rows[i])*h
		tl.bars = append(tl.bars, laneBar{y: top - h/2, half: h/2 - 0.01, from: w.Start, to: e, c: colorShade, label: faultName(w.Fault)})
	}
	for _, o := range v.outages {
		lane := o.Node
		if lane == "" {
			lane = "system"
		}
		tl.bars = append(tl.bars, laneBar{y: y(lane), half: 0.3, from: o.From, to: o.To, c: color.NRGBA{R: 0xd0, G: 0x21, B: 0x2c, A: 0x90}})
	}
	p.Add(tl)
	legend := newLegend()
	mark := func(name string, xys plotter.XYs, glyph draw.GlyphDrawer, c color.Color) error {
		if len(xys) == 0 {
			return nil
		}
		s, err := plotter.NewScatter(xys)
		if err != nil {
			return err
		}
		s.GlyphStyle = draw.GlyphStyle{Shape: glyph, Color: c, Radius: vg.Points(4)}
		p.Add(s)
		legend.Add(name, s)
		return nil
	}
	var leaders, restarts, problems, anomalies plotter.XYs
	for _, e := range v.logs {
		if !e.Timed || e.At < 0 {
			continue
		}
		pt := plotter.XY{X: float64(e.At) / 1e9, Y: y(e.Node)}
		switch {
		case e.Kind == logcheck.LeaderChange:
			leaders = append(leaders, pt)
		case e.Kind == logcheck.Restart:
			restarts = append(restarts, pt)
		case e.Kind.Problem():
			problems = append(problems, pt)
		}
	}
	for _, a := range v.run.Anomalies {
		anomalies = append(anomalies, plotter.XY{X: float64(a.Time) / 1e9, Y: y("anomalies")})
	}
	for _, m := range []struct {
		name  string
		xys   plotter.XYs
		glyph draw.GlyphDrawer
		c     color.Color
	}{
		{"leader change (log)", leaders, draw.PyramidGlyph{}, colorLabel},
		{"restart (log)", restarts, draw.SquareGlyph{}, colorUnknown},
		{"panic, fatal or race (log)", problems, draw.CrossGlyph{}, colorFail},
		{"anomaly", anomalies, draw.CircleGlyph{}, colorFail},
	} {
		if err := mark(m.name, m.xys, m.glyph, m.c); err != nil {
			return nil, err
		}
	}
	legend.Add("fault in effect", swatch{})
	legend.Add("unavailable", laneSwatch{color.NRGBA{R: 0xd0, G: 0x21, B: 0x2c, A: 0x90}})

	h := 90 + 42*len(lanes)
	cw, dc := newCanvas(PlotWidth, h, f)
	legendWidth := vg.Points(190)
	p.Draw(draw.Crop(dc, 0, -legendWidth, 0, 0))
	legend.Draw(draw.Crop(dc, dc.Max.X-legendWidth+vg.Points(12), 0, 0, -vg.Points(30)))
	return encode(cw)
}

// laneBar is a bar from y-half to y+half, in lane units.
type laneBar struct {
	y, half  float64
	from, to int64
	c        color.Color
	label    string
}

// stack gives each fault window a row, so that windows that overlap in
// time get different rows: the lowest row free when it starts. It returns
// the rows and how many there are (at least 1).
func stack(windows []history.Window, end int64) ([]int, int) {
	rows := make([]int, len(windows))
	var busy []int64 // when each row is free again
	order := make([]int, len(windows))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(windows[a].Start, windows[b].Start) })
	for _, i := range order {
		w := windows[i]
		e := w.End
		if e < 0 {
			e = max(end, w.Start)
		}
		row := slices.IndexFunc(busy, func(free int64) bool { return free <= w.Start })
		if row < 0 {
			row = len(busy)
			busy = append(busy, 0)
		}
		busy[row] = max(e, w.Start+1)
		rows[i] = row
	}
	return rows, max(1, len(busy))
}

// lanePlot draws bars on the lanes of the timeline.
type lanePlot struct{ bars []laneBar }

func (l *lanePlot) Plot(c draw.Canvas, p *plot.Plot) {
	x, y := p.Transforms(&c)
	sty := text.Style{Font: font.From(plot.DefaultFont, vg.Points(8)), Handler: plot.DefaultTextHandler, Color: colorLabel}
	for _, b := range l.bars {
		x0 := max(x(float64(b.from)/1e9), c.Min.X)
		x1 := max(min(x(float64(b.to)/1e9), c.Max.X), x0+1)
		y0, y1 := y(b.y-b.half), y(b.y+b.half)
		c.FillPolygon(b.c, []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
		if b.label != "" {
			c.FillText(sty, vg.Point{X: x0 + vg.Points(3), Y: y0 + vg.Points(3)}, b.label)
		}
	}
}

type laneSwatch struct{ c color.Color }

func (s laneSwatch) Thumbnail(c *draw.Canvas) {
	c.FillPolygon(s.c, []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Min.X, Y: c.Max.Y}})
}

// clockSteps are the clock offsets the history records, per node, as steps:
// zero, the offset from a clock fault's start to its end, zero again.
func clockSteps(events []history.Event, end int64) map[string]plotter.XYs {
	type span struct {
		from, to int64
		off      float64
		nodes    []string
	}
	open := map[int]*span{}
	var spans []*span
	for _, e := range events {
		if e.Process != history.Nemesis || e.Fault == nil || e.Fault.Kind != "clock" {
			continue
		}
		switch e.F {
		case history.FaultStart:
			if e.Fault.Offset == 0 {
				continue
			}
			nodes := strings.FieldsFunc(e.Node, func(r rune) bool { return r == ',' || r == ' ' })
			for _, g := range e.Fault.Groups {
				nodes = append(nodes, g...)
			}
			if len(nodes) == 0 {
				nodes = []string{"all nodes"}
			}
			s := &span{from: e.Time, to: -1, off: float64(e.Fault.Offset) / 1e6, nodes: nodes}
			open[e.Fault.ID] = s
			spans = append(spans, s)
		case history.FaultEnd:
			if s := open[e.Fault.ID]; s != nil {
				s.to = e.Time
			}
		}
	}
	out := map[string]plotter.XYs{}
	for _, s := range spans {
		to := s.to
		if to < 0 {
			to = end
		}
		for _, n := range s.nodes {
			out[n] = append(out[n],
				plotter.XY{X: float64(s.from) / 1e9, Y: 0}, plotter.XY{X: float64(s.from) / 1e9, Y: s.off},
				plotter.XY{X: float64(to) / 1e9, Y: s.off}, plotter.XY{X: float64(to) / 1e9, Y: 0})
		}
	}
	return out
}

// renderClock draws the clock offsets of the clock faults; nil when the
// history records none.
func renderClock(v *view, f plotFormat) ([]byte, error) {
	steps := clockSteps(v.run.Events, v.end)
	if len(steps) == 0 {
		return nil, nil
	}
	p := basePlot(v, "Clock offset set by the nemesis, per node", "offset (ms)")
	legend := newLegend()
	palette := []color.Color{colorLabel, colorFail, colorOK, colorUnknown, color.NRGBA{R: 0x80, G: 0x3f, B: 0xa8, A: 0xff}}
	for i, n := range sortedKeys(steps) {
		xys := append(plotter.XYs{{X: 0, Y: 0}}, steps[n]...)
		xys = append(xys, plotter.XY{X: float64(v.end) / 1e9, Y: 0})
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, err
		}
		l.LineStyle = draw.LineStyle{Color: palette[i%len(palette)], Width: vg.Points(1.6), Dashes: []vg.Length{vg.Points(float64(2 + 2*i)), vg.Points(2)}}
		p.Add(l)
		legend.Add(n, l)
	}
	p.Add(labels{v.windows})
	cw, dc := newCanvas(PlotWidth, 360, f)
	legendWidth := vg.Points(190)
	p.Draw(draw.Crop(dc, 0, -legendWidth, 0, 0))
	legend.Draw(draw.Crop(dc, dc.Max.X-legendWidth+vg.Points(12), 0, 0, -vg.Points(30)))
	return encode(cw)
}

// figure is one rendered plot of the report.
type figure struct {
	Name  string // file name without extension
	Alt   string
	PNG   []byte
	Width int
}

// renderFigures renders every plot of the report as PNG and SVG; a plot
// with nothing to show (the clock without clock faults, the queue without
// a queue account) is left out.
func renderFigures(v *view) (figs []figure, svgs map[string][]byte, err error) {
	svgs = map[string][]byte{}
	for _, r := range []struct {
		name, alt string
		fn        func(*view, plotFormat) ([]byte, error)
	}{
		{"latency", "Latency of each operation over time, by operation, fault windows shaded", renderPlot},
		{"rate", "Throughput and success rate per second, fault windows shaded", renderRate},
		{"timeline", "Timeline: faults, unavailability per node and for the system, log events and anomalies", renderTimeline},
		{"clock", "Clock offsets set by the nemesis, per node", renderClock},
		{"queue", "Every publish by fate (read, lost, unread, unknown, recovered), and what each node's final drain held, fault windows shaded", renderQueue},
	} {
		png, err := r.fn(v, formatPNG)
		if err != nil {
			return nil, nil, fmt.Errorf("%s plot: %w", r.name, err)
		}
		if png == nil {
			continue
		}
		svg, err := r.fn(v, formatSVG)
		if err != nil {
			return nil, nil, fmt.Errorf("%s plot: %w", r.name, err)
		}
		figs = append(figs, figure{Name: r.name, Alt: r.alt, PNG: png, Width: PlotWidth})
		svgs[r.name] = svg
	}
	return figs, svgs, nil
}
