package gatesim

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/perfgate/perfgate/internal/gate"
	"github.com/perfgate/perfgate/internal/stats"
)

// slowFit is the shift (log) past which a fitted trial counts as a slow
// start rather than ordinary noise: the gate's outlier floor.
var slowFit = math.Log1p(gate.OutlierFloorPct / 100)

// key is a trial: its side and its index there; cell a metric at a level.
type (
	key struct {
		side string
		i    int
	}
	cell struct {
		metric string
		level  int
	}
)

// ownNoise is a metric's own noise per simulated level (CV, %): at each of
// its levels, the spread of what each ordinary trial's shared slowness
// leaves; pooled over its levels for every simulated one when the scenario
// has other than three. Nil when the metric was not measured.
func ownNoise(metric string, cells []cell, perCell map[cell]map[key]float64, shared map[key]float64) []float64 {
	byLevel := map[int]float64{}
	levels := map[int]bool{}
	for _, c := range cells {
		levels[c.level] = true
		if c.metric != metric {
			continue
		}
		var rest []float64
		for k, d := range perCell[c] {
			if shared[k] <= slowFit {
				rest = append(rest, d-shared[k])
			}
		}
		_, sd := stats.MeanSD(rest)
		byLevel[c.level] = 100 * sd
	}
	if len(byLevel) == 0 {
		return nil
	}
	if len(levels) == Levels && len(byLevel) == Levels {
		var ps []float64
		for lv := 1; lv <= Levels; lv++ {
			p, ok := byLevel[lv]
			if !ok {
				break
			}
			ps = append(ps, p)
		}
		if len(ps) == Levels {
			return ps
		}
	}
	var ss float64
	for _, p := range byLevel {
		ss += p * p
	}
	p := math.Sqrt(ss / float64(len(byLevel)))
	return []float64{p, p, p}
}

// FitNoise fits a noise model to the per-trial values of a comparison's
// gating ratio metrics (an A/A: both sides the same code), as this suite
// draws them: each trial's shared slowness (the median, over the metrics
// and levels, of its log deviation from its side's median in the worse
// direction), the trials past the outlier floor as slow starts, the spread
// of the others' shared slowness as CommonPct, and what is left as each
// metric's own noise per level (CellPct). A scenario with other than three
// levels gives every simulated level the metric's noise pooled over its
// levels.
func FitNoise(name string, results []gate.Result) (Noise, error) {
	dev := map[key][]float64{}            // trial → signed log deviations
	perCell := map[cell]map[key]float64{} // (metric, level) → trial → deviation
	var cells []cell
	for _, x := range results {
		if !x.Gating || gate.Absolute(x.Metric) {
			continue
		}
		sign := 1.0
		if gate.HigherIsBetter(x.Metric) {
			sign = -1
		}
		c := cell{x.Metric, x.Level}
		for _, side := range []struct {
			name string
			xs   []float64
		}{{gate.Baseline, x.Baseline}, {gate.Candidate, x.Candidate}} {
			if len(side.xs) < 2 || slices.ContainsFunc(side.xs, func(v float64) bool { return !(v > 0) }) {
				continue
			}
			l := stats.Logs(side.xs)
			m := stats.Median(slices.Clone(l)) // a slow start does not move it
			if perCell[c] == nil {
				perCell[c] = map[key]float64{}
				cells = append(cells, c)
			}
			for i, v := range l {
				k := key{side.name, i}
				dev[k] = append(dev[k], sign*(v-m))
				perCell[c][k] = sign * (v - m)
			}
		}
	}
	if len(dev) < 4 {
		return Noise{}, fmt.Errorf("too few trials to fit noise: %d (want at least two a side)", len(dev))
	}
	shared := map[key]float64{}
	var slow, common []float64
	for k, ds := range dev {
		s := stats.Median(slices.Clone(ds))
		shared[k] = s
		if s > slowFit {
			slow = append(slow, s)
		} else {
			common = append(common, s)
		}
	}
	n := Noise{Name: name, CellPct: map[string][]float64{}}
	n.SlowProb = float64(len(slow)) / float64(len(dev))
	if len(slow) > 0 {
		n.SlowPct = 100 * (math.Exp(stats.Median(slow)) - 1)
	}
	_, sd := stats.MeanSD(common)
	n.CommonPct = 100 * sd
	var parts []string
	for _, r := range Rules().Metrics {
		if ps := ownNoise(r.Metric, cells, perCell, shared); ps != nil {
			n.CellPct[r.Metric] = ps
			parts = append(parts, fmt.Sprintf("%s %.1f–%.1f %%", r.Metric, slices.Min(ps), slices.Max(ps)))
		}
	}
	n.Desc = fmt.Sprintf("fitted: per metric and level %s; %.1f %% shared by a trial's metrics; %.0f %% of engine starts %.0f %% slow",
		strings.Join(parts, ", "), n.CommonPct, 100*n.SlowProb, n.SlowPct)
	return n, nil
}

// FitFile fits a noise model to the per-trial values of a comparison.json
// (perfgate compare or ab; its outcome's results).
func FitFile(name, path string) (Noise, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Noise{}, err
	}
	var c struct {
		Outcome gate.Outcome `json:"outcome"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return Noise{}, fmt.Errorf("%s: %w", path, err)
	}
	n, err := FitNoise(name, c.Outcome.Results)
	if err != nil {
		return n, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

// Literal is a fitted model as the Go literal of a Noises entry, its
// figures to two decimals.
func Literal(n Noise) string {
	var b strings.Builder
	fmt.Fprintf(&b, "{Name: %q, Desc: %q, CommonPct: %.2f, SlowProb: %.3f, SlowPct: %.1f, CellPct: map[string][]float64{", n.Name, n.Desc, n.CommonPct, n.SlowProb, n.SlowPct)
	for _, r := range Rules().Metrics {
		ps, ok := n.CellPct[r.Metric]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "\n\t%q: {%.2f, %.2f, %.2f},", r.Metric, ps[0], ps[1], ps[2])
	}
	b.WriteString("\n}}")
	return b.String()
}
