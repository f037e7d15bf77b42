package plot

import (
	"image"
	"math"

	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// finiteCanvas passes drawing on to a canvas, leaving out every path,
// text and image with a coordinate that is NaN or infinite, and every
// transform by one. A NaN reaching gonum's rasteriser sent it into a loop
// that never ended (a comparison whose candidate had no successful request
// drew a NaN bar); whatever a chart is given, what reaches a canvas is
// finite. Every chart is drawn through pad, which puts this in front.
type finiteCanvas struct{ vg.Canvas }

func finite(vs ...vg.Length) bool {
	for _, v := range vs {
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			return false
		}
	}
	return true
}

func finitePath(p vg.Path) bool {
	for _, c := range p {
		if !finite(c.Pos.X, c.Pos.Y, c.Radius) || math.IsNaN(c.Start) || math.IsInf(c.Start, 0) || math.IsNaN(c.Angle) || math.IsInf(c.Angle, 0) {
			return false
		}
		for _, q := range c.Control {
			if !finite(q.X, q.Y) {
				return false
			}
		}
	}
	return true
}

func (c finiteCanvas) Stroke(p vg.Path) {
	if finitePath(p) {
		c.Canvas.Stroke(p)
	}
}

func (c finiteCanvas) Fill(p vg.Path) {
	if finitePath(p) {
		c.Canvas.Fill(p)
	}
}

func (c finiteCanvas) FillString(f font.Face, pt vg.Point, text string) {
	if finite(pt.X, pt.Y) {
		c.Canvas.FillString(f, pt, text)
	}
}

func (c finiteCanvas) DrawImage(r vg.Rectangle, img image.Image) {
	if finite(r.Min.X, r.Min.Y, r.Max.X, r.Max.Y) {
		c.Canvas.DrawImage(r, img)
	}
}

func (c finiteCanvas) SetLineWidth(w vg.Length) {
	if finite(w) {
		c.Canvas.SetLineWidth(w)
	}
}

func (c finiteCanvas) Translate(pt vg.Point) {
	if finite(pt.X, pt.Y) {
		c.Canvas.Translate(pt)
	}
}

func (c finiteCanvas) Scale(x, y float64) {
	if finite(vg.Length(x), vg.Length(y)) {
		c.Canvas.Scale(x, y)
	}
}

func (c finiteCanvas) Rotate(rad float64) {
	if finite(vg.Length(rad)) {
		c.Canvas.Rotate(rad)
	}
}

// guard puts a finiteCanvas in front of a drawing area's canvas.
func guard(c draw.Canvas) draw.Canvas {
	if _, ok := c.Canvas.(finiteCanvas); !ok {
		c.Canvas = finiteCanvas{c.Canvas}
	}
	return c
}
