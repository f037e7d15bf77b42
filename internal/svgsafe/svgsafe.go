// Package svgsafe checks SVG that untrusted code may have written against
// what perfgate's own SVG writer (internal/plot) emits, before the Action's
// reporter pushes it anywhere a browser shows it. A leaf: no plotting here.
package svgsafe

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Allowed is every element perfgate's SVG writer (internal/plot) emits, with its attributes: a
// reader of SVG that untrusted code may have written (the Action's reporter,
// before it pushes plots to the assets branch) accepts nothing else — no
// style, no animation, no reference of any kind.
var Allowed = map[string][]string{
	"svg":   {"xmlns", "width", "height", "viewBox"},
	"title": {},
	"rect":  {"x", "y", "width", "height", "fill"},
	"path":  {"d", "fill", "fill-opacity", "stroke", "stroke-width", "stroke-opacity", "stroke-dasharray", "stroke-dashoffset"},
	"text":  {"x", "y", "font-family", "font-size", "font-weight", "fill", "transform"},
}

// Check accepts only what perfgate's own SVG writer emits (Allowed):
// those elements and attributes, plain values, no references, styles or
// animation.
func Check(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	root := true
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("not well-formed XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			el := t.Name.Local
			if root && el != "svg" {
				return fmt.Errorf("the root element is %q, not svg", el)
			}
			root = false
			attrs, ok := Allowed[el]
			if !ok || (t.Name.Space != "" && t.Name.Space != "http://www.w3.org/2000/svg") {
				return fmt.Errorf("element %q is not one perfgate draws", el)
			}
			for _, a := range t.Attr {
				name := a.Name.Local
				if a.Name.Space != "" && !(a.Name.Space == "xmlns" || (name == "xmlns" && a.Name.Space == "")) {
					return fmt.Errorf("attribute %s:%s is not allowed", a.Name.Space, name)
				}
				if !slices.Contains(attrs, name) {
					return fmt.Errorf("attribute %q of %q is not one perfgate writes", name, el)
				}
				v := strings.ToLower(a.Value)
				if name != "xmlns" && (strings.Contains(v, "url(") || strings.Contains(v, ":") || strings.Contains(v, "\\")) {
					return fmt.Errorf("attribute %q has a value that could refer outside: %q", name, a.Value)
				}
			}
		case xml.Directive:
			return errors.New("DTDs and entities are not allowed")
		case xml.ProcInst:
			if t.Target != "xml" {
				return fmt.Errorf("processing instruction %q is not allowed", t.Target)
			}
		}
	}
	if root {
		return errors.New("empty")
	}
	return nil
}
