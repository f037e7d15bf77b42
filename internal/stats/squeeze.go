package stats

import (
	"math"

	"gonum.org/v1/gonum/mathext"
)

// SqueezeVar estimates how much a few sample variances (vars, each with its
// degrees of freedom dfs) share one underlying noise, by the empirical Bayes
// model of Smyth (2004, "Linear models and empirical Bayes methods for
// assessing differential expression"): each true variance is drawn from a
// scaled inverse chi-square prior with d0 degrees of freedom and scale s0².
// The prior is fitted by moments of the log variances: d0 is +Inf when the
// variances scatter no more than sampling alone makes them (one noise:
// s0² is then the pooled variance, where limma takes the exponentiated mean
// log variance, which sits above it), and small when they differ (each
// keeps its own).
//
// Written here because no Go library has it; tested against the values of
// the formulas computed independently (squeeze_test.go).
func SqueezeVar(vars, dfs []float64) (d0, s0sq float64) {
	var es []float64
	var tri, ss, df float64
	for i, v := range vars {
		d := dfs[i]
		if !(v > 0) || !(d > 0) {
			continue
		}
		es = append(es, math.Log(v)-mathext.Digamma(d/2)+math.Log(d/2))
		tri += trigamma(d / 2)
		ss, df = ss+d*v, df+d
	}
	g := float64(len(es))
	if g == 0 {
		return 0, math.NaN()
	}
	mean := 0.0
	for _, e := range es {
		mean += e
	}
	mean /= g
	if g < 2 {
		return 0, ss / df
	}
	scatter := 0.0
	for _, e := range es {
		scatter += (e - mean) * (e - mean)
	}
	excess := scatter/(g-1) - tri/g
	if excess <= 0 {
		return math.Inf(1), ss / df
	}
	d0 = 2 * trigammaInverse(excess)
	return d0, math.Exp(mean + mathext.Digamma(d0/2) - math.Log(d0/2))
}

// Squeezed is a variance with d degrees of freedom moved towards the prior
// (d0, s0sq) of SqueezeVar, and the degrees of freedom it then has, at most
// total (every variance's together, as limma caps them: the prior was
// estimated from those data, not known).
func Squeezed(v, d, d0, s0sq, total float64) (float64, float64) {
	switch {
	case math.IsInf(d0, 1):
		return s0sq, max(d, total)
	case d0 <= 0 || math.IsNaN(s0sq):
		return v, d
	}
	return (d0*s0sq + d*v) / (d0 + d), max(d, min(d0+d, total))
}

// trigamma is ψ′(x), the Hurwitz zeta function ζ(2, x).
func trigamma(x float64) float64 { return mathext.Zeta(2, x) }

// trigammaInverse solves ψ′(x) = y for x > 0 (ψ′ falls from +Inf to 0):
// Newton's method on 1/ψ′, which is nearly linear, from Smyth's start.
func trigammaInverse(y float64) float64 {
	if y > 1e7 {
		return 1 / math.Sqrt(y)
	}
	if y < 1e-6 {
		return 1 / y
	}
	x := 0.5 + 1/y
	for range 50 {
		tri := trigamma(x)
		// d/dx ψ′(x) = ψ″(x) = −2 ζ(3, x)
		dif := tri * (1 - tri/y) / (-2 * mathext.Zeta(3, x))
		x += dif
		if -dif/x < 1e-8 {
			break
		}
	}
	return x
}
