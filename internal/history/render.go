package history

import (
	"fmt"
	"math"
	"strings"

	"github.com/perfgate/perfgate/internal/record"
)

// FilterScenario keeps the points of scenario s (all when s is empty) and
// the accept points that name no scenario.
func FilterScenario(pts []Point, s string) []Point {
	if s == "" {
		return pts
	}
	var out []Point
	for _, p := range pts {
		if p.Scenario == s || (p.Kind == KindAccept && p.Scenario == "") {
			out = append(out, p)
		}
	}
	return out
}

// OpenRegression is one open regression with its series, for messages.
type OpenRegression struct {
	Series     Series
	Regression Regression
}

func (o OpenRegression) String() string {
	s, g := o.Series, o.Regression
	return fmt.Sprintf("%s level %d %s %+.1f %% from %.12s on (suspects %.12s..%.12s)", s.Scenario, s.Level, s.Metric, g.ChangePct, g.FirstBad, g.LastGood, g.FirstBad)
}

// OpenRegressions lists the open regressions of every series.
func OpenRegressions(res []Result) []OpenRegression {
	var out []OpenRegression
	for _, r := range res {
		for _, g := range r.Open() {
			out = append(out, OpenRegression{r.Series, g})
		}
	}
	return out
}

// Markdown is a check's report: the open regressions, then one row per
// series (what `perfgate history check` prints and writes as md).
func Markdown(res []Result, o Options) string {
	var b strings.Builder
	b.WriteString("# perfgate history\n\n")
	if open := OpenRegressions(res); len(open) > 0 {
		fmt.Fprintf(&b, "## ❌ %d open regression(s)\n\n", len(open))
		for _, x := range open {
			fmt.Fprintf(&b, "- %s level %d `%s`: %+.1f %% from `%.12s` on; suspects `%.12s..%.12s` (`git log %.12s..%.12s`)", x.Series.Scenario, x.Series.Level, x.Series.Metric,
				x.Regression.ChangePct, x.Regression.FirstBad, x.Regression.LastGood, x.Regression.FirstBad, x.Regression.LastGood, x.Regression.FirstBad)
			switch {
			case x.Regression.Provisional && x.Regression.Newest == 2:
				b.WriteString(" — provisional: the newest two points together; a third like them makes it a change point")
			case x.Regression.Provisional:
				b.WriteString(" — provisional: the newest point alone, far past its band; one more like it makes it a change point")
			}
			b.WriteString("\n")
		}
		b.WriteString("\nA regression stays open until a later step brings the metric back or `perfgate history accept --from FIRST_BAD --reason …` records it as intended.\n\n")
	} else {
		b.WriteString("No open regressions.\n\n")
	}
	b.WriteString("| | scenario | level | metric | points | newest | band | change points |\n| --- | --- | ---: | --- | ---: | ---: | --- | --- |\n")
	for _, r := range res {
		mark := "✅"
		switch {
		case len(r.Open()) > 0:
			mark = "❌"
		case r.Improved && o.TwoSided:
			mark = "🔍"
		}
		band := "–"
		if !math.IsNaN(r.BandLow) {
			band = fmt.Sprintf("%.4g … %.4g", r.BandLow, r.BandHigh)
		}
		var cps []string
		for _, c := range r.ChangePoints {
			cps = append(cps, fmt.Sprintf("%.12s %+.1f %%", c.Commit, c.ChangePct))
		}
		points := fmt.Sprint(r.Points)
		if r.Accepted != "" {
			points += fmt.Sprintf(" (from %.12s, accepted)", r.Accepted)
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %.4g (%.12s) | %s | %s |\n", mark, r.Series.Scenario, r.Series.Level, r.Series.Metric,
			points, r.Newest.Value, r.Newest.Commit, band, strings.Join(cps, ", "))
	}
	b.WriteString("\n❌ an open regression; 🔍 the newest point is outside the band on the better side (release profile: review it). The band is drawn from the points since the last change point.\n")
	return b.String()
}

// ResultsJSON is what history.json holds: the results, with the NaN band
// of a series with too little history as nulls.
func ResultsJSON(res []Result) any {
	type out struct {
		Result
		BandLow  record.Float `json:"band_low"`
		BandHigh record.Float `json:"band_high"`
	}
	var o []out
	for _, r := range res {
		o = append(o, out{Result: r, BandLow: record.Float(r.BandLow), BandHigh: record.Float(r.BandHigh)})
	}
	return o
}
