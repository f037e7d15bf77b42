package plot

import (
	"bytes"
	"math"
	"testing"

	"github.com/perfgate/perfgate/internal/svgsafe"
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
	for _, want := range []string{`viewBox="0 0 800 450"`, `stroke-dasharray=`, `>a<`, `font-family="sans-serif"`, `<title>t</title>`} {
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
