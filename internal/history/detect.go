package history

import (
	"math"
	"slices"
	"sort"
	"strings"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/perfgate/perfgate/internal/metric"
)

// Options of a check.
type Options struct {
	Window int     // points of recent history for the prediction interval (default 30)
	Conf   float64 // the interval's confidence (default 0.99)
	// MinMagnitude is the smallest step that counts, relative (0.03: 3 %),
	// for every metric. Zero (the default) takes, per series, the scenario's
	// fail threshold recorded with its newest point (Point.FailPct), so that
	// history never flags a step the A/B gate would pass; 3 % where none was
	// recorded. error_rate steps are absolute (0.01: one percentage point).
	MinMagnitude float64
	MinSegment   int     // shortest segment between change points (default 5)
	Alpha        float64 // significance of a change point's t-test (default 0.001)
	TwoSided     bool    // flag unexplained improvements too (release)
}

func (o *Options) defaults() {
	if o.Window <= 0 {
		o.Window = 30
	}
	if o.Conf == 0 {
		o.Conf = 0.99
	}
	if o.MinSegment <= 0 {
		o.MinSegment = 5
	}
	if o.Alpha == 0 {
		o.Alpha = 0.001
	}
}

// DefaultMinChange is the smallest step that counts when neither the
// options nor the points name one.
const DefaultMinChange = 0.03

// minStep is the smallest step of a series that counts, in the metric's
// units, around the level m.
func (o Options) minStep(metric string, newest Point, m float64) float64 {
	rel := o.MinMagnitude
	if rel <= 0 && newest.FailPct > 0 {
		rel = newest.FailPct / 100
	}
	if rel <= 0 {
		rel = DefaultMinChange
	}
	if metric == "error_rate" { // a fraction, compared by difference as the gate does
		return rel
	}
	return rel * math.Abs(m)
}

// ChangePoint is where a series stepped.
type ChangePoint struct {
	Index     int     `json:"index"`  // first point of the new segment
	Commit    string  `json:"commit"` // its commit
	Before    float64 `json:"before"` // mean of the segment before
	After     float64 `json:"after"`
	ChangePct float64 `json:"change_pct"`
	P         float64 `json:"p"`
	Worse     bool    `json:"worse"`
}

// Result is the check of one series.
type Result struct {
	Series       Series        `json:"series"`
	Points       int           `json:"points"`
	Newest       Point         `json:"newest"`
	BandLow      float64       `json:"band_low"` // prediction interval from the window before the newest point
	BandHigh     float64       `json:"band_high"`
	Regressed    bool          `json:"regressed"`     // the newest point is outside the band on the worse side
	Improved     bool          `json:"improved"`      // outside on the better side (reported for review when two-sided)
	ChangePoints []ChangePoint `json:"change_points"` // over the whole series
	// Accepted is the commit of the re-baselining marker the series starts
	// from, and Skipped how many older points that left out.
	Accepted string `json:"accepted,omitempty"`
	Skipped  int    `json:"skipped,omitempty"`
}

// higherIsBetter is the metric's direction, as the gate has it.
func higherIsBetter(name string) bool { return metric.HigherIsBetter(name) }

// Check groups the points into series (same scenario, level, metric and
// environment), orders each by time, and checks it.
func Check(pts []Point, o Options) []Result {
	o.defaults()
	by := map[Series][]Point{}
	var marks []Point
	for _, p := range pts {
		if p.Kind == KindAccept {
			marks = append(marks, p)
			continue
		}
		if p.Kind != "" {
			continue // a kind this perfgate does not know
		}
		by[p.series()] = append(by[p.series()], p)
	}
	sort.SliceStable(marks, func(i, j int) bool { return marks[i].Time.Before(marks[j].Time) })
	var out []Result
	for s, ps := range by {
		sort.SliceStable(ps, func(i, j int) bool { return ps[i].Time.Before(ps[j].Time) })
		from, accepted := acceptedFrom(s, ps, marks)
		r := checkSeries(s, ps[from:], o)
		r.Accepted, r.Skipped = accepted, from
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Series, out[j].Series
		if a.Scenario != b.Scenario {
			return a.Scenario < b.Scenario
		}
		if a.Level != b.Level {
			return a.Level < b.Level
		}
		if a.Metric != b.Metric {
			return a.Metric < b.Metric
		}
		return a.Env < b.Env
	})
	return out
}

// acceptedFrom is where a series starts after the newest marker that
// applies to it: its first point of the marker's commit, or failing that the
// first point not older than the marker.
func acceptedFrom(s Series, ps []Point, marks []Point) (int, string) {
	from, commit := 0, ""
	for _, m := range marks {
		if (m.Scenario != "" && m.Scenario != s.Scenario) || (m.Metric != "" && m.Metric != s.Metric) {
			continue
		}
		i := slices.IndexFunc(ps, func(p Point) bool {
			return p.Commit != "" && (strings.HasPrefix(p.Commit, m.Commit) || strings.HasPrefix(m.Commit, p.Commit))
		})
		if i < 0 {
			i = slices.IndexFunc(ps, func(p Point) bool { return !p.Time.Before(m.Time) })
		}
		if i < 0 {
			i = len(ps) - 1 // only the newest point is left to start from
		}
		from, commit = i, m.Commit // the newest marker wins
	}
	return from, commit
}

func values(ps []Point) []float64 {
	out := make([]float64, len(ps))
	for i, p := range ps {
		out[i] = p.Value
	}
	return out
}

func meanSD(xs []float64) (float64, float64) {
	var m float64
	for _, x := range xs {
		m += x
	}
	m /= float64(len(xs))
	var ss float64
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	if len(xs) < 2 {
		return m, 0
	}
	return m, math.Sqrt(ss / float64(len(xs)-1))
}

func checkSeries(s Series, ps []Point, o Options) Result {
	r := Result{Series: s, Points: len(ps), Newest: ps[len(ps)-1], BandLow: math.NaN(), BandHigh: math.NaN()}
	xs := values(ps)
	// The newest point against a Student-t prediction interval of the window before it.
	if len(xs) >= 4 {
		w := xs[max(0, len(xs)-1-o.Window) : len(xs)-1]
		m, sd := meanSD(w)
		n := float64(len(w))
		t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: n - 1}.Quantile(1 - (1-o.Conf)/2)
		half := t * sd * math.Sqrt(1+1/n)
		half = math.Max(half, o.minStep(s.Metric, r.Newest, m)) // a smaller step never counts
		r.BandLow, r.BandHigh = m-half, m+half
		v := xs[len(xs)-1]
		worseHigh := !higherIsBetter(s.Metric)
		if (worseHigh && v > r.BandHigh) || (!worseHigh && v < r.BandLow) {
			r.Regressed = true
		} else if v > r.BandHigh || v < r.BandLow {
			r.Improved = true
		}
	}
	step := func(m float64) float64 { return o.minStep(s.Metric, r.Newest, m) }
	for _, i := range eDivisive(xs, step, o) {
		before, _ := meanSD(xs[:i])
		after, _ := meanSD(xs[i:])
		cp := ChangePoint{Index: i, Commit: ps[i].Commit, Before: before, After: after}
		if before != 0 {
			cp.ChangePct = 100 * (after/before - 1)
		}
		cp.Worse = (after > before) != higherIsBetter(s.Metric)
		cp.P = welchP(xs[:i], xs[i:])
		r.ChangePoints = append(r.ChangePoints, cp)
	}
	sort.Slice(r.ChangePoints, func(i, j int) bool { return r.ChangePoints[i].Index < r.ChangePoints[j].Index })
	return r
}

// eDivisive finds change points by E-divisive means (Matteson & James,
// 2014, as Hunter and Apache Otava use it): split where the energy distance
// between the two sides is largest, keep the split when a t-test between the
// sides is significant and the step is large enough, then recurse into both
// sides.
func eDivisive(xs []float64, minStep func(level float64) float64, o Options) []int {
	var out []int
	var rec func(lo, hi int)
	rec = func(lo, hi int) {
		n := hi - lo
		if n < 2*o.MinSegment {
			return
		}
		seg := xs[lo:hi]
		best, bestQ := -1, 0.0
		for tau := o.MinSegment; tau <= n-o.MinSegment; tau++ {
			if q := energy(seg[:tau], seg[tau:]); q > bestQ {
				best, bestQ = tau, q
			}
		}
		if best < 0 {
			return
		}
		a, b := seg[:best], seg[best:]
		ma, _ := meanSD(a)
		mb, _ := meanSD(b)
		if math.Abs(mb-ma) < minStep(ma) || welchP(a, b) > o.Alpha {
			return
		}
		out = append(out, lo+best)
		rec(lo, lo+best)
		rec(lo+best, hi)
	}
	rec(0, len(xs))
	return out
}

// energy is the scaled energy statistic of two samples.
func energy(a, b []float64) float64 {
	m, n := float64(len(a)), float64(len(b))
	var between, withinA, withinB float64
	for _, x := range a {
		for _, y := range b {
			between += math.Abs(x - y)
		}
	}
	for i := range a {
		for j := i + 1; j < len(a); j++ {
			withinA += math.Abs(a[i] - a[j])
		}
	}
	for i := range b {
		for j := i + 1; j < len(b); j++ {
			withinB += math.Abs(b[i] - b[j])
		}
	}
	e := 2*between/(m*n) - withinA/(m*(m-1)/2) - withinB/(n*(n-1)/2)
	return m * n / (m + n) * e
}

// welchP is the two-sided p-value of Welch's t-test.
func welchP(a, b []float64) float64 {
	ma, sa := meanSD(a)
	mb, sb := meanSD(b)
	na, nb := float64(len(a)), float64(len(b))
	va, vb := sa*sa/na, sb*sb/nb
	if va+vb == 0 {
		if ma == mb {
			return 1
		}
		return 0
	}
	t := (mb - ma) / math.Sqrt(va+vb)
	df := (va + vb) * (va + vb) / (va*va/(na-1) + vb*vb/(nb-1))
	return 2 * (1 - distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}.CDF(math.Abs(t)))
}
