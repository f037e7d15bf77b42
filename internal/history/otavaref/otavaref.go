// Package otavaref re-implements, for comparison only, the change point
// detection of Apache Otava (formerly Hunter; Fleming et al., "Hunter: Using
// Change Point Detection to Hunt for Performance Regressions", ICPE 2023) as
// its analysis.compute_change_points describes it: E-divisive means in
// sliding windows with a Student t-test at ten times the significance, the
// union of the windows' change points, then a merge step that removes the
// weakest change point (largest p-value, then smallest relative change)
// until all pass. perfgate's own detector is history.Segment; this package
// exists so that docs/history.md can compare the two on the same series
// (go run ./internal/history/cpsim). It is written from the published
// description, not translated from Otava's source.
package otavaref

import (
	"math"
	"slices"

	"github.com/perfgate/perfgate/internal/stats"
)

// Options are Otava's defaults when zero: window 50, p-value 0.001,
// minimum magnitude 0.
type Options struct {
	Window       int
	MaxP         float64
	MinMagnitude float64 // relative, as Otava's min_magnitude
}

// ChangePoints returns the first index of each new segment of xs.
func ChangePoints(xs []float64, o Options) []int {
	if o.Window == 0 {
		o.Window = 50
	}
	if o.MaxP == 0 {
		o.MaxP = 0.001
	}
	first := o.MaxP * 10
	if o.MaxP >= 0.05 {
		first = math.Min(o.MaxP*2, 1)
	}
	var weak []int
	step := o.Window / 2
	for start := 0; start < len(xs); {
		end := min(start+o.Window, len(xs))
		found := window(xs[start:end], first)
		last := 0
		for _, i := range found {
			if !slices.Contains(weak, start+i) {
				weak = append(weak, start+i)
			}
			last = max(last, start+i)
		}
		start = max(last, start+step)
	}
	slices.Sort(weak)
	return merge(xs, weak, o)
}

// window is E-divisive with a t-test on one window: repeatedly take, over
// the segments between the change points found so far, the split (τ, κ)
// that maximises the energy statistic Q(x[s:τ], x[τ:κ]); keep it while the
// t-test between the segment's two sides is significant, stop at the first
// that is not.
func window(xs []float64, maxP float64) []int {
	n := len(xs)
	// 2-D prefix sums of the distance matrix: rect(a, b, c, d) is the sum of
	// |x_i - x_j| over a ≤ i < b, c ≤ j < d.
	p := make([][]float64, n+1)
	for i := range p {
		p[i] = make([]float64, n+1)
	}
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			p[i+1][j+1] = p[i][j+1] + p[i+1][j] - p[i][j] + math.Abs(xs[i]-xs[j])
		}
	}
	rect := func(a, b, c, d int) float64 { return p[b][d] - p[a][d] - p[b][c] + p[a][c] }
	var cps []int
	for {
		bounds := append(append([]int{0}, cps...), n)
		bestQ, bestTau, bestSeg := math.Inf(-1), -1, -1
		for k := 0; k+1 < len(bounds); k++ {
			s, e := bounds[k], bounds[k+1]
			for tau := s + 1; tau < e; tau++ {
				nx := float64(tau - s)
				wx := rect(s, tau, s, tau) / 2
				for kappa := tau + 1; kappa <= e; kappa++ {
					ny := float64(kappa - tau)
					between := rect(s, tau, tau, kappa)
					wy := rect(tau, kappa, tau, kappa) / 2
					q := 2 / (nx + ny) * between
					if nx > 1 {
						q -= 2 * ny / ((nx + ny) * (nx - 1)) * wx
					}
					if ny > 1 {
						q -= 2 * nx / ((nx + ny) * (ny - 1)) * wy
					}
					if q > bestQ {
						bestQ, bestTau, bestSeg = q, tau, k
					}
				}
			}
		}
		if bestTau < 0 {
			return cps
		}
		s, e := bounds[bestSeg], bounds[bestSeg+1]
		if studentP(xs[s:bestTau], xs[bestTau:e]) >= maxP {
			return cps
		}
		cps = append(cps, bestTau)
		slices.Sort(cps)
	}
}

func merge(xs []float64, cps []int, o Options) []int {
	for len(cps) > 0 {
		weakest, maxP := -1, -1.0
		small, smallMag := -1, math.Inf(1)
		for k, at := range cps {
			lo, hi := 0, len(xs)
			if k > 0 {
				lo = cps[k-1]
			}
			if k+1 < len(cps) {
				hi = cps[k+1]
			}
			a, b := xs[lo:at], xs[at:hi]
			if p := studentP(a, b); p > maxP {
				weakest, maxP = k, p
			}
			ma, _ := stats.MeanSD(a)
			mb, _ := stats.MeanSD(b)
			mag := math.Max(math.Abs(mb/ma-1), math.Abs(ma/mb-1))
			if mag < smallMag {
				small, smallMag = k, mag
			}
		}
		if maxP < o.MaxP {
			if smallMag > o.MinMagnitude {
				return cps
			}
			weakest = small
		}
		cps = slices.Delete(cps, weakest, weakest+1)
	}
	return cps
}

// studentP is the two-sided p-value of Student's t-test with equal
// variances (scipy's ttest_ind_from_stats default), with population
// standard deviations as Otava passes them.
func studentP(a, b []float64) float64 {
	na, nb := float64(len(a)), float64(len(b))
	df := na + nb - 2
	if df <= 0 {
		return 1
	}
	ma, sa := popMeanSD(a)
	mb, sb := popMeanSD(b)
	// scipy treats the stds given as sample stds with ddof 1.
	sp := math.Sqrt(((na-1)*sa*sa + (nb-1)*sb*sb) / df)
	se := sp * math.Sqrt(1/na+1/nb)
	if se == 0 {
		if ma == mb {
			return 1
		}
		return 0
	}
	return 2 * stats.TUpper(math.Abs(mb-ma)/se, df)
}

func popMeanSD(xs []float64) (float64, float64) {
	m, _ := stats.MeanSD(xs)
	if len(xs) < 2 {
		return m, 0
	}
	var ss float64
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	return m, math.Sqrt(ss / float64(len(xs)))
}
