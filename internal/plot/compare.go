package plot

import (
	"bytes"
	"image/color"
	"math"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// The comparison charts are narrower than the others, with bigger text: a
// PR comment shows them at a phone's width too.
const (
	compareWidth = 680
	compareExtra = 2
)

// Verdict colours (Okabe–Ito, safe for colour-blind readers): fail
// vermillion, warn orange, improved bluish green, pass grey-blue.
var (
	ColorFail     = color.RGBA{0xd5, 0x5e, 0x00, 0xff}
	ColorWarn     = color.RGBA{0xe6, 0x9f, 0x00, 0xff}
	ColorImproved = color.RGBA{0x00, 0x9e, 0x73, 0xff}
	ColorPass     = color.RGBA{0x56, 0x7a, 0x99, 0xff}
)

// Strip shows groups of values side by side (a metric's trials of the
// baseline and the candidate, level by level): every value a dot, the
// median a bar, its interval a whisker.
type Strip struct {
	Title, YLabel, XLabel string
	Groups                []StripGroup
}

// StripGroup is one column of a Strip.
type StripGroup struct {
	Label          string // under the column; "\n" breaks lines
	Values         []float64
	Median, Lo, Hi float64 // NaN: not drawn
	Color          int     // index into Palette
}

// stripPlotter draws the groups at x = 0, 1, 2, ….
type stripPlotter struct{ groups []StripGroup }

func (s stripPlotter) Plot(c draw.Canvas, p *gplot.Plot) {
	tx, ty := p.Transforms(&c)
	dark := color.RGBA{0x22, 0x22, 0x22, 0xff}
	for i, g := range s.groups {
		col := Palette[g.Color%len(Palette)]
		x := float64(i)
		// The median as a bar behind the dots, the interval as a whisker
		// beside them.
		if !math.IsNaN(g.Median) {
			c.StrokeLine2(draw.LineStyle{Color: dark, Width: 3}, tx(x-0.3), ty(g.Median), tx(x+0.3), ty(g.Median))
		}
		if !math.IsNaN(g.Lo) && !math.IsNaN(g.Hi) && !math.IsInf(g.Lo, 0) && !math.IsInf(g.Hi, 0) {
			ls := draw.LineStyle{Color: dark, Width: 2}
			xs := tx(x + 0.36)
			c.StrokeLine2(ls, xs, ty(g.Lo), xs, ty(g.Hi))
			c.StrokeLine2(ls, xs-5, ty(g.Lo), xs+5, ty(g.Lo))
			c.StrokeLine2(ls, xs-5, ty(g.Hi), xs+5, ty(g.Hi))
		}
		// Dots spread over the column, in the order given, so equal values
		// stay apart and every trial shows.
		for j, v := range g.Values {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			off := 0.0
			if n := len(g.Values); n > 1 {
				off = -0.22 + 0.44*float64(j)/float64(n-1)
			}
			c.DrawGlyph(draw.GlyphStyle{Color: col, Radius: 5, Shape: draw.CircleGlyph{}}, vg.Point{X: tx(x + off), Y: ty(v)})
			c.DrawGlyph(draw.GlyphStyle{Color: color.White, Radius: 5, Shape: draw.RingGlyph{}}, vg.Point{X: tx(x + off), Y: ty(v)})
		}
	}
}

func (s stripPlotter) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax = -0.5, float64(len(s.groups))-0.5
	ymin, ymax = math.Inf(1), math.Inf(-1)
	for _, g := range s.groups {
		for _, v := range append([]float64{g.Median, g.Lo, g.Hi}, g.Values...) {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				ymin, ymax = min(ymin, v), max(ymax, v)
			}
		}
	}
	return
}

func (s Strip) build() *gplot.Plot {
	p := newPlotText(s.Title, s.XLabel, s.YLabel, compareExtra)
	p.Add(stripPlotter{s.Groups})
	var ticks []gplot.Tick
	for i, g := range s.Groups {
		ticks = append(ticks, gplot.Tick{Value: float64(i), Label: g.Label})
	}
	p.X.Tick.Marker = gplot.ConstantTicks(ticks)
	p.X.Min, p.X.Max = -0.5, float64(len(s.Groups))-0.5
	if p.Y.Max > p.Y.Min {
		d := (p.Y.Max - p.Y.Min) * 2 * axisMargin
		p.Y.Min, p.Y.Max = p.Y.Min-d, p.Y.Max+d
	} else {
		p.Y.Min, p.Y.Max = p.Y.Min-1, p.Y.Max+1
	}
	return p
}

// stripHeight leaves room for two-line group labels.
const stripHeight = 420

// SVG renders the strip chart.
func (s Strip) SVG() ([]byte, error) {
	cv := newSVG(compareWidth, stripHeight)
	s.build().Draw(pad(draw.New(cv)))
	return cv.bytes(s.Title), nil
}

// PNG renders it at 2×.
func (s Strip) PNG() ([]byte, error) {
	return pngOf(compareWidth, stripHeight, func(c draw.Canvas) { s.build().Draw(c) })
}

// Diverging is one horizontal bar per row from zero (each gating metric's
// change), coloured by verdict, with its interval as a whisker and its own
// thresholds as marks on the row.
type Diverging struct {
	Title, XLabel string
	Rows          []DivRow // top to bottom
	Legend        []DivLegend
}

// DivRow is one bar.
type DivRow struct {
	Label              string
	Value, Lo, Hi      float64 // Lo, Hi: ±Inf or NaN when unknown
	Color              color.RGBA
	Note               string  // beside the bar (the verdict)
	WarnMark, FailMark float64 // thresholds on the row (0: none)
}

// DivLegend names the bar colours (and the threshold marks) under the chart.
type DivLegend struct {
	Color  color.RGBA
	Label  string
	Mark   bool // a threshold mark, not a bar colour
	Dashed bool
}

type divPlotter struct{ rows []DivRow }

func (d divPlotter) Plot(c draw.Canvas, p *gplot.Plot) {
	tx, ty := p.Transforms(&c)
	n := len(d.rows)
	for i, r := range d.rows {
		y := float64(n - 1 - i)
		h := 0.32
		// A row without a value (a side with no successful request) has
		// no bar; its note says why.
		if !math.IsNaN(r.Value) {
			x0, x1 := tx(0), tx(clampTo(r.Value, p.X.Min, p.X.Max))
			if x1 < x0 {
				x0, x1 = x1, x0
			}
			c.FillPolygon(r.Color, []vg.Point{{X: x0, Y: ty(y - h)}, {X: x1, Y: ty(y - h)}, {X: x1, Y: ty(y + h)}, {X: x0, Y: ty(y + h)}})
		}
		if !math.IsNaN(r.Lo) && !math.IsNaN(r.Hi) {
			dark := color.RGBA{0x22, 0x22, 0x22, 0xff}
			ls := draw.LineStyle{Color: dark, Width: 1.8}
			// An interval wider than the axis stops short of the frame
			// with an arrowhead: it goes on.
			in := (p.X.Max - p.X.Min) * 0.015
			lo, hi := clampTo(r.Lo, p.X.Min+in, p.X.Max-in), clampTo(r.Hi, p.X.Min+in, p.X.Max-in)
			c.StrokeLine2(ls, tx(lo), ty(y), tx(hi), ty(y))
			for _, e := range []struct{ v, at, dir float64 }{{r.Lo, lo, -1}, {r.Hi, hi, 1}} {
				if e.v == e.at {
					c.StrokeLine2(ls, tx(e.v), ty(y-0.18), tx(e.v), ty(y+0.18))
					continue
				}
				x := tx(e.at)
				d := vg.Length(7 * e.dir)
				c.FillPolygon(dark, []vg.Point{{X: x + d, Y: ty(y)}, {X: x, Y: ty(y) - 5}, {X: x, Y: ty(y) + 5}})
			}
		}
		for _, m := range []struct {
			v    float64
			col  color.RGBA
			dash []vg.Length
		}{{r.WarnMark, ColorWarn, []vg.Length{4, 3}}, {r.FailMark, ColorFail, nil}} {
			if m.v != 0 && m.v >= p.X.Min && m.v <= p.X.Max {
				c.StrokeLine2(draw.LineStyle{Color: m.col, Width: 2, Dashes: m.dash}, tx(m.v), ty(y-0.45), tx(m.v), ty(y+0.45))
			}
		}
	}
	c.StrokeLine2(draw.LineStyle{Color: color.RGBA{0x22, 0x22, 0x22, 0xff}, Width: 1.2}, tx(0), c.Min.Y, tx(0), c.Max.Y)
}

func clampTo(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

// DataRange spans the bars and thresholds, and the intervals up to 2.5
// times the largest fail threshold or bar: a wide interval is cut at the
// frame (its end cap left off) rather than shrinking every bar to a sliver.
func (d divPlotter) DataRange() (xmin, xmax, ymin, ymax float64) {
	bound := 0.0
	for _, r := range d.rows {
		for _, v := range []float64{r.Value, r.WarnMark, r.FailMark} {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				xmin, xmax = min(xmin, v), max(xmax, v)
				bound = max(bound, 2.5*math.Abs(v))
			}
		}
	}
	for _, r := range d.rows {
		for _, v := range []float64{r.Lo, r.Hi} {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				xmin, xmax = min(xmin, max(v, -bound)), max(xmax, min(v, bound))
			}
		}
	}
	return xmin, xmax, -0.5, float64(len(d.rows)) - 0.5
}

func (d Diverging) build() *gplot.Plot {
	p := newPlotText(d.Title, d.XLabel, "", compareExtra)
	p.Add(divPlotter{d.Rows})
	var ticks []gplot.Tick
	for i, r := range d.Rows {
		ticks = append(ticks, gplot.Tick{Value: float64(len(d.Rows) - 1 - i), Label: r.Label})
	}
	p.Y.Tick.Marker = gplot.ConstantTicks(ticks)
	p.Y.Min, p.Y.Max = -0.6, float64(len(d.Rows))-0.4
	span := p.X.Max - p.X.Min
	if span <= 0 {
		span = 1
	}
	p.X.Min, p.X.Max = p.X.Min-span*axisMargin, p.X.Max+span*axisMargin
	return p
}

const divLegendH = 34

func (d Diverging) height() vg.Length { return vg.Length(110 + divLegendH + 38*max(1, len(d.Rows))) }

// divNoteW is the column right of the data that holds each row's verdict.
const divNoteW = 80

// draw puts the plot above and the colour legend below it, and each row's
// verdict in a column to its right: all outside the data.
func (d Diverging) draw(dc draw.Canvas) {
	p := d.build()
	top := draw.Crop(dc, 0, -divNoteW, divLegendH, 0)
	p.Draw(top)
	area := p.DataCanvas(top)
	_, ty := p.Transforms(&area)
	note := draw.TextStyle{Color: color.RGBA{0x22, 0x22, 0x22, 0xff}, Font: p.Y.Tick.Label.Font, Handler: p.Y.Tick.Label.Handler, YAlign: draw.YCenter}
	for i, r := range d.Rows {
		if r.Note != "" {
			dc.FillText(note, vg.Point{X: area.Max.X + 12, Y: ty(float64(len(d.Rows) - 1 - i))}, r.Note)
		}
	}
	sty := draw.TextStyle{Color: color.RGBA{0x22, 0x22, 0x22, 0xff}, Font: p.Legend.TextStyle.Font, Handler: p.Legend.TextStyle.Handler, YAlign: draw.YCenter}
	x, y := area.Min.X, dc.Min.Y+divLegendH/2-2
	for _, l := range d.Legend {
		if l.Mark {
			var dash []vg.Length
			if l.Dashed {
				dash = []vg.Length{4, 3}
			}
			dc.StrokeLine2(draw.LineStyle{Color: l.Color, Width: 2, Dashes: dash}, x+7, y-9, x+7, y+9)
		} else {
			dc.FillPolygon(l.Color, []vg.Point{{X: x, Y: y - 7}, {X: x + 14, Y: y - 7}, {X: x + 14, Y: y + 7}, {X: x, Y: y + 7}})
		}
		dc.FillText(sty, vg.Point{X: x + 20, Y: y}, l.Label)
		x += 20 + sty.Width(l.Label) + 18
	}
}

// SVG renders the chart.
func (d Diverging) SVG() ([]byte, error) {
	cv := newSVG(compareWidth, d.height())
	d.draw(pad(draw.New(cv)))
	return cv.bytes(d.Title), nil
}

// PNG renders it at 2×.
func (d Diverging) PNG() ([]byte, error) {
	return pngOf(compareWidth, d.height(), d.draw)
}

func pngOf(w, h vg.Length, drawIt func(draw.Canvas)) ([]byte, error) {
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(144))
	dc := draw.New(img)
	dc.FillPolygon(color.White, []vg.Point{{X: 0, Y: 0}, {X: w, Y: 0}, {X: w, Y: h}, {X: 0, Y: h}})
	drawIt(pad(dc))
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Band is a filled area between two curves (an interval around a line).
func Band(x, lo, hi []float64, col int) (*plotter.Polygon, error) {
	var pts plotter.XYs
	for i := range x {
		if !math.IsNaN(lo[i]) && !math.IsInf(lo[i], 0) {
			pts = append(pts, plotter.XY{X: x[i], Y: lo[i]})
		}
	}
	for i := len(x) - 1; i >= 0; i-- {
		if !math.IsNaN(hi[i]) && !math.IsInf(hi[i], 0) {
			pts = append(pts, plotter.XY{X: x[i], Y: hi[i]})
		}
	}
	poly, err := plotter.NewPolygon(pts)
	if err != nil {
		return nil, err
	}
	c := Palette[col%len(Palette)]
	poly.Color = color.NRGBA{c.R, c.G, c.B, 0x48}
	poly.LineStyle.Width = 0
	return poly, nil
}
