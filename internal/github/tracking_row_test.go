package github

import (
	"strings"
	"testing"

	"github.com/perfgate/perfgate/internal/history"
)

// An open regression's row says how it stands: provisional on the newest
// point alone, on the newest two together, or confirmed (no note).
func TestOpenRowSaysWhatOpenedIt(t *testing.T) {
	e := history.Entry{Scenario: "s", Level: 1, Metric: "median_tpot_ms", FirstBad: "c2", LastGood: "c1", ChangePct: 9.5}
	for _, c := range []struct {
		prov   bool
		newest int
		want   string
	}{
		{true, 1, "(provisional: one point)"},
		{true, 2, "(provisional: the newest two points)"},
		{false, 0, "`median\\_tpot\\_ms` | +9.5 %"},
	} {
		e.Provisional, e.Newest = c.prov, c.newest
		if row := openRow(e, TrackingLinks{}); !strings.Contains(row, c.want) {
			t.Errorf("provisional %v, newest %d: %q lacks %q", c.prov, c.newest, row, c.want)
		}
	}
}
