package numfmt

import (
	"math"
	"strings"
	"testing"
	"unicode/utf8"
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

// Cut never leaves half a rune and never passes its limit; Clip marks a cut
// with "…".
func TestCutAtARuneBoundary(t *testing.T) {
	s := strings.Repeat("✅", 10) // 3 bytes each
	for n := range 31 {
		got := Cut(s, n, "…")
		if !utf8.ValidString(got) || len(got) > n && len(s) > n {
			t.Errorf("Cut(%d) = %q (%d bytes)", n, got, len(got))
		}
	}
	if got := Cut("short", 10, "…"); got != "short" {
		t.Errorf("a string that fits is cut: %q", got)
	}
	if got := Clip("abcdef", 3); got != "abc…" {
		t.Errorf("Clip = %q", got)
	}
	if got := Cut("ab✅cd", 5, "!"); got != "ab!" {
		t.Errorf("Cut mid-rune = %q", got)
	}
}
