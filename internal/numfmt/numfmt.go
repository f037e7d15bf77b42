// Package numfmt is how every report writes a number: a fmt verb for the
// number, and one dash (–, an en dash) where there is none — NaN, an
// infinity or a missing value — so that the terminal table, comparison.md,
// the PR comment and the HTML pages agree. A leaf.
package numfmt

import (
	"fmt"
	"math"
	"unicode/utf8"
)

// Dash stands for a number that is not there.
const Dash = "–"

// F formats v with format (one verb, e.g. "%.1f" or "%+.1f %%"), or Dash
// when v is NaN or infinite.
func F(format string, v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return Dash
	}
	return fmt.Sprintf(format, v)
}

// P is F of *p, and Dash when p is nil.
func P(format string, p *float64) string {
	if p == nil {
		return Dash
	}
	return F(format, *p)
}

// Or is s, or Dash when s is empty.
func Or(s string) string {
	if s == "" {
		return Dash
	}
	return s
}

// Clip shortens a message to at most n bytes, cut at a rune boundary and
// marked with "…" (so up to n+3 bytes in all).
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return prefix(s, n) + "…"
}

// Cut returns s when it fits in n bytes; otherwise as much of s as fits,
// cut at a rune boundary, followed by tail, n bytes at most in all (tail is
// left out when not even it fits). It is perfgate's one way to shorten
// text for a limit (a GitHub comment, a status description, an error
// message in a record): a cut in the middle of a rune would leave invalid
// UTF-8, which GitHub rejects.
func Cut(s string, n int, tail string) string {
	if len(s) <= n {
		return s
	}
	if len(tail) > n {
		return prefix(s, n)
	}
	return prefix(s, n-len(tail)) + tail
}

// prefix is s's first n bytes or fewer, ending at a rune boundary.
func prefix(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:max(n, 0)]
}
