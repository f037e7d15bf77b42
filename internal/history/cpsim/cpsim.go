// Package cpsim measures history's change point detection — and, for
// comparison, a re-implementation of Apache Otava's (history/otavaref) —
// on synthetic series shaped like commit-by-commit benchmark results: false
// change points in pure noise, how soon a step is listed, and whether a
// reverted step is listed twice. Its command prints the table in
// docs/history.md:
//
//	go run ./internal/history/cpsim [-series 200] [-seed 1]
package cpsim

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/perfgate/perfgate/internal/history"
	"github.com/perfgate/perfgate/internal/history/otavaref"
	"github.com/perfgate/perfgate/internal/stats"
)

// Noise shapes a series' point-to-point variation (each point being the
// median of a commit's trials).
type Noise struct {
	Name, Desc string
	IIDPct     float64 // log-normal, per point
	SlowProb   float64 // a point this often …
	SlowPct    float64 // … this much slower (a heavy right tail)
	ClockPct   float64 // two clock states this far apart, each point in either at random
	DriftPct   float64 // slower by this much every commit
}

// Noises are the suite's noise models.
var Noises = []Noise{
	{Name: "iid", Desc: "log-normal, 3 % per point", IIDPct: 3},
	{Name: "heavy", Desc: "3 % and one point in 20 15 % slow", IIDPct: 3, SlowProb: 0.05, SlowPct: 15},
	{Name: "bimodal", Desc: "2 % and two clock states 6 % apart", IIDPct: 2, ClockPct: 6},
	{Name: "drift", Desc: "3 % and 0.03 % slower every commit (3 % over 100)", IIDPct: 3, DriftPct: 0.03},
}

// Series draws n points of a latency around 100 with noise z; step(i) is
// the true relative change at point i.
func (z Noise) Series(rng *rand.Rand, n int, step func(i int) float64) []float64 {
	return z.Medians(rng, n, 1, step)
}

// Medians draws n points, each the median of trials runs drawn with noise
// z, as a point of `mode: track` is the median of its run's trials (3 by
// default): the noise is per trial, the drift and the step per commit.
func (z Noise) Medians(rng *rand.Rand, n, trials int, step func(i int) float64) []float64 {
	xs := make([]float64, n)
	runs := make([]float64, trials)
	for i := range xs {
		for k := range runs {
			l := z.IIDPct / 100 * rng.NormFloat64()
			if rng.Float64() < z.SlowProb {
				l += math.Log1p(z.SlowPct / 100)
			}
			if z.ClockPct > 0 && rng.IntN(2) == 0 {
				l += math.Log1p(z.ClockPct / 100)
			}
			runs[k] = l
		}
		l := stats.Median(runs) + float64(i)*math.Log1p(z.DriftPct/100)
		xs[i] = 100 * math.Exp(l) * (1 + step(i))
	}
	return xs
}

// Detector lists change points (first indices of new segments) of a series
// of a latency whose fail threshold is FailPct.
type Detector struct {
	Name string
	Find func(xs []float64) []int
	// Alarm says whether the newest point raises an alarm (perfgate's open
	// regression, provisional ones included); nil for detectors without one.
	Alarm func(xs []float64) bool
}

// FailPct is the fail threshold of the simulated metric (the median latency
// default); steps of twice it are the ones the targets speak of.
const FailPct = 5

// Detectors are perfgate's and Otava's (its defaults, and with its
// min_magnitude at the fail threshold).
var Detectors = []Detector{
	{Name: "perfgate", Find: func(xs []float64) []int {
		var out []int
		for _, c := range check(xs).ChangePoints {
			out = append(out, c.Index)
		}
		return out
	}, Alarm: func(xs []float64) bool { return len(check(xs).Open()) > 0 }},
	{Name: "otava (defaults)", Find: func(xs []float64) []int { return otavaref.ChangePoints(xs, otavaref.Options{}) }},
	{Name: "otava (min_magnitude 0.05)", Find: func(xs []float64) []int {
		return otavaref.ChangePoints(xs, otavaref.Options{MinMagnitude: FailPct / 100.0})
	}},
}

func check(xs []float64) history.Result {
	pts := make([]history.Point, len(xs))
	for i, x := range xs {
		pts[i] = history.Point{Scenario: "s", Level: 1, Metric: "median_e2el_ms", Value: x, FailPct: FailPct, Commit: string(rune('a' + i%26))}
		pts[i].Time = pts[i].Time.AddDate(0, 0, i)
	}
	return history.Check(pts, history.Options{})[0]
}

// Row is one detector under one noise model.
type Row struct {
	Detector, Noise string
	// FalsePer100 is the change points listed in pure-noise series of 100
	// commits, per 100 commits.
	FalsePer100 float64
	// FalseAlarms is the share of commits (from the 10th on) at which the
	// check of pure noise raised an alarm (exit 3); NaN without alarms.
	FalseAlarms float64
	// A +2×FailPct step at commit 50, the series growing a commit at a time:
	// the share listed (a change point within one commit of the step) once
	// 1, 2 and 3 slow commits are in, the share alarmed at the first, and
	// the share still listed 15 commits on.
	Listed1, Listed2, Listed3, Alarm1, Stays float64
	// Reverted: +2×FailPct for 10 commits then back, 100 commits: the
	// share in which both change points are listed.
	Reverted float64
}

func near(cps []int, at int) bool {
	for _, c := range cps {
		if c >= at-1 && c <= at+1 {
			return true
		}
	}
	return false
}

// Measure runs the cases for one detector and noise model over n series.
func Measure(d Detector, z Noise, n int, seed uint64) Row {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	r := Row{Detector: d.Name, Noise: z.Name}
	var alarms, looks int
	step := 2 * FailPct / 100.0
	for range n {
		xs := z.Series(rng, 100, func(int) float64 { return 0 })
		r.FalsePer100 += float64(len(d.Find(xs)))
		if d.Alarm != nil {
			for t := 10; t <= 100; t += 3 { // every third length: the cost is quadratic
				looks++
				if d.Alarm(xs[:t]) {
					alarms++
				}
			}
		}
		ys := z.Series(rng, 65, func(i int) float64 { return map[bool]float64{true: step}[i >= 50] })
		listed := func(k int) bool { return near(d.Find(ys[:50+k]), 50) }
		r.Listed1 += b2f(listed(1))
		r.Listed2 += b2f(listed(2))
		r.Listed3 += b2f(listed(3))
		r.Stays += b2f(listed(15))
		if d.Alarm != nil {
			r.Alarm1 += b2f(d.Alarm(ys[:51]))
		}
		zs := z.Series(rng, 100, func(i int) float64 { return map[bool]float64{true: step}[i >= 40 && i < 50] })
		cps := d.Find(zs)
		r.Reverted += b2f(near(cps, 40) && near(cps, 50))
	}
	f := float64(n)
	r.FalsePer100 /= f
	r.Listed1, r.Listed2, r.Listed3, r.Stays, r.Reverted = r.Listed1/f, r.Listed2/f, r.Listed3/f, r.Stays/f, r.Reverted/f
	r.Alarm1 /= f
	r.FalseAlarms = math.NaN()
	if d.Alarm != nil {
		r.FalseAlarms = float64(alarms) / float64(looks)
	} else {
		r.Alarm1 = math.NaN()
	}
	return r
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// SetRow is the check of a set of series together, as `history check` runs
// it on a store that tracks several scenarios, levels and metrics.
type SetRow struct {
	Noise  string
	Series int // series in the set
	Trials int // trials per point: a point is their median
	// AtOnce is history.Options.AtOnce: how far, in smallest steps, the
	// newest point alone must be to open a provisional regression.
	AtOnce float64
	// FalseAlarms is the share of quiet commits (10th to 100th) at which
	// some series of the set raises a new alarm: an open regression named
	// at one of the last two commits (a provisional one included).
	FalseAlarms float64
	// FalseProvisional is the share of quiet commits at which some series
	// raises a provisional alarm (its newest point alone).
	FalseProvisional float64
	// Named1, Named2: a +2×FailPct step in one series at commit 50, named
	// (an open regression within one commit of it) at its first and by its
	// second commit.
	Named1, Named2 float64
}

// MeasureSet checks n sets of m series each under noise z, each point the
// median of trials runs, with history.Options{AtOnce: atOnce} (0: its
// default).
func MeasureSet(z Noise, m, n, trials int, atOnce float64, seed uint64) SetRow {
	rng := rand.New(rand.NewPCG(seed, 0x5e7))
	if atOnce <= 0 {
		atOnce = history.DefaultAtOnce
	}
	r := SetRow{Noise: z.Name, Series: m, Trials: trials, AtOnce: atOnce}
	o := history.Options{AtOnce: atOnce}
	var alarms, provisional, looks int
	step := 2 * FailPct / 100.0
	for range n {
		quiet := make([][]float64, m)
		for i := range quiet {
			quiet[i] = z.Medians(rng, 100, trials, func(int) float64 { return 0 })
		}
		for t := 10; t <= 100; t += 3 {
			looks++
			any, prov := false, false
			for _, res := range checkSet(quiet, t, o) {
				a, p := newAlarm(res, t)
				any, prov = any || a, prov || p
			}
			alarms += int(b2f(any))
			provisional += int(b2f(prov))
		}
		stepped := make([][]float64, m)
		for i := range stepped {
			stepped[i] = z.Medians(rng, 52, trials, func(j int) float64 { return map[bool]float64{true: step}[i == 0 && j >= 50] })
		}
		named := func(t int) bool {
			for _, res := range checkSet(stepped, t, o) {
				if res.Series.Level != 1 {
					continue
				}
				for _, g := range res.Regressions {
					if g.Open && g.Index >= 49 && g.Index <= 51 {
						return true
					}
				}
			}
			return false
		}
		one := named(51)
		r.Named1 += b2f(one)
		r.Named2 += b2f(one || named(52))
	}
	r.FalseAlarms = float64(alarms) / float64(looks)
	r.FalseProvisional = float64(provisional) / float64(looks)
	r.Named1 /= float64(n)
	r.Named2 /= float64(n)
	return r
}

// checkSet checks the first t points of every series of a set together;
// series i is level i+1.
func checkSet(set [][]float64, t int, o history.Options) []history.Result {
	var pts []history.Point
	for i, xs := range set {
		for j, x := range xs[:t] {
			p := history.Point{Scenario: "s", Level: i + 1, Metric: "median_e2el_ms", Value: x, FailPct: FailPct, Commit: fmt.Sprintf("c%03d", j)}
			p.Time = p.Time.AddDate(0, 0, j)
			pts = append(pts, p)
		}
	}
	return history.Check(pts, o)
}

// newAlarm says whether a series raises an alarm named at one of its last
// two commits of t, and whether a provisional one.
func newAlarm(r history.Result, t int) (any, provisional bool) {
	for _, g := range r.Regressions {
		if g.Open && g.Index >= t-2 {
			any = true
			provisional = provisional || g.Provisional
		}
	}
	return any, provisional
}
