package history

import (
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/perfgate/perfgate/internal/metric"
	"github.com/perfgate/perfgate/internal/stats"
)

// Options of a check.
type Options struct {
	Window int     // most points of the current segment the newest point's band uses (default 30)
	Conf   float64 // the band's confidence (default 0.99)
	// MinMagnitude is the smallest step that counts, relative (0.03: 3 %),
	// for every metric. Zero (the default) takes, per series, the scenario's
	// fail threshold recorded with its newest point (Point.FailPct), so that
	// history never flags a step the A/B gate would pass; 3 % where none was
	// recorded. error_rate steps are absolute (0.01: one percentage point).
	MinMagnitude float64
	// MinSegment is the fewest points between two change points (default
	// 5). The newest segment may be shorter — down to TailMin points — so
	// that a step is listed soon after it lands.
	MinSegment int
	TailMin    int     // fewest points of a newest segment that is a change point's (default 2)
	Alpha      float64 // significance of a change point's t-test (default 0.001)
	// TailAlpha is the significance a newest segment shorter than MinSegment
	// needs (default 0.01): its evidence is a few points, and it is checked
	// again with every commit.
	TailAlpha float64
	// PairAlpha is how often, at most, the newest two points of some
	// series of a quiet set raise a provisional alarm together (one-sided,
	// shared among the Family; default 0.04): a step is named at its
	// second commit, before a change point has the points to be tested.
	PairAlpha float64
	// AtOnce is how far, in smallest steps that count, the newest point
	// alone must be beyond its segment's mean (and outside its band) to
	// open a provisional regression (default 4: 20 % on a 5 % threshold);
	// a smaller step opens one when the newest two points say so together
	// (PairAlpha). One slow run is not a step: naming every step at its
	// first commit (AtOnce 1) raised an alarm on 13 % of quiet nights in a
	// set of 18 series whose runs have a heavy tail (cpsim).
	AtOnce   float64
	TwoSided bool // flag unexplained improvements too (release)
	// Family is how many series the newest point's band is corrected for
	// (Bonferroni): a set of series checked together raises a provisional
	// alarm on a quiet commit no more often than one series alone would at
	// Conf. Zero (the default) takes the number of series Check is given.
	Family int
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
	if o.TailMin <= 0 {
		o.TailMin = 2
	}
	o.TailMin = min(o.TailMin, o.MinSegment)
	if o.Alpha == 0 {
		o.Alpha = 0.001
	}
	if o.TailAlpha == 0 {
		o.TailAlpha = 0.01
	}
	if o.PairAlpha == 0 {
		o.PairAlpha = 0.04
	}
	if o.AtOnce <= 0 {
		o.AtOnce = DefaultAtOnce
	}
}

// shared is a level alpha of one series shared among the Family: every
// series checked together is tested at each commit, so that the whole set
// raises a false alarm about as often as one series alone would.
func (o Options) shared(alpha float64) float64 { return alpha / float64(max(o.Family, 1)) }

// DefaultAtOnce is Options.AtOnce's default.
const DefaultAtOnce = 4.0

// DefaultMinChange is the smallest step that counts when neither the
// options nor the points name one.
const DefaultMinChange = 0.03

// scale is how a metric's values are compared: latencies and throughputs on
// the log scale (a step is a ratio, a band never goes below zero),
// error_rate as it is (a fraction, compared by difference as the gate does).
type scale struct{ log bool }

func scaleOf(metricName string, xs []float64) scale {
	if metricName == "error_rate" {
		return scale{}
	}
	for _, x := range xs {
		if !(x > 0) {
			return scale{} // a value the log cannot take: compare as is
		}
	}
	return scale{log: true}
}

func (s scale) to(x float64) float64 {
	if s.log {
		return math.Log(x)
	}
	return x
}

func (s scale) from(y float64) float64 {
	if s.log {
		return math.Exp(y)
	}
	return y
}

// minStep is the smallest step of a series that counts, on its scale.
func (o Options) minStep(metricName string, newest Point, sc scale) float64 {
	rel := o.MinMagnitude
	if rel <= 0 && newest.FailPct > 0 {
		rel = newest.FailPct / 100
	}
	if rel <= 0 {
		rel = DefaultMinChange
	}
	if sc.log {
		return math.Log1p(rel)
	}
	return rel // error_rate: an absolute difference
}

// ChangePoint is where a series stepped.
type ChangePoint struct {
	Index     int     `json:"index"`     // first point of the new segment
	Commit    string  `json:"commit"`    // its commit: the first bad one when Worse
	LastGood  string  `json:"last_good"` // the commit of the point before
	Before    float64 `json:"before"`    // level of the segment before (geometric mean on the log scale)
	After     float64 `json:"after"`     // level of the segment after
	ChangePct float64 `json:"change_pct"`
	P         float64 `json:"p"` // two-sided t-test between the two segments
	Worse     bool    `json:"worse"`
	// Tail is set while the new segment is shorter than MinSegment: listed
	// early, on the stricter TailAlpha.
	Tail bool `json:"tail,omitempty"`
}

// Regression is a step for the worse and what became of it.
type Regression struct {
	FirstBad  string  `json:"first_bad"` // the first commit at the worse level
	LastGood  string  `json:"last_good"` // the commit before it: suspects are LastGood..FirstBad
	Index     int     `json:"index"`
	Before    float64 `json:"before"`
	After     float64 `json:"after"`
	ChangePct float64 `json:"change_pct"`
	// Provisional: only the newest point says so (outside the band of its
	// segment), or the newest two together (Newest 2); one more point like
	// them makes it a change point.
	Provisional bool `json:"provisional,omitempty"`
	// Newest is how many of the newest points make a provisional
	// regression: 1 (outside its band alone) or 2 (together).
	Newest int `json:"newest,omitempty"`
	// Open until a later change point brings the metric back to within the
	// smallest step of Before (RecoveredAt names it), or until someone
	// accepts the change (history accept; the series then starts anew).
	Open        bool   `json:"open"`
	RecoveredAt string `json:"recovered_at,omitempty"`
}

// Result is the check of one series.
type Result struct {
	Series   Series  `json:"series"`
	Points   int     `json:"points"`
	Newest   Point   `json:"newest"`
	BandLow  float64 `json:"band_low"` // prediction interval for the newest point from its segment
	BandHigh float64 `json:"band_high"`
	// BandFrom is the index of the first point the band was drawn from (the
	// current segment's start, or Window points back).
	BandFrom     int           `json:"band_from"`
	Regressed    bool          `json:"regressed"`     // the newest point is outside the band on the worse side
	Improved     bool          `json:"improved"`      // outside on the better side (reported for review when two-sided)
	ChangePoints []ChangePoint `json:"change_points"` // over the whole series
	Regressions  []Regression  `json:"regressions"`   // the worse steps, open or recovered
	// Accepted is the commit of the re-baselining marker the series starts
	// from, AcceptReason its reason, and Skipped how many older points that
	// left out.
	Accepted     string    `json:"accepted,omitempty"`
	AcceptReason string    `json:"accept_reason,omitempty"`
	AcceptedAt   time.Time `json:"accepted_at,omitzero"`
	Skipped      int       `json:"skipped,omitempty"`
}

// Open is the series' open regressions.
func (r Result) Open() []Regression {
	var out []Regression
	for _, g := range r.Regressions {
		if g.Open {
			out = append(out, g)
		}
	}
	return out
}

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
	if o.Family <= 0 {
		o.Family = len(by)
	}
	var out []Result
	for s, ps := range by {
		sort.SliceStable(ps, func(i, j int) bool { return ps[i].Time.Before(ps[j].Time) })
		from, mark := acceptedFrom(s, ps, marks)
		r := checkSeries(s, ps[from:], o)
		r.Accepted, r.AcceptReason, r.AcceptedAt, r.Skipped = mark.Commit, mark.Reason, mark.Time, from
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

// SeriesPoints is the points of r's series as Check saw them: measured
// points of that scenario, level, metric and environment, oldest first, from
// the accepted commit on. Indices in r (change points, BandFrom) refer to it.
func SeriesPoints(pts []Point, r Result) []Point {
	var ps []Point
	for _, p := range pts {
		if p.Kind == "" && p.series() == r.Series {
			ps = append(ps, p)
		}
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Time.Before(ps[j].Time) })
	return ps[min(r.Skipped, len(ps)):]
}

// acceptedFrom is where a series starts after the newest marker that
// applies to it: its first point of the marker's commit, or failing that the
// first point not older than the marker.
func acceptedFrom(s Series, ps []Point, marks []Point) (int, Point) {
	from, mark := 0, Point{}
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
		from, mark = i, m // the newest marker wins
	}
	return from, mark
}

func checkSeries(s Series, ps []Point, o Options) Result {
	n := len(ps)
	r := Result{Series: s, Points: n, Newest: ps[n-1], BandLow: math.NaN(), BandHigh: math.NaN()}
	raw := make([]float64, n)
	for i, p := range ps {
		raw[i] = p.Value
	}
	sc := scaleOf(s.Metric, raw)
	xs := make([]float64, n)
	for i, v := range raw {
		xs[i] = sc.to(v)
	}
	step := o.minStep(s.Metric, r.Newest, sc)
	higher := metric.HigherIsBetter(s.Metric)
	worse := func(d float64) bool { return (d > 0) != higher }

	// Change points, and the regressions they open and close: each worse
	// step opens one; a later step back to within the smallest step of
	// where it started closes it.
	cps := Segment(xs, step, o)
	idx := make([]int, len(cps))
	for k, c := range cps {
		idx[k] = c.Index
	}
	for k, c := range cps {
		lo, hi := neighbours(idx, k, n)
		before, after := mean(xs[lo:c.Index]), mean(xs[c.Index:hi])
		cp := ChangePoint{Index: c.Index, Commit: ps[c.Index].Commit, LastGood: ps[c.Index-1].Commit, P: c.P, Tail: c.Tail,
			Before: sc.from(before), After: sc.from(after), Worse: worse(after - before)}
		if cp.Before != 0 {
			cp.ChangePct = 100 * (cp.After/cp.Before - 1)
		}
		r.ChangePoints = append(r.ChangePoints, cp)
		if cp.Worse {
			r.Regressions = append(r.Regressions, Regression{FirstBad: cp.Commit, LastGood: cp.LastGood, Index: cp.Index,
				Before: cp.Before, After: cp.After, ChangePct: cp.ChangePct, Open: true})
			continue
		}
		for i := range r.Regressions {
			g := &r.Regressions[i]
			if d := after - sc.to(g.Before); g.Open && (!worse(d) || math.Abs(d) < step) {
				g.Open, g.RecoveredAt = false, cp.Commit
			}
		}
	}

	// The newest point against a Student-t prediction interval of its
	// segment: the points since the last change point (at most Window).
	// Outside on the worse side, it is a provisional regression.
	segStart := 0
	if len(cps) > 0 {
		segStart = cps[len(cps)-1].Index
	}
	r.BandFrom = max(segStart, n-1-o.Window)
	if w := xs[r.BandFrom : n-1]; len(w) >= 3 {
		m, sd := stats.MeanSD(w)
		k := float64(len(w))
		half := stats.TQuantile(1-o.shared((1-o.Conf)/2), k-1) * sd * math.Sqrt(1+1/k)
		half = math.Max(half, step) // a smaller step never counts
		r.BandLow, r.BandHigh = sc.from(m-half), sc.from(m+half)
		if sc.log {
			r.BandLow = math.Max(r.BandLow, 0)
		}
		d := xs[n-1] - m
		switch {
		case math.Abs(d) <= half:
		case worse(d):
			r.Regressed = true
			if math.Abs(d) < o.AtOnce*step {
				break // the newest point alone does not open one
			}
			g := Regression{FirstBad: ps[n-1].Commit, LastGood: ps[n-2].Commit, Index: n - 1, Before: sc.from(m), After: raw[n-1],
				Provisional: true, Newest: 1, Open: true}
			if g.Before != 0 {
				g.ChangePct = 100 * (g.After/g.Before - 1)
			}
			r.Regressions = append(r.Regressions, g)
		default:
			r.Improved = true
		}
	}
	if g, ok := pairAlarm(xs, segStart, step, worse, o); ok {
		// The newest two together name the older of them: drop the
		// newest point's own alarm, which names the later commit.
		r.Regressions = slices.DeleteFunc(r.Regressions, func(x Regression) bool { return x.Provisional })
		g.FirstBad, g.LastGood = ps[g.Index].Commit, ps[g.Index-1].Commit
		g.Before, g.After = sc.from(g.Before), sc.from(g.After)
		if g.Before != 0 {
			g.ChangePct = 100 * (g.After/g.Before - 1)
		}
		r.Regressed = true
		r.Regressions = append(r.Regressions, g)
	}
	return r
}

// pairAlarm tests the newest two points together against the segment
// before them (at most Window points since the last change point): their
// mean beyond a one-sided Student-t bound at PairAlpha shared among the
// Family, by at least the smallest step, and each of them at least half
// that step and half their mean shift beyond the segment's mean. A step
// lands as two such points; one odd point beside a usual one does not
// make a pair, however far off the odd one is. It opens a
// provisional regression named by the older point (Before and After on
// the comparison scale).
func pairAlarm(xs []float64, segStart int, step float64, worse func(float64) bool, o Options) (Regression, bool) {
	n := len(xs)
	from := max(segStart, n-2-o.Window)
	if segStart > n-3 || n-2-from < 3 {
		return Regression{}, false
	}
	m, sd := stats.MeanSD(xs[from : n-2])
	k := float64(n - 2 - from)
	after := mean(xs[n-2:])
	d := after - m
	half := stats.TQuantile(1-o.shared(o.PairAlpha), k-1) * sd * math.Sqrt(0.5+1/k)
	// Each point half a step beyond, and half the pair's shift: one point
	// far off beside a usual one is that point's alarm (AtOnce), not a
	// step at the usual one.
	if !worse(d) || math.Abs(d) <= math.Max(half, step) || !allBeyond(xs[n-2:], m, after, math.Max(step, math.Abs(d))/2) {
		return Regression{}, false
	}
	return Regression{Index: n - 2, Before: m, After: after, Provisional: true, Newest: 2, Open: true}, true
}

func mean(xs []float64) float64 {
	m, _ := stats.MeanSD(xs)
	return m
}

// Cut is a change point of Segment: the first index of a new segment, the
// t-test's p-value against the segment before, and whether the new segment
// is the newest one and shorter than MinSegment.
type Cut struct {
	Index int
	P     float64
	Tail  bool
}

// Segment finds the change points of xs (values on the scale they are
// compared on) in two steps:
//
//  1. Propose: the optimal partition into segments of constant mean (least
//     squares with a penalty per segment, by dynamic programming over every
//     split — Jackson et al. 2005's optimal partitioning) on the values
//     divided by a robust noise estimate (the MAD of successive differences,
//     which a step does not inflate). Segments have at least MinSegment
//     points, except the newest, which needs TailMin.
//  2. Keep what is real: every proposed change point must pass a two-sided
//     pooled t-test against its neighbouring segment at Alpha (TailAlpha for
//     a newest segment shorter than MinSegment) and be a step of at least
//     minStep — and a newest segment shorter than MinSegment must have every
//     point beyond half that step, so that one odd point beside a usual one
//     is not a new level; the weakest that fails is removed and its neighbours tested
//     again, until all pass (the merge step of Hunter and Apache Otava).
//
// Unlike binary segmentation, the proposal sees a step that is reverted a
// few commits later (two change points close together) as well as a single
// step, and unlike a fixed minimum segment it lists a step a commit or two
// after it lands.
func Segment(xs []float64, minStep float64, o Options) []Cut {
	o.defaults()
	n := len(xs)
	if n < o.TailMin+1 || n < 3 {
		return nil
	}
	diffs := make([]float64, n-1)
	for i := range diffs {
		diffs[i] = xs[i+1] - xs[i]
	}
	sigma := stats.MAD(diffs) / math.Sqrt2
	sigma = math.Max(sigma, minStep/5) // steady series: the smallest step that counts sets the scale
	// Prefix sums of the standardized values and their squares.
	s1, s2 := make([]float64, n+1), make([]float64, n+1)
	for i, x := range xs {
		z := x / sigma
		s1[i+1], s2[i+1] = s1[i]+z, s2[i]+z*z
	}
	cost := func(i, j int) float64 { // sum of squares about the mean of [i, j)
		d := s1[j] - s1[i]
		return s2[j] - s2[i] - d*d/float64(j-i)
	}
	beta := 2 * math.Log(float64(n)) // a BIC-like penalty per change point; the tests below do the rest
	f := make([]float64, n+1)
	prev := make([]int, n+1)
	for j := 1; j <= n; j++ {
		f[j], prev[j] = math.Inf(1), -1
		minLen := o.MinSegment
		if j == n {
			minLen = o.TailMin
		}
		for i := 0; i <= j-minLen; i++ {
			if i > 0 && math.IsInf(f[i], 1) {
				continue
			}
			var c float64
			if i == 0 {
				c = cost(0, j)
			} else {
				c = f[i] + cost(i, j) + beta
			}
			if c < f[j] {
				f[j], prev[j] = c, i
			}
		}
	}
	var idx []int
	if prev[n] < 0 {
		return nil
	}
	for j := n; j > 0; j = prev[j] {
		if prev[j] > 0 {
			idx = append(idx, prev[j])
		}
	}
	slices.Sort(idx)
	return merge(xs, idx, minStep, o)
}

// merge removes proposed change points that fail their tests, weakest first.
func merge(xs []float64, idx []int, minStep float64, o Options) []Cut {
	n := len(xs)
	for {
		if len(idx) == 0 {
			return nil
		}
		cuts := make([]Cut, len(idx))
		steps := make([]float64, len(idx)) // |mean after − mean before|
		weakest, weakP := -1, 1.0
		for k, at := range idx {
			lo, hi := neighbours(idx, k, n)
			a, b := xs[lo:at], xs[at:hi]
			ma, mb := mean(a), mean(b)
			steps[k] = math.Abs(mb - ma)
			tail := hi == n && len(b) < o.MinSegment
			alpha := o.Alpha
			if tail {
				// A short newest segment is tested again at every
				// commit of every series checked together: its level
				// is shared among them, as the newest points' bands are.
				alpha = o.shared(o.TailAlpha)
			}
			p := stats.PooledTP(a, b)
			cuts[k] = Cut{Index: at, P: p, Tail: tail}
			r := p / alpha
			if tail && !allBeyond(b, ma, mb, minStep/2) {
				r = math.Inf(1) // one odd point beside a usual one is not a new level
			}
			if r > weakP {
				weakest, weakP = k, r
			}
		}
		if weakest < 0 { // all significant: the smallest step under minStep goes
			small := minStep
			for k, d := range steps {
				if d < small {
					weakest, small = k, d
				}
			}
		}
		if weakest < 0 {
			return cuts
		}
		idx = slices.Delete(idx, weakest, weakest+1)
	}
}

// neighbours is where the segment before change point k of idx starts and
// where the one after it ends (n: the end of the series).
func neighbours(idx []int, k, n int) (lo, hi int) {
	lo, hi = 0, n
	if k > 0 {
		lo = idx[k-1]
	}
	if k+1 < len(idx) {
		hi = idx[k+1]
	}
	return lo, hi
}

// allBeyond says whether every value of b is on the side of after, away
// from before, by at least d.
func allBeyond(b []float64, before, after, d float64) bool {
	for _, x := range b {
		if (x-before)*math.Copysign(1, after-before) < d {
			return false
		}
	}
	return true
}
