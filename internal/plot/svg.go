package plot

import (
	"bytes"
	"fmt"
	"html"
	"image"
	"image/color"
	"math"
	"strings"

	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
)

// svgCanvas is a vg.Canvas that writes SVG which survives GitHub's image
// sanitizer: no <script>, <style>, <foreignObject>, images or external
// references; presentation attributes only (no style=""); generic font
// families; a fixed size and viewBox. Coordinates are rounded to 0.01 pt, so
// the same plot gives the same bytes.
type svgCanvas struct {
	w, h  vg.Length
	buf   *bytes.Buffer
	stack []svgState
}

type svgState struct {
	width vg.Length
	dash  []vg.Length
	off   vg.Length
	color color.Color
	m     affine // current transform: user space → canvas points (y up)
}

// affine is x' = a·x + c·y + e, y' = b·x + d·y + f.
type affine struct{ a, b, c, d, e, f float64 }

var identity = affine{a: 1, d: 1}

func (m affine) mul(n affine) affine { // m then n applied first: m ∘ n
	return affine{
		a: m.a*n.a + m.c*n.b, b: m.b*n.a + m.d*n.b,
		c: m.a*n.c + m.c*n.d, d: m.b*n.c + m.d*n.d,
		e: m.a*n.e + m.c*n.f + m.e, f: m.b*n.e + m.d*n.f + m.f,
	}
}

func (m affine) apply(p vg.Point) (float64, float64) {
	x, y := float64(p.X), float64(p.Y)
	return m.a*x + m.c*y + m.e, m.b*x + m.d*y + m.f
}

func newSVG(w, h vg.Length) *svgCanvas {
	c := &svgCanvas{w: w, h: h, buf: new(bytes.Buffer)}
	c.stack = []svgState{{width: 1, color: color.Black, m: identity}}
	return c
}

func (c *svgCanvas) top() *svgState { return &c.stack[len(c.stack)-1] }

// SetLineWidth implements vg.Canvas.
func (c *svgCanvas) SetLineWidth(w vg.Length) { c.top().width = w }

// SetLineDash implements vg.Canvas.
func (c *svgCanvas) SetLineDash(p []vg.Length, off vg.Length) {
	c.top().dash, c.top().off = append([]vg.Length(nil), p...), off
}

// SetColor implements vg.Canvas.
func (c *svgCanvas) SetColor(col color.Color) {
	if col == nil {
		col = color.Black
	}
	c.top().color = col
}

// Rotate implements vg.Canvas.
func (c *svgCanvas) Rotate(rad float64) {
	s, co := math.Sincos(rad)
	c.top().m = c.top().m.mul(affine{a: co, b: s, c: -s, d: co})
}

// Translate implements vg.Canvas.
func (c *svgCanvas) Translate(pt vg.Point) {
	c.top().m = c.top().m.mul(affine{a: 1, d: 1, e: float64(pt.X), f: float64(pt.Y)})
}

// Scale implements vg.Canvas.
func (c *svgCanvas) Scale(x, y float64) { c.top().m = c.top().m.mul(affine{a: x, d: y}) }

// Push implements vg.Canvas.
func (c *svgCanvas) Push() { c.stack = append(c.stack, *c.top()) }

// Pop implements vg.Canvas.
func (c *svgCanvas) Pop() {
	if len(c.stack) > 1 {
		c.stack = c.stack[:len(c.stack)-1]
	}
}

func num(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" || s == "" {
		return "0"
	}
	return s
}

// pt maps a user-space point to SVG coordinates (y down).
func (c *svgCanvas) pt(p vg.Point) string {
	x, y := c.top().m.apply(p)
	return num(x) + " " + num(float64(c.h)-y)
}

func (c *svgCanvas) pathData(p vg.Path) string {
	var b strings.Builder
	var cur vg.Point
	for _, comp := range p {
		switch comp.Type {
		case vg.MoveComp:
			b.WriteString("M" + c.pt(comp.Pos))
			cur = comp.Pos
		case vg.LineComp:
			b.WriteString("L" + c.pt(comp.Pos))
			cur = comp.Pos
		case vg.ArcComp:
			// As short line segments: exact enough at plot sizes, and no
			// arc flags to get wrong under transforms.
			n := max(8, int(math.Abs(comp.Angle)/(math.Pi/32)))
			for i := 0; i <= n; i++ {
				a := comp.Start + comp.Angle*float64(i)/float64(n)
				q := vg.Point{X: comp.Pos.X + comp.Radius*vg.Length(math.Cos(a)), Y: comp.Pos.Y + comp.Radius*vg.Length(math.Sin(a))}
				if i == 0 && len(b.String()) == 0 {
					b.WriteString("M" + c.pt(q))
				} else {
					b.WriteString("L" + c.pt(q))
				}
				cur = q
			}
		case vg.CurveComp:
			switch len(comp.Control) {
			case 1:
				b.WriteString("Q" + c.pt(comp.Control[0]) + " " + c.pt(comp.Pos))
			case 2:
				b.WriteString("C" + c.pt(comp.Control[0]) + " " + c.pt(comp.Control[1]) + " " + c.pt(comp.Pos))
			default:
				b.WriteString("L" + c.pt(comp.Pos))
			}
			cur = comp.Pos
		case vg.CloseComp:
			b.WriteString("Z")
		}
	}
	_ = cur
	return b.String()
}

func hexColor(col color.Color) (string, float64) {
	r, g, b, a := col.RGBA()
	if a == 0 {
		return "#000000", 0
	}
	// un-premultiply
	r, g, b = r*0xffff/a, g*0xffff/a, b*0xffff/a
	return fmt.Sprintf("#%02x%02x%02x", r>>8, g>>8, b>>8), float64(a) / 0xffff
}

// Stroke implements vg.Canvas.
func (c *svgCanvas) Stroke(p vg.Path) {
	st := c.top()
	if st.width <= 0 || len(p) == 0 {
		return
	}
	col, alpha := hexColor(st.color)
	scale := math.Sqrt(math.Abs(st.m.a*st.m.d - st.m.b*st.m.c))
	fmt.Fprintf(c.buf, `<path d="%s" fill="none" stroke="%s" stroke-width="%s"`, c.pathData(p), col, num(float64(st.width)*scale))
	if alpha < 1 {
		fmt.Fprintf(c.buf, ` stroke-opacity="%s"`, num(alpha))
	}
	if len(st.dash) > 0 {
		var ds []string
		for _, d := range st.dash {
			ds = append(ds, num(float64(d)*scale))
		}
		fmt.Fprintf(c.buf, ` stroke-dasharray="%s" stroke-dashoffset="%s"`, strings.Join(ds, ","), num(float64(st.off)*scale))
	}
	c.buf.WriteString("/>\n")
}

// Fill implements vg.Canvas.
func (c *svgCanvas) Fill(p vg.Path) {
	if len(p) == 0 {
		return
	}
	col, alpha := hexColor(c.top().color)
	fmt.Fprintf(c.buf, `<path d="%s" fill="%s"`, c.pathData(p), col)
	if alpha < 1 {
		fmt.Fprintf(c.buf, ` fill-opacity="%s"`, num(alpha))
	}
	c.buf.WriteString("/>\n")
}

// genericFamily maps gonum's fonts to the generic CSS families every viewer has.
func genericFamily(f font.Font) string {
	switch {
	case strings.Contains(string(f.Variant), "Mono"):
		return "monospace"
	case strings.Contains(string(f.Variant), "Serif") && !strings.Contains(string(f.Variant), "Sans"):
		return "serif"
	}
	return "sans-serif"
}

// FillString implements vg.Canvas.
func (c *svgCanvas) FillString(f font.Face, pt vg.Point, text string) {
	if f.Font.Size <= 0 {
		return
	}
	st := c.top()
	x, y := st.m.apply(pt)
	y = float64(c.h) - y
	scale := math.Sqrt(math.Abs(st.m.a*st.m.d - st.m.b*st.m.c))
	angle := -math.Atan2(st.m.b, st.m.a) * 180 / math.Pi
	col, _ := hexColor(st.color)
	fmt.Fprintf(c.buf, `<text x="%s" y="%s" font-family="%s" font-size="%s" fill="%s"`, num(x), num(y), genericFamily(f.Font), num(float64(f.Font.Size)*scale), col)
	if f.Font.Weight >= 600 {
		c.buf.WriteString(` font-weight="bold"`)
	}
	if math.Abs(angle) > 0.01 {
		fmt.Fprintf(c.buf, ` transform="rotate(%s %s %s)"`, num(angle), num(x), num(y))
	}
	fmt.Fprintf(c.buf, ">%s</text>\n", html.EscapeString(text))
}

// DrawImage implements vg.Canvas. Images would be data URIs, which GitHub's
// sanitizer drops; perfgate's plots draw none.
func (c *svgCanvas) DrawImage(vg.Rectangle, image.Image) {}

// bytes returns the whole document.
func (c *svgCanvas) bytes(title string) []byte {
	var out bytes.Buffer
	w, h := num(float64(c.w)), num(float64(c.h))
	fmt.Fprintf(&out, `<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s">`+"\n", w, h, w, h)
	fmt.Fprintf(&out, "<title>%s</title>\n", html.EscapeString(title))
	fmt.Fprintf(&out, `<rect x="0" y="0" width="%s" height="%s" fill="#ffffff"/>`+"\n", w, h)
	out.Write(c.buf.Bytes())
	out.WriteString("</svg>\n")
	return out.Bytes()
}

var _ vg.Canvas = (*svgCanvas)(nil)

// Size implements vg.CanvasSizer.
func (c *svgCanvas) Size() (vg.Length, vg.Length) { return c.w, c.h }
