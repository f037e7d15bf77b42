package svgsafe

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	good := `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" viewBox="0 0 10 10"><title>t</title><rect x="0" y="0" width="10" height="10" fill="#ffffff"/><path d="M0 0L1 1" stroke="#000000" stroke-width="1" fill="none"/><text x="1" y="2" font-family="sans-serif" font-size="3" fill="#000" transform="rotate(-90 1 2)">a</text></svg>`
	if err := Check([]byte(good)); err != nil {
		t.Fatal(err)
	}
	bad := map[string]string{
		"script":     `<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`,
		"css url":    `<svg xmlns="http://www.w3.org/2000/svg"><rect fill="url(https://evil/x)"/></svg>`,
		"style":      `<svg xmlns="http://www.w3.org/2000/svg"><style>rect{fill:url(//evil)}</style></svg>`,
		"set":        `<svg xmlns="http://www.w3.org/2000/svg"><set attributeName="x" to="1"/></svg>`,
		"animate":    `<svg xmlns="http://www.w3.org/2000/svg"><rect><animate attributeName="x"/></rect></svg>`,
		"image":      `<svg xmlns="http://www.w3.org/2000/svg"><image href="https://evil/x.png"/></svg>`,
		"use":        `<svg xmlns="http://www.w3.org/2000/svg"><use href="#a"/></svg>`,
		"handler":    `<svg xmlns="http://www.w3.org/2000/svg" onload="x()"></svg>`,
		"style attr": `<svg xmlns="http://www.w3.org/2000/svg"><rect style="fill:red"/></svg>`,
		"xlink":      `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"><path xlink:href="x"/></svg>`,
		"entity":     `<!DOCTYPE svg [<!ENTITY a "b">]><svg xmlns="http://www.w3.org/2000/svg"></svg>`,
		"not svg":    `<html></html>`,
	}
	for name, doc := range bad {
		if err := Check([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// What perfgate's writer emits passes: the plot package's own test renders a
// chart and checks it (TestSVGPassesTheReportersCheck); here the list itself.
func TestAllowedIsSmall(t *testing.T) {
	for el := range Allowed {
		if strings.Contains(el, "anim") || el == "style" || el == "image" || el == "use" || el == "script" || el == "set" {
			t.Errorf("%s must not be allowed", el)
		}
	}
}
