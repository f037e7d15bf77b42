package numfmt

import (
	"math"
	"testing"
)

func TestFormats(t *testing.T) {
	x := 2.345
	for _, c := range []struct{ got, want string }{
		{F("%.1f", 2.345), "2.3"},
		{F("%+.1f %%", -4.25), "-4.2 %"},
		{F("%.1f", math.NaN()), "–"},
		{F("%.1f", math.Inf(1)), "–"},
		{P("%.2f", &x), "2.35"},
		{P("%.2f", nil), "–"},
		{Or(""), "–"},
		{Or("a"), "a"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
