package plot

import (
	"bytes"
	"math"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/perfgate/perfgate/internal/svgsafe"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
)

func TestLTTBKeepsShape(t *testing.T) {
	n := 100_000
	x, y := make([]float64, n), make([]float64, n)
	for i := range x {
		x[i] = float64(i)
		y[i] = math.Sin(float64(i) / 5000)
	}
	y[54321] = 50 // a spike must survive
	dx, dy := LTTB(x, y, 500)
	if len(dx) != 500 || dx[0] != 0 || dx[499] != float64(n-1) {
		t.Fatalf("%d points, ends %v %v", len(dx), dx[0], dx[len(dx)-1])
	}
	peak := false
	for i := range dx {
		if dy[i] == 50 {
			peak = true
		}
		if i > 0 && dx[i] <= dx[i-1] {
			t.Fatal("x must stay sorted")
		}
	}
	if !peak {
		t.Error("the spike was dropped")
	}
	if sx, _ := LTTB(x[:10], y[:10], 500); len(sx) != 10 {
		t.Error("short series are kept whole")
	}
}

func TestChartsRenderDeterministically(t *testing.T) {
	c := Chart{Title: "t", XLabel: "x (s)", YLabel: "y (ms)", Series: []Series{
		{Label: "a", X: []float64{1, 2, 3}, Y: []float64{1, math.NaN(), 3}, Glyphs: true},
		{Label: "b", X: []float64{1, 2}, Y: []float64{2, 1}, Dashed: true, Color: 1},
		{Label: "c", X: []float64{1, 2}, Y: []float64{1, 1}, Points: true, Color: 2},
	}}
	a, err := c.SVG()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.SVG()
	if !bytes.Equal(a, b) {
		t.Error("the same chart gave different SVGs")
	}
	for _, want := range []string{`viewBox="0 0 800 `, `stroke-dasharray=`, `>a<`, `font-family="sans-serif"`, `<title>t</title>`} {
		if !bytes.Contains(a, []byte(want)) {
			t.Errorf("SVG lacks %s", want)
		}
	}
	p, err := c.PNG()
	if err != nil || !bytes.HasPrefix(p, []byte("\x89PNG")) {
		t.Errorf("PNG: %v", err)
	}
	if _, err := (Lanes{}).SVG(); err == nil {
		t.Error("a timeline without lanes is an error")
	}
}

// The reporter accepts perfgate's own SVG (svgsafe.Allowed lists what this
// writer emits), with a rotated axis label, dashes, glyphs and points.
func TestSVGPassesTheReportersCheck(t *testing.T) {
	c := Chart{Title: "t <&>", XLabel: "x (s)", YLabel: "y (ms)", Series: []Series{
		{Label: "a", X: []float64{1, 2, 3}, Y: []float64{1, 2, 3}, Glyphs: true},
		{Label: "b", X: []float64{1, 2}, Y: []float64{2, 1}, Dashed: true, Color: 1},
		{Label: "c", X: []float64{1, 2}, Y: []float64{1, 1}, Points: true, Color: 2},
	}}
	b, err := c.SVG()
	if err != nil {
		t.Fatal(err)
	}
	if err := svgsafe.Check(b); err != nil {
		t.Errorf("perfgate's own SVG refused: %v", err)
	}
}

// No mark touches the frame (every axis keeps a margin beyond the data) and
// the legend sits below the data area, not over it.
func TestMarksInsideTheFrameLegendOutside(t *testing.T) {
	c := Chart{Title: "t", XLabel: "x", YLabel: "y", Series: []Series{
		{Label: "first series", X: []float64{0, 1, 2, 3}, Y: []float64{10, 20, 15, 40}, Glyphs: true},
		{Label: "second series", X: []float64{0, 3}, Y: []float64{5, 50}, Points: true, Color: 1},
	}}
	l, err := c.Layout()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range l.Points {
		fx, fy := (p.X-l.X0)/(l.X1-l.X0), (p.Y-l.Y0)/(l.Y1-l.Y0)
		if fx < 0.03 || fx > 0.97 || fy < 0.03 || fy > 0.97 {
			t.Errorf("point %v at %.3f, %.3f of the frame: too close to its edge", p, fx, fy)
		}
	}
	svg, _ := c.SVG()
	re := regexp.MustCompile(`<text x="[0-9.]+" y="([0-9.]+)"[^>]*>(first|second) series</text>`)
	ms := re.FindAllSubmatch(svg, -1)
	if len(ms) != 2 {
		t.Fatalf("legend entries: %d", len(ms))
	}
	for _, m := range ms {
		if y, _ := strconv.ParseFloat(string(m[1]), 64); y <= l.Top+l.Height {
			t.Errorf("legend entry %s at y %v, inside the data area (down to %v)", m[2], y, l.Top+l.Height)
		}
	}
}

// The comparison charts render, deterministically, and pass the reporter's
// SVG check.
func TestComparisonChartsRender(t *testing.T) {
	for name, ch := range map[string]interface{ SVG() ([]byte, error) }{
		"strip": Strip{Title: "m", YLabel: "ms", Groups: []StripGroup{{Label: "baseline", Values: []float64{1, 2, 3}, Median: 2, Lo: 1, Hi: 3},
			{Label: "candidate\n+10 % fail", Values: []float64{2, 3, 4}, Median: 3, Lo: math.NaN(), Hi: math.NaN(), Color: 1}}},
		"diverging": Diverging{Title: "c", XLabel: "%", Rows: []DivRow{{Label: "a", Value: 10, Lo: 5, Hi: math.Inf(1), Color: ColorFail, Note: "fail", WarnMark: 3, FailMark: 5},
			{Label: "b", Value: -2, Lo: -4, Hi: 0, Color: ColorPass, Note: "pass"}}, Legend: []DivLegend{{Color: ColorFail, Label: "fail"}, {Color: ColorWarn, Label: "warn at", Mark: true, Dashed: true}}},
	} {
		a, err := ch.SVG()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := ch.SVG()
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two renderings differ", name)
		}
		if err := svgsafe.Check(a); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A chart given NaN and infinite values renders, quickly: gonum's
// rasteriser never ended on a NaN bar (a candidate with no successful
// request), and nothing non-finite may reach a canvas.
func TestNonFiniteValuesRender(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	d := Diverging{Title: "x", Rows: []DivRow{
		{Label: "nan", Value: nan, Lo: nan, Hi: nan, Color: ColorFail, Note: "fail –", WarnMark: 3, FailMark: 5},
		{Label: "inf", Value: inf, Lo: -inf, Hi: inf, Color: ColorFail},
		{Label: "ok", Value: 2, Lo: 1, Hi: 3, Color: ColorPass},
	}}
	s := Strip{Title: "y", Groups: []StripGroup{{Label: "a", Values: []float64{nan, inf, 1}, Median: nan, Lo: -inf, Hi: inf}}}
	c := Chart{Title: "z", Series: []Series{{Label: "s", X: []float64{1, nan, 3}, Y: []float64{inf, 2, nan}, Lo: []float64{nan, 1, 1}, Hi: []float64{inf, 3, 3}}}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, ch := range []interface {
			SVG() ([]byte, error)
			PNG() ([]byte, error)
		}{d, s, c} {
			if _, err := ch.SVG(); err != nil {
				t.Error(err)
			}
			if _, err := ch.PNG(); err != nil {
				t.Error(err)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("rendering non-finite values did not end within 20 s")
	}
}

// The guard drops what is not finite and passes on the rest.
func TestFiniteCanvasDropsNonFinitePaths(t *testing.T) {
	rec := &countCanvas{}
	c := finiteCanvas{rec}
	var bad, good vg.Path
	bad.Move(vg.Point{X: vg.Length(math.NaN()), Y: 1})
	bad.Line(vg.Point{X: 2, Y: 2})
	good.Move(vg.Point{X: 1, Y: 1})
	good.Line(vg.Point{X: 2, Y: 2})
	c.Fill(bad)
	c.Stroke(bad)
	c.Fill(good)
	c.Stroke(good)
	c.FillString(font.Face{}, vg.Point{X: vg.Length(math.Inf(1))}, "x")
	c.Translate(vg.Point{X: vg.Length(math.NaN())})
	if rec.fills != 1 || rec.strokes != 1 || rec.texts != 0 || rec.translates != 0 {
		t.Errorf("%+v", *rec)
	}
}

type countCanvas struct {
	vg.Canvas
	fills, strokes, texts, translates int
}

func (c *countCanvas) Fill(vg.Path)                           { c.fills++ }
func (c *countCanvas) Stroke(vg.Path)                         { c.strokes++ }
func (c *countCanvas) FillString(font.Face, vg.Point, string) { c.texts++ }
func (c *countCanvas) Translate(vg.Point)                     { c.translates++ }
