package plot

import (
	"bytes"
	"fmt"
	"image/color"
	"math"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Width and Height of a chart, in px (1 unit = 1 px in the SVG).
const (
	Width  = 800
	Height = 450
)

func init() {
	gplot.DefaultFont = font.Font{Typeface: "Liberation", Variant: "Sans"}
}

// Palette gives each run (or level) its colour: distinguishable, and
// readable by the colour-blind (Okabe–Ito).
var Palette = []color.RGBA{
	{0x00, 0x72, 0xb2, 0xff}, {0xd5, 0x5e, 0x00, 0xff}, {0x00, 0x9e, 0x73, 0xff}, {0xcc, 0x79, 0xa7, 0xff},
	{0xe6, 0x9f, 0x00, 0xff}, {0x56, 0xb4, 0xe9, 0xff}, {0x00, 0x00, 0x00, 0xff}, {0xf0, 0xe4, 0x42, 0xff},
}

// Series is one line (or set of points) of a chart.
type Series struct {
	Label  string
	X, Y   []float64
	Color  int  // index into Palette
	Dashed bool // e.g. p99 beside a solid p50
	Points bool // draw markers only
	Glyphs bool // draw markers on the line
	// Lo and Hi, when set, are an interval around the line, drawn as a
	// translucent band.
	Lo, Hi []float64
}

// Chart is one plot.
type Chart struct {
	Title, XLabel, YLabel string
	Series                []Series
	LogY                  bool
	YMin                  *float64 // fix the lower bound (0 for rates)
	XTicks                []string // labels of x = 0, 1, 2, … (commits of a trend), thinned to fit
	// Spans shade stretches of x (a run's levels and phases on a
	// timeline), each labelled at the top.
	Spans []Span
}

// Span is a shaded stretch of x.
type Span struct {
	From, To float64
	Label    string
	Dark     bool // a darker shade (the measured part beside a warm-up)
}

// Font sizes, in px: charts are drawn 800 px wide and GitHub shows them at
// about 360 px on a phone, so text is set large.
const (
	titleSize  = 17
	labelSize  = 15
	tickSize   = 13
	legendSize = 14
)

// axisMargin is the share of each axis range left empty at both ends, so
// that no mark touches the frame.
const axisMargin = 0.05

// Lanes are charts stacked on one shared time axis (a timeline).
type Lanes struct {
	Title  string
	XLabel string
	Lanes  []Chart
}

// newPlot is a plot with perfgate's fonts and grid.
func newPlot(title, xlabel, ylabel string) *gplot.Plot { return newPlotText(title, xlabel, ylabel, 0) }

// newPlotText is newPlot with every font bigger by extra px (the comparison
// charts, which a PR comment shows at a phone's width).
func newPlotText(title, xlabel, ylabel string, extra vg.Length) *gplot.Plot {
	p := gplot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = titleSize + extra
	p.Title.Padding = 6
	p.X.Label.Text, p.Y.Label.Text = xlabel, ylabel
	for _, a := range []*gplot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font.Size = labelSize + extra
		a.Tick.Label.Font.Size = tickSize + extra
	}
	p.Legend.TextStyle.Font.Size = legendSize + extra
	p.Add(plotter.NewGrid())
	return p
}

// padRanges leaves axisMargin of each axis empty at both ends (and below a
// log axis's smallest value a matching factor), keeping a fixed lower bound.
func padRanges(p *gplot.Plot, logY bool, yMin *float64) {
	if p.X.Max > p.X.Min {
		d := (p.X.Max - p.X.Min) * axisMargin
		p.X.Min, p.X.Max = p.X.Min-d, p.X.Max+d
	}
	if p.Y.Max > p.Y.Min && !logY {
		d := (p.Y.Max - p.Y.Min) * axisMargin
		p.Y.Max += d
		if yMin == nil {
			p.Y.Min -= d
		}
	}
	if logY && p.Y.Min > 0 && p.Y.Max > p.Y.Min {
		f := math.Pow(p.Y.Max/p.Y.Min, axisMargin)
		p.Y.Min, p.Y.Max = p.Y.Min/f, p.Y.Max*f
	}
}

func (c Chart) build() (*gplot.Plot, error) {
	p := newPlot(c.Title, c.XLabel, c.YLabel)
	p.Legend.Top = true
	p.Legend.Left = true
	if c.LogY {
		p.Y.Scale = gplot.LogScale{}
		p.Y.Tick.Marker = gplot.LogTicks{Prec: -1}
	}
	for _, s := range c.Series {
		if len(s.X) == 0 {
			continue
		}
		xys := make(plotter.XYs, 0, len(s.X))
		for i := range s.X {
			y := s.Y[i]
			if math.IsNaN(y) || math.IsInf(y, 0) || math.IsNaN(s.X[i]) || (c.LogY && y <= 0) {
				continue
			}
			xys = append(xys, plotter.XY{X: s.X[i], Y: y})
		}
		if len(xys) == 0 {
			continue
		}
		col := Palette[s.Color%len(Palette)]
		if len(s.Lo) == len(s.X) && len(s.Hi) == len(s.X) {
			b, err := Band(s.X, s.Lo, s.Hi, s.Color)
			if err == nil {
				p.Add(b)
			}
		}
		if s.Points {
			sc, err := dots(xys, col, 3)
			if err != nil {
				return nil, err
			}
			p.Add(sc)
			if s.Label != "" {
				p.Legend.Add(s.Label, sc)
			}
			continue
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, err
		}
		l.Color = col
		l.Width = vg.Points(2)
		if s.Dashed {
			l.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
		}
		p.Add(l)
		thumb := []gplot.Thumbnailer{l}
		if s.Glyphs {
			sc, err := dots(xys, col, 3)
			if err != nil {
				return nil, err
			}
			p.Add(sc)
			thumb = append(thumb, sc)
		}
		if s.Label != "" {
			p.Legend.Add(s.Label, thumb...)
		}
	}
	if len(c.XTicks) > 0 {
		step := max(1, len(c.XTicks)/12)
		var ticks []gplot.Tick
		for i, l := range c.XTicks {
			if i%step == 0 {
				ticks = append(ticks, gplot.Tick{Value: float64(i), Label: l})
			}
		}
		p.X.Tick.Marker = gplot.ConstantTicks(ticks)
	}
	if c.YMin != nil {
		p.Y.Min = *c.YMin
		if p.Y.Max < p.Y.Min {
			p.Y.Max = p.Y.Min + 1
		}
	}
	padRanges(p, c.LogY, c.YMin)
	if len(c.Spans) > 0 {
		p.Add(spans(c.Spans))
	}
	return p, nil
}

// spans shades stretches of x over the whole height, under the data, and
// labels each at the top.
type spans []Span

func (ss spans) Plot(c draw.Canvas, p *gplot.Plot) {
	tx, _ := p.Transforms(&c)
	sty := draw.TextStyle{Color: color.RGBA{0x33, 0x33, 0x33, 0xff}, Font: font.From(gplot.DefaultFont, tickSize), Handler: p.Title.TextStyle.Handler}
	for _, s := range ss {
		x0, x1 := tx(max(s.From, p.X.Min)), tx(min(s.To, p.X.Max))
		if x1 <= x0 {
			continue
		}
		shade := color.RGBA{0x00, 0x00, 0x00, 0x0a}
		if s.Dark {
			shade = color.RGBA{0x00, 0x00, 0x00, 0x16}
		}
		c.FillPolygon(shade, []vg.Point{{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y}})
		if s.Label != "" && x1-x0 > sty.Width(s.Label)+4 {
			c.FillText(sty, vg.Point{X: (x0 + x1) / 2, Y: c.Max.Y - 2}, s.Label)
		}
	}
}

func (ss spans) DataRange() (xmin, xmax, ymin, ymax float64) {
	return math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
}

// drawWithLegendBelow draws p with its legend under the plot, outside the
// data, one entry per line.
func drawWithLegendBelow(p *gplot.Plot, n int, dc draw.Canvas) draw.Canvas {
	leg := p.Legend
	if n == 0 {
		p.Draw(dc)
		return p.DataCanvas(dc)
	}
	rowH := vg.Length(legendSize) * 1.35
	h := rowH*vg.Length(n) + 10
	p.Legend = gplot.NewLegend()
	top := draw.Crop(dc, 0, 0, h, 0)
	p.Draw(top)
	area := p.DataCanvas(top)
	bottom := dc
	bottom.Max.Y = dc.Min.Y + h - 4
	bottom.Min.X = area.Min.X
	leg.Top, leg.Left = true, true
	leg.Draw(bottom)
	p.Legend = leg
	return area
}

// legendEntries is how many entries the chart's legend has.
func (c Chart) legendEntries() int {
	n := 0
	for _, s := range c.Series {
		if s.Label != "" && len(s.X) > 0 {
			n++
		}
	}
	return n
}

// height of a chart: Height, plus room for its legend below.
func (c Chart) height() vg.Length {
	return Height + vg.Length(legendSize)*1.35*vg.Length(c.legendEntries())
}

// SVG renders the chart.
func (c Chart) SVG() ([]byte, error) {
	b, _, err := c.SVGLayout()
	return b, err
}

// PNG renders the chart at 2× for sharp text.
func (c Chart) PNG() ([]byte, error) {
	p, err := c.build()
	if err != nil {
		return nil, err
	}
	img := vgimg.NewWith(vgimg.UseWH(Width, c.height()), vgimg.UseDPI(144))
	drawWithLegendBelow(p, c.legendEntries(), pad(draw.New(img)))
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// pad leaves a margin around a chart, and guards its canvas against
// non-finite coordinates (finiteCanvas).
func pad(c draw.Canvas) draw.Canvas { return draw.Crop(guard(c), 10, -14, 6, -10) }

const laneHeight = 150

func (l Lanes) draw(dc draw.Canvas) error {
	plots := make([][]*gplot.Plot, len(l.Lanes))
	for i, c := range l.Lanes {
		if i == len(l.Lanes)-1 {
			c.XLabel = l.XLabel
		}
		if i == 0 {
			c.Title = l.Title
		}
		p, err := c.build()
		if err != nil {
			return err
		}
		plots[i] = []*gplot.Plot{p}
	}
	// One time axis for every lane.
	var lo, hi float64 = math.Inf(1), math.Inf(-1)
	for _, row := range plots {
		lo, hi = min(lo, row[0].X.Min), max(hi, row[0].X.Max)
	}
	for _, row := range plots {
		row[0].X.Min, row[0].X.Max = lo, hi
	}
	t := draw.Tiles{Rows: len(plots), Cols: 1, PadTop: 4, PadBottom: 4, PadLeft: 4, PadRight: 8, PadY: 4}
	canvases := gplot.Align(plots, t, dc)
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	return nil
}

func (l Lanes) height() vg.Length { return vg.Length(laneHeight*len(l.Lanes) + 40) }

// SVG renders the lanes.
func (l Lanes) SVG() ([]byte, error) {
	if len(l.Lanes) == 0 {
		return nil, fmt.Errorf("a timeline needs at least one lane")
	}
	cv := newSVG(Width, l.height())
	if err := l.draw(pad(draw.New(cv))); err != nil {
		return nil, err
	}
	return cv.bytes(l.Title), nil
}

// PNG renders the lanes.
func (l Lanes) PNG() ([]byte, error) {
	if len(l.Lanes) == 0 {
		return nil, fmt.Errorf("a timeline needs at least one lane")
	}
	img := vgimg.NewWith(vgimg.UseWH(Width, l.height()), vgimg.UseDPI(144))
	if err := l.draw(pad(draw.New(img))); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// LTTB downsamples a series to at most n points with Largest-Triangle-
// Three-Buckets, which keeps the shape (peaks and dips) of a long series.
// x must be sorted.
func LTTB(x, y []float64, n int) ([]float64, []float64) {
	if n >= len(x) || n < 3 {
		return x, y
	}
	ox, oy := make([]float64, 0, n), make([]float64, 0, n)
	ox, oy = append(ox, x[0]), append(oy, y[0])
	every := float64(len(x)-2) / float64(n-2)
	a := 0
	for i := 0; i < n-2; i++ {
		// average of the next bucket
		s, e := int(float64(i+1)*every)+1, int(float64(i+2)*every)+1
		e = min(e, len(x))
		var ax, ay float64
		for j := s; j < e; j++ {
			ax += x[j]
			ay += y[j]
		}
		if cnt := float64(e - s); cnt > 0 {
			ax, ay = ax/cnt, ay/cnt
		}
		// the point of this bucket making the largest triangle
		rs, re := int(float64(i)*every)+1, int(float64(i+1)*every)+1
		best, bestArea := rs, -1.0
		for j := rs; j < re && j < len(x); j++ {
			area := math.Abs((x[a]-ax)*(y[j]-y[a]) - (x[a]-x[j])*(ay-y[a]))
			if area > bestArea {
				best, bestArea = j, area
			}
		}
		ox, oy = append(ox, x[best]), append(oy, y[best])
		a = best
	}
	return append(ox, x[len(x)-1]), append(oy, y[len(y)-1])
}

// dots is a scatter of round glyphs of radius r points in colour col.
func dots(xys plotter.XYs, col color.Color, r float64) (*plotter.Scatter, error) {
	sc, err := plotter.NewScatter(xys)
	if err != nil {
		return nil, err
	}
	sc.GlyphStyle.Color = col
	sc.GlyphStyle.Radius = vg.Points(r)
	sc.GlyphStyle.Shape = draw.CircleGlyph{}
	return sc, nil
}

// Layout is where a chart's data area lies in its SVG (px, y down), the
// axis ranges it shows, and its points: what a page needs to read values
// off the chart under the pointer.
type Layout struct {
	W, H                     float64 // the SVG's size
	Left, Top, Width, Height float64 // the data area
	X0, X1, Y0, Y1           float64
	LogY                     bool
	XLabel, YLabel           string
	Points                   []LayoutPoint
}

// maxLayoutPoints is the most points a Layout carries (every other one, or
// fewer, of a chart with more).
const maxLayoutPoints = 1200

// LayoutPoint is one data point, with its series' label.
type LayoutPoint struct {
	X, Y  float64
	Label string
}

// Layout lays the chart out as SVG does and says where its data went.
func (c Chart) Layout() (Layout, error) {
	_, l, err := c.SVGLayout()
	return l, err
}

// SVGLayout renders the chart and says where its data went, in one drawing.
func (c Chart) SVGLayout() ([]byte, Layout, error) {
	p, err := c.build()
	if err != nil {
		return nil, Layout{}, err
	}
	h := c.height()
	cv := newSVG(Width, h)
	area := drawWithLegendBelow(p, c.legendEntries(), pad(draw.New(cv)))
	l := Layout{W: Width, H: float64(h), Left: float64(area.Min.X), Top: float64(h - area.Max.Y),
		Width: float64(area.Max.X - area.Min.X), Height: float64(area.Max.Y - area.Min.Y),
		X0: p.X.Min, X1: p.X.Max, Y0: p.Y.Min, Y1: p.Y.Max, LogY: c.LogY, XLabel: c.XLabel, YLabel: c.YLabel}
	n := 0
	for _, s := range c.Series {
		n += len(s.X)
	}
	step := max(1, (n+maxLayoutPoints-1)/maxLayoutPoints) // a page of many charts stays small
	for _, s := range c.Series {
		for i := 0; i < len(s.X); i += step {
			if !math.IsNaN(s.Y[i]) && !math.IsInf(s.Y[i], 0) && !math.IsNaN(s.X[i]) {
				l.Points = append(l.Points, LayoutPoint{X: s.X[i], Y: s.Y[i], Label: s.Label})
			}
		}
	}
	return cv.bytes(c.Title), l, nil
}
