package report

import (
	"fmt"
	"math"

	"github.com/perfgate/perfgate/internal/history"
	"github.com/perfgate/perfgate/internal/plot"
)

// TrendChart is one history series over commits (history.Check's result): the medians, the band of its
// current segment and its change points.
func TrendChart(pts []history.Point, r history.Result) plot.Chart {
	ps := history.SeriesPoints(pts, r)
	c := plot.Chart{Title: fmt.Sprintf("%s, level %d: %s over commits", r.Series.Scenario, r.Series.Level, r.Series.Metric),
		XLabel: "commit", YLabel: r.Series.Metric}
	var x, y []float64
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, p := range ps {
		x, y = append(x, float64(i)), append(y, p.Value)
		c.XTicks = append(c.XTicks, fmt.Sprintf("%.7s", p.Commit))
		lo, hi = min(lo, p.Value), max(hi, p.Value)
	}
	c.Series = append(c.Series, plot.Series{Label: "median of trials", X: x, Y: y, Glyphs: true})
	if !math.IsNaN(r.BandLow) && len(x) > 1 {
		band := []float64{float64(r.BandFrom), float64(len(x) - 1)}
		c.Series = append(c.Series,
			plot.Series{Label: "band of recent history", X: band, Y: []float64{r.BandLow, r.BandLow}, Color: 2, Dashed: true},
			plot.Series{X: band, Y: []float64{r.BandHigh, r.BandHigh}, Color: 2, Dashed: true})
	}
	for i, cp := range r.ChangePoints {
		label := ""
		if i == 0 {
			label = "change point"
		}
		c.Series = append(c.Series, plot.Series{Label: label, X: []float64{float64(cp.Index) - 0.5, float64(cp.Index) - 0.5}, Y: []float64{lo, hi}, Color: 1})
	}
	return c
}
