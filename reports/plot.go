package reports

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/lab-chaos/lab/history"
)

// The plot's size in pixels, at plotDPI.
const (
	PlotWidth  = 1200
	PlotHeight = 500
	plotDPI    = 96
)

type plotFormat int

const (
	formatPNG plotFormat = iota
	formatSVG
)

// Colours and markers: ok, failed and unknown outcomes must be told apart
// in colour and in shape (for readers who do not see the colours).
var (
	colorOK      = color.NRGBA{R: 0x2b, G: 0x8a, B: 0x3e, A: 0xff}
	colorFail    = color.NRGBA{R: 0xd0, G: 0x21, B: 0x2c, A: 0xff}
	colorUnknown = color.NRGBA{R: 0xe0, G: 0x7b, B: 0x00, A: 0xff}
	colorShade   = color.NRGBA{R: 0x4a, G: 0x6f, B: 0xb5, A: 0x38}
	colorEdge    = color.NRGBA{R: 0x4a, G: 0x6f, B: 0xb5, A: 0x90}
	colorLabel   = color.NRGBA{R: 0x1f, G: 0x3a, B: 0x6e, A: 0xff}
)

// WriteLatencyPlot draws the latency of every operation over time into path,
// as PNG, or as SVG when path ends in ".svg". Each operation is a point at
// the time it completed (x, seconds since the start) and its latency (y,
// milliseconds, on a log scale when the range is wide); an operation with
// an unknown outcome is placed where the client gave up, so its latency is
// its timeout. Fault windows are shaded and labelled with kind and shape.
func WriteLatencyPlot(path string, run *Run) error {
	f := formatPNG
	if strings.HasSuffix(strings.ToLower(path), ".svg") {
		f = formatSVG
	}
	b, err := renderPlot(newView(run), f)
	if err != nil {
		return fmt.Errorf("latency plot: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("latency plot: %w", err)
	}
	return nil
}

func renderPlot(v *view, f plotFormat) ([]byte, error) {
	// One panel per operation function, in order of first appearance.
	var fs []string
	byF := map[string][]history.Op{}
	for _, op := range v.ops {
		if _, ok := byF[op.F]; !ok {
			fs = append(fs, op.F)
		}
		byF[op.F] = append(byF[op.F], op)
	}
	order := map[string]int{"read": 0, "write": 1, "cas": 2}
	sort.SliceStable(fs, func(i, j int) bool {
		oi, iok := order[fs[i]]
		oj, jok := order[fs[j]]
		switch {
		case iok && jok:
			return oi < oj
		case iok != jok:
			return iok
		}
		return fs[i] < fs[j]
	})
	if len(fs) == 0 {
		fs = []string{""}
	}
	cw, dc := newCanvas(PlotWidth, latencyHeight(len(fs)), f)
	tiles := draw.Tiles{Rows: len(fs), Cols: 1, PadY: vg.Points(6), PadTop: vg.Points(4), PadBottom: vg.Points(4)}
	for i, name := range fs {
		p, legend, err := latencyPanel(v, byF[name], name)
		if err != nil {
			return nil, err
		}
		c := tiles.At(dc, 0, i)
		legendWidth := vg.Points(190)
		p.Draw(draw.Crop(c, 0, -legendWidth, 0, 0))
		legend.Draw(draw.Crop(c, c.Max.X-c.Min.X-legendWidth+vg.Points(12), 0, 0, -vg.Points(30)))
	}
	return encode(cw)
}

// latencyHeight is the height of the latency plot with n panels, in pixels.
func latencyHeight(n int) int {
	if n <= 1 {
		return PlotHeight
	}
	return 40 + 280*n
}

// newCanvas makes a canvas of w×h pixels at plotDPI.
func newCanvas(wpx, hpx int, f plotFormat) (vg.CanvasWriterTo, draw.Canvas) {
	w := vg.Length(wpx) * vg.Inch / plotDPI
	h := vg.Length(hpx) * vg.Inch / plotDPI
	var cw vg.CanvasWriterTo
	switch f {
	case formatSVG:
		cw = vgsvg.New(w, h)
	default:
		cw = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(plotDPI))}
	}
	return cw, draw.New(cw)
}

func encode(cw vg.CanvasWriterTo) ([]byte, error) {
	var buf bytes.Buffer
	if _, err := cw.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// latencyPanel plots the latency of ops, one operation function's.
func latencyPanel(v *view, ops []history.Op, name string) (*plot.Plot, *plot.Legend, error) {
	var ok, fail, unknown plotter.XYs
	never := 0
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, op := range ops {
		if op.Completed < 0 {
			never++
			continue // never returned: no latency to show
		}
		ms := float64(op.Completed-op.Call) / 1e6
		pt := plotter.XY{X: float64(op.Completed) / 1e9, Y: ms}
		switch op.Type {
		case history.OK:
			ok = append(ok, pt)
		case history.Fail:
			fail = append(fail, pt)
		default:
			unknown = append(unknown, pt)
		}
		lo, hi = math.Min(lo, ms), math.Max(hi, ms)
	}

	p := plot.New()
	p.Title.Text = "Latency of each operation, at its completion"
	if name != "" {
		p.Title.Text = "Latency of each " + name + ", at its completion"
	}
	p.X.Label.Text = "seconds since start"
	p.Y.Label.Text = "latency (ms)"
	p.X.Min, p.X.Max = 0, math.Max(float64(v.end)/1e9, 1)
	p.X.Tick.Marker = secondTicks{}

	const floor = 0.01 // ms; a log scale cannot show zero
	logY := len(ok)+len(fail)+len(unknown) > 0 && hi/math.Max(lo, floor) > 50
	switch {
	case math.IsInf(lo, 1):
		p.Y.Min, p.Y.Max = 0, 1
		p.Title.Text += ": no operation completed"
	case logY:
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Y.Label.Text = "latency (ms, log scale)"
		for _, xys := range []plotter.XYs{ok, fail, unknown} {
			for i := range xys {
				xys[i].Y = math.Max(xys[i].Y, floor)
			}
		}
		p.Y.Min, p.Y.Max = math.Max(lo, floor)/1.5, hi*1.5
	default:
		p.Y.Min, p.Y.Max = 0, math.Max(hi*1.05, 1)
	}

	grid := plotter.NewGrid()
	grid.Vertical.Color = color.Gray{Y: 0xe4}
	grid.Horizontal.Color = color.Gray{Y: 0xe4}
	p.Add(grid, shading{v.windows, v.end})

	legend := newLegend()
	add := func(xys plotter.XYs, name string, glyph draw.GlyphDrawer, c color.Color, r vg.Length) error {
		s, err := plotter.NewScatter(xys)
		if err != nil {
			return err
		}
		s.GlyphStyle = draw.GlyphStyle{Shape: glyph, Color: c, Radius: r}
		p.Add(s)
		legend.Add(fmt.Sprintf("%s (%d)", name, len(xys)), s)
		return nil
	}
	if err := add(ok, "ok", draw.CircleGlyph{}, colorOK, vg.Points(1.6)); err != nil {
		return nil, nil, err
	}
	if err := add(fail, "failed", draw.CrossGlyph{}, colorFail, vg.Points(2.6)); err != nil {
		return nil, nil, err
	}
	if err := add(unknown, "unknown (at timeout)", draw.TriangleGlyph{}, colorUnknown, vg.Points(2.8)); err != nil {
		return nil, nil, err
	}
	if never > 0 {
		legend.Add(fmt.Sprintf("never returned: %d (not shown)", never))
	}
	if len(v.windows) > 0 {
		legend.Add("fault in effect", swatch{})
	}
	p.Add(labels{v.windows})
	return p, &legend, nil
}

func newLegend() plot.Legend {
	legend := plot.NewLegend()
	legend.Top, legend.Left = true, true
	legend.TextStyle.Font.Size = vg.Points(10)
	legend.Padding = vg.Points(4)
	return legend
}

// shading fills each fault window across the whole height of the data area.
// The fill is translucent, so where faults overlap the shade is darker, and
// each window's edges are drawn as thin lines, so a window inside another
// still shows where it starts and ends.
type shading struct {
	windows []history.Window
	end     int64
}

func (s shading) Plot(c draw.Canvas, p *plot.Plot) {
	x, _ := p.Transforms(&c)
	edge := draw.LineStyle{Color: colorEdge, Width: vg.Points(0.6)}
	for _, w := range s.windows {
		end := w.End
		if end < 0 {
			end = max(s.end, w.Start)
		}
		x0 := max(x(float64(w.Start)/1e9), c.Min.X)
		x1 := min(x(float64(end)/1e9), c.Max.X)
		if x1 <= x0 {
			x1 = x0 + 1 // a fault too short to see still leaves a line
		}
		c.FillPolygon(colorShade, []vg.Point{
			{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y},
		})
		if len(s.windows) > 1 {
			c.StrokeLine2(edge, x0, c.Min.Y, x0, c.Max.Y)
			c.StrokeLine2(edge, x1, c.Min.Y, x1, c.Max.Y)
		}
	}
}

// labelRows is how many lines the labels of the fault windows may take.
const labelRows = 4

// labels names each fault window at the top of the data area, drawn after
// the points so that they stay readable. Each label takes the highest
// line where it overlaps no label already placed (of up to labelRows; when
// all are taken, the one whose last label ends first), so the labels of
// windows that overlap or start close together stack instead of covering
// each other.
type labels struct{ windows []history.Window }

func (l labels) Plot(c draw.Canvas, p *plot.Plot) {
	x, _ := p.Transforms(&c)
	sty := text.Style{
		Font:    font.From(plot.DefaultFont, vg.Points(9)),
		Handler: plot.DefaultTextHandler,
		Color:   colorLabel,
	}
	var ends [labelRows]vg.Length // where each line's last label ends
	for i := range ends {
		ends[i] = c.Min.X - 1
	}
	for _, w := range l.windows {
		label := faultName(w.Fault)
		if w.End < 0 {
			label += ", not healed"
		}
		r := sty.Rectangle(label)
		x0 := max(x(float64(w.Start)/1e9), c.Min.X) + vg.Points(3)
		row := 0
		for k := range ends {
			if ends[k] < x0 {
				row = k
				break
			}
			if ends[k] < ends[row] {
				row = k
			}
		}
		ends[row] = x0 + r.Max.X + vg.Points(4)
		pt := vg.Point{
			X: x0,
			Y: c.Max.Y - vg.Points(12) - vg.Length(row)*vg.Points(13),
		}
		bg := color.NRGBA{R: 0xff, G: 0xff, B: 0xff, A: 0xc8}
		c.FillPolygon(bg, []vg.Point{
			{X: pt.X - 1, Y: pt.Y + r.Min.Y - 1}, {X: pt.X + r.Max.X + 1, Y: pt.Y + r.Min.Y - 1},
			{X: pt.X + r.Max.X + 1, Y: pt.Y + r.Max.Y + 1}, {X: pt.X - 1, Y: pt.Y + r.Max.Y + 1},
		})
		c.FillText(sty, pt, label)
	}
}

// swatch is the legend's thumbnail for a fault window.
type swatch struct{}

func (swatch) Thumbnail(c *draw.Canvas) {
	c.FillPolygon(colorShade, []vg.Point{
		{X: c.Min.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Min.X, Y: c.Max.Y},
	})
}

// secondTicks marks the time axis every 1, 2 or 5 × 10^k seconds, about a
// dozen labels across, with a minor tick half way.
type secondTicks struct{}

func (secondTicks) Ticks(lo, hi float64) []plot.Tick {
	step := tickStep(hi - lo)
	if step <= 0 {
		return nil
	}
	prec := max(0, int(-math.Floor(math.Log10(step))))
	var ticks []plot.Tick
	for i := math.Ceil(lo / step); i*step <= hi+step/2; i++ {
		v := i * step
		if v > hi {
			break
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', prec, 64)})
		if m := v + step/2; m <= hi {
			ticks = append(ticks, plot.Tick{Value: m})
		}
	}
	return ticks
}

// tickStep is the smallest of 1, 2 or 5 × 10^k that cuts span into at most
// 15 steps.
func tickStep(span float64) float64 {
	if span <= 0 || math.IsNaN(span) || math.IsInf(span, 0) {
		return 0
	}
	mag := math.Pow(10, math.Floor(math.Log10(span/15)))
	for _, m := range []float64{1, 2, 5, 10} {
		if span/(m*mag) <= 15 {
			return m * mag
		}
	}
	return 10 * mag
}
