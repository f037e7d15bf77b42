package report

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/perfgate/perfgate/internal/plot"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/registry"
	"github.com/perfgate/perfgate/internal/scenario"
	"github.com/perfgate/perfgate/internal/stats"
	"github.com/perfgate/perfgate/internal/telemetry"
)

// Figure is one chart of a report, drawable as SVG and PNG.
type Figure struct {
	Name    string // file name without extension
	Title   string
	Caption string
	svg     func() ([]byte, error)
	png     func() ([]byte, error)
	// svgLayout renders the SVG and where its data went, for values under
	// the pointer; nil for a figure that offers none.
	svgLayout func() ([]byte, plot.Layout, error)
}

var metricNames = []struct{ key, title, unit string }{
	{"ttft", "TTFT", "time to first token (ms)"},
	{"tpot", "TPOT", "time per output token (ms)"},
	{"e2el", "E2EL", "end-to-end latency (ms)"},
}

func SortedLevels(r *Run) []record.Level {
	ls := slices.Clone(r.Summary.Levels)
	sort.SliceStable(ls, func(i, j int) bool { return load(ls[i]) < load(ls[j]) })
	return ls
}

func loadLabel(runs []*Run) string {
	for _, r := range runs {
		for _, l := range r.Summary.Levels {
			if l.Mode == scenario.ModeClosed {
				return "offered load (concurrent requests)"
			}
			if l.Arrival == scenario.ArrivalTrace {
				return "trace replay speed-up (×)"
			}
			return "offered load (requests/s)"
		}
	}
	return "offered load"
}

// ChartFunc draws a chart of the runs of a report (several runs overlay);
// false leaves it out (the runs lack what it shows).
type ChartFunc func(runs []*Run) (plot.Chart, bool)

type registeredChart struct {
	caption string
	draw    ChartFunc
}

var charts = registry.New[registeredChart]("report chart", nil)

// RegisterChart adds a chart to every report: plots/NAME.svg and .png, in
// report.md and report.html with the caption. It panics when the name is
// taken.
func RegisterChart(name, caption string, draw ChartFunc) {
	charts.Register(name, registeredChart{caption, draw})
}

// Samples are the run's telemetry samples, in file order.
func (r *Run) Samples() []telemetry.Sample { return r.samples }

func fromChart(name, caption string, c plot.Chart) Figure {
	return Figure{Name: name, Title: c.Title, Caption: caption, svg: c.SVG, png: c.PNG, svgLayout: c.SVGLayout}
}

// Figures builds every chart of the report for the runs, overlaid.
func Figures(runs []*Run) []Figure {
	var figs []Figure
	// a. hockey sticks and b. latency against offered load
	for _, m := range metricNames {
		hockey := plot.Chart{Title: "Throughput and latency: " + m.title + " p50 (solid) and p99 (dashed)", XLabel: "output throughput (tokens/s)", YLabel: m.unit}
		vsLoad := plot.Chart{Title: m.title + " percentiles against offered load", XLabel: loadLabel(runs), YLabel: m.unit}
		for i, r := range runs {
			var x, xl, p50, p99 []float64
			for _, l := range SortedLevels(r) {
				x = append(x, l.OutputThrough)
				xl = append(xl, load(l))
				p50 = append(p50, l.Latency["median_"+m.key+"_ms"])
				p99 = append(p99, l.Latency["p99_"+m.key+"_ms"])
			}
			hockey.Series = append(hockey.Series,
				plot.Series{Label: r.Name + " p50", X: x, Y: p50, Color: i, Glyphs: true},
				plot.Series{Label: r.Name + " p99", X: x, Y: p99, Color: i, Dashed: true, Glyphs: true})
			vsLoad.Series = append(vsLoad.Series,
				plot.Series{Label: r.Name + " p50", X: xl, Y: p50, Color: i, Glyphs: true},
				plot.Series{Label: r.Name + " p99", X: xl, Y: p99, Color: i, Dashed: true, Glyphs: true})
		}
		figs = append(figs,
			fromChart("hockey-"+m.key, "Each point is a load level; the curve bends up where the server saturates.", hockey),
			fromChart("latency-"+m.key, "Latency percentiles at each offered load.", vsLoad))
	}
	// c. CDFs per level
	for _, m := range metricNames {
		c := plot.Chart{Title: "Distribution of " + m.title + " per level", XLabel: m.unit, YLabel: "fraction of requests"}
		zero := 0.0
		c.YMin = &zero
		for ri, r := range runs {
			for li, l := range SortedLevels(r) {
				d := r.dists[l.Level]
				if d == nil {
					continue
				}
				xs := map[string][]float64{"ttft": d.ttft, "tpot": d.tpot, "e2el": d.e2el}[m.key]
				x, y := cdf(xs, 200)
				label := fmt.Sprintf("%s %s", r.Name, levelName(l))
				c.Series = append(c.Series, plot.Series{Label: label, X: x, Y: y, Color: li, Dashed: ri%2 == 1})
			}
		}
		figs = append(figs, fromChart("cdf-"+m.key, "Cumulative distribution of measured requests; one line per load level (a second run dashed).", c))
	}
	// e. goodput against load
	g := plot.Chart{Title: "Goodput and throughput against offered load", XLabel: loadLabel(runs), YLabel: "requests/s"}
	zero := 0.0
	g.YMin = &zero
	for i, r := range runs {
		var x, thr, good []float64
		for _, l := range SortedLevels(r) {
			x = append(x, load(l))
			thr = append(thr, l.RequestThrough)
			if l.RequestGoodput != nil {
				good = append(good, *l.RequestGoodput)
			}
		}
		g.Series = append(g.Series, plot.Series{Label: r.Name + " throughput", X: x, Y: thr, Color: i, Dashed: true, Glyphs: true})
		if len(good) == len(x) {
			g.Series = append(g.Series, plot.Series{Label: r.Name + " goodput (meets every SLO)", X: x, Y: good, Color: i, Glyphs: true})
		}
	}
	figs = append(figs, fromChart("goodput", "Goodput counts only requests that meet every SLO of the scenario.", g))
	// d. a timeline per run
	for i, r := range runs {
		if l := timeline(r); len(l.Lanes) > 0 {
			figs = append(figs, Figure{Name: fmt.Sprintf("timeline-%d", i+1), Title: l.Title,
				Caption: "The whole run on one time axis: requests in flight, each request's TTFT, and telemetry.", svg: l.SVG, png: l.PNG})
		}
	}
	// e. registered charts
	charts.All(func(name string, rc registeredChart) {
		if c, ok := rc.draw(runs); ok {
			figs = append(figs, fromChart(name, rc.caption, c))
		}
	})
	return figs
}

func levelName(l record.Level) string {
	if l.Mode == scenario.ModeClosed {
		return fmt.Sprintf("c=%d", l.RequestedConcurrency)
	}
	if l.Arrival == scenario.ArrivalTrace {
		return fmt.Sprintf("trace ×%g", l.RequestedRate)
	}
	return fmt.Sprintf("%g req/s", l.RequestedRate)
}

// cdf samples the empirical CDF at n evenly spaced probabilities.
func cdf(xs []float64, n int) ([]float64, []float64) {
	if len(xs) == 0 {
		return nil, nil
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n = min(n, len(s))
	x, y := make([]float64, n+1), make([]float64, n+1)
	for i := 0; i <= n; i++ {
		q := float64(i) / float64(n)
		x[i], y[i] = stats.Quantile(s, q), q
	}
	return x, y
}

// maxPoints bounds what a timeline lane draws; longer series are downsampled
// with LTTB.
const maxPoints = 1500

func timeline(r *Run) plot.Lanes {
	lanes := plot.Lanes{Title: "Timeline of " + r.Name, XLabel: "time since the run began (s)"}
	if c, ok := inFlightLane(r); ok {
		lanes.Lanes = append(lanes.Lanes, c)
	}
	if c, ok := ttftLane(r); ok {
		lanes.Lanes = append(lanes.Lanes, c)
	}
	lanes.Lanes = append(lanes.Lanes, telemetryLanes(r)...)
	lanes.Lanes = append(lanes.Lanes, customLanes(r)...)
	// The run's structure: each level's warm-up lightly shaded, its
	// measurement darker, labelled in the top lane.
	spans := levelSpans(r)
	for i := range lanes.Lanes {
		for _, sp := range spans {
			if i > 0 {
				sp.Label = ""
			}
			lanes.Lanes[i].Spans = append(lanes.Lanes[i].Spans, sp)
		}
	}
	return lanes
}

// inFlightLane is the requests in flight, from the spans, on a fixed grid.
func inFlightLane(r *Run) (plot.Chart, bool) {
	if len(r.inflight) == 0 {
		return plot.Chart{}, false
	}
	var end int64
	for _, s := range r.inflight {
		end = max(end, s.end)
	}
	const bins = 1000
	step := max(end/bins, 1)
	diff := make([]int, bins+2)
	for _, s := range r.inflight {
		diff[min(s.start/step, bins+1)]++
		diff[min(s.end/step+1, bins+1)]--
	}
	x, y := make([]float64, 0, bins), make([]float64, 0, bins)
	cur := 0
	for i := 0; i <= bins; i++ {
		cur += diff[i]
		x = append(x, float64(int64(i)*step)/1e6)
		y = append(y, float64(cur))
	}
	return plot.Chart{YLabel: "in flight", Series: []plot.Series{{X: x, Y: y}}}, true
}

// ttftLane is every request's TTFT at its first token, thinned by LTTB.
func ttftLane(r *Run) (plot.Chart, bool) {
	if len(r.ttftAt) == 0 {
		return plot.Chart{}, false
	}
	x, y := sortedByX(r.ttftAt, r.ttftVal)
	x, y = plot.LTTB(x, y, maxPoints)
	return plot.Chart{YLabel: "TTFT (ms)", Series: []plot.Series{{X: x, Y: y, Points: true, Color: 1}}}, true
}

// sortedByX are copies of x and y in x's order (stable).
func sortedByX(xs, ys []float64) ([]float64, []float64) {
	order := make([]int, len(xs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return cmp.Less(xs[order[a]], xs[order[b]]) })
	x, y := make([]float64, len(order)), make([]float64, len(order))
	for i, j := range order {
		x[i], y[i] = xs[j], ys[j]
	}
	return x, y
}

// telemetryLanes: the GPUs' utilization, power and SM clock, and the
// server's KV cache, running and waiting requests; a series per key.
func telemetryLanes(r *Run) []plot.Chart {
	type lane struct {
		label string
		keys  func(k string) bool
		scale float64
	}
	gpuKey := func(suffix string) func(string) bool {
		return func(k string) bool { return len(k) > 3 && k[:3] == "gpu" && hasSuffix(k, "."+suffix) }
	}
	exact := func(name string) func(string) bool { return func(k string) bool { return k == name } }
	var out []plot.Chart
	for _, ln := range []lane{
		{"GPU util (%)", gpuKey("util_pct"), 1},
		{"power (W)", gpuKey("power_w"), 1},
		{"SM clock (MHz)", gpuKey("sm_clock_mhz"), 1},
		{"KV cache (%)", exact("vllm:kv_cache_usage_perc"), 100},
		{"running", exact("vllm:num_requests_running"), 1},
		{"waiting", exact("vllm:num_requests_waiting"), 1},
	} {
		series := map[string]*plot.Series{}
		for _, s := range r.samples {
			for k, v := range s.Values {
				if !ln.keys(k) {
					continue
				}
				se := series[k]
				if se == nil {
					se = &plot.Series{Label: k}
					series[k] = se
				}
				se.X = append(se.X, float64(s.T)/1e6)
				se.Y = append(se.Y, v*ln.scale)
			}
		}
		if len(series) == 0 {
			continue
		}
		keys := slices.Sorted(maps.Keys(series))
		c := plot.Chart{YLabel: ln.label}
		for i, k := range keys {
			x, y := sortedByX(series[k].X, series[k].Y)
			x, y = plot.LTTB(x, y, maxPoints)
			label := ""
			if len(keys) > 1 {
				label = k
			}
			c.Series = append(c.Series, plot.Series{Label: label, X: x, Y: y, Color: 2 + i})
		}
		out = append(out, c)
	}
	return out
}

// levelSpans are each level's warm-up and measurement on the run clock.
func levelSpans(r *Run) []plot.Span {
	var spans []plot.Span
	for _, l := range r.Summary.Levels {
		if l.MeasureStartUS > l.StartUS {
			spans = append(spans, plot.Span{From: float64(l.StartUS) / 1e6, To: float64(l.MeasureStartUS) / 1e6, Label: "warm-up"})
		}
		if l.MeasureEndUS > l.MeasureStartUS {
			spans = append(spans, plot.Span{From: float64(l.MeasureStartUS) / 1e6, To: float64(l.MeasureEndUS) / 1e6, Label: "L" + strconv.Itoa(l.Level+1) + " " + levelName(l), Dark: true})
		}
	}
	return spans
}

// customLanes draws each of the scenario's own probes (telemetry.probes) in
// a lane of its own: the four of its values that move the most (relative
// standard deviation), so that a DCGM exporter's lane shows what changed, not
// the alphabetically first four fields.
func customLanes(r *Run) []plot.Chart {
	series := map[string]map[string]*plot.Series{}
	for _, s := range r.samples {
		switch s.Probe {
		case "gpu", "host", "metrics":
			continue
		}
		for k, v := range s.Values {
			if strings.HasPrefix(k, "telemetry.") || strings.Contains(k, "_bucket{") {
				continue // the probe's own counts, and histogram buckets: not values to plot
			}
			if series[s.Probe] == nil {
				series[s.Probe] = map[string]*plot.Series{}
			}
			se := series[s.Probe][k]
			if se == nil {
				se = &plot.Series{Label: k}
				series[s.Probe][k] = se
			}
			se.X = append(se.X, float64(s.T)/1e6)
			se.Y = append(se.Y, v)
		}
	}
	var out []plot.Chart
	for _, probe := range slices.Sorted(maps.Keys(series)) {
		keys := slices.Sorted(maps.Keys(series[probe]))
		moves := map[string]float64{}
		for _, k := range keys {
			m, sd := stats.MeanSD(series[probe][k].Y)
			if sd > 0 {
				moves[k] = sd / math.Max(math.Abs(m), 1e-12)
			}
		}
		slices.SortStableFunc(keys, func(a, b string) int { return cmp.Compare(moves[b], moves[a]) })
		if len(keys) > 4 {
			keys = keys[:4]
		}
		c := plot.Chart{YLabel: probe}
		for i, k := range keys {
			se := series[probe][k]
			sort.Sort(byX{se})
			x, y := plot.LTTB(se.X, se.Y, maxPoints)
			c.Series = append(c.Series, plot.Series{Label: k, X: x, Y: y, Color: 2 + i})
		}
		out = append(out, c)
	}
	return out
}

// byX sorts a series' points by x.
type byX struct{ s *plot.Series }

func (b byX) Len() int           { return len(b.s.X) }
func (b byX) Less(i, j int) bool { return b.s.X[i] < b.s.X[j] }
func (b byX) Swap(i, j int) {
	b.s.X[i], b.s.X[j] = b.s.X[j], b.s.X[i]
	b.s.Y[i], b.s.Y[j] = b.s.Y[j], b.s.Y[i]
}

func hasSuffix(s, suf string) bool { return len(s) >= len(suf) && s[len(s)-len(suf):] == suf }
