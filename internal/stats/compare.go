package stats

import (
	"math"
	"math/rand/v2"
	"slices"
)

func binom(n, k int) float64 {
	r := 1.0
	for i := 1; i <= k; i++ {
		r = r * float64(n-k+i) / float64(i)
	}
	return r
}

// uNullCDF returns P(U ≤ u) for u = 0..m·n under the null hypothesis, for
// samples of sizes m and n without ties (the exact distribution, by
// counting arrangements).
func uNullCDF(m, n int) []float64 {
	// f[j][u]: arrangements of i x's and j y's with U = u; built up over i.
	f := make([][]float64, n+1)
	for j := range f {
		f[j] = make([]float64, m*n+1)
		f[j][0] = 1 // zero x's: U = 0
	}
	for i := 1; i <= m; i++ {
		g := make([][]float64, n+1)
		for j := 0; j <= n; j++ {
			g[j] = make([]float64, m*n+1)
			for u := 0; u <= m*n; u++ {
				// the largest element is an x (it beats all j y's) or a y
				if u >= j {
					g[j][u] += f[j][u-j]
				}
				if j > 0 {
					g[j][u] += g[j-1][u]
				}
			}
		}
		f = g
	}
	total := binom(m+n, m)
	cdf := make([]float64, m*n+1)
	acc := 0.0
	for u := range cdf {
		acc += f[n][u]
		cdf[u] = acc / total
	}
	return cdf
}

// HodgesLehmann estimates the ratio b/a of two samples of positive values as
// exp of the Hodges-Lehmann shift of their logarithms — the median of every
// pairwise difference log(b_j) − log(a_i) — with the distribution-free
// confidence interval at level conf built from the same differences (the
// order statistics that the U test's critical value picks). ok is false when
// the samples are too small for that level; the interval is then infinite.
func HodgesLehmann(a, b []float64, conf float64) (est, lo, hi float64, ok bool) {
	m, n := len(a), len(b)
	if m == 0 || n == 0 {
		return math.NaN(), math.Inf(-1), math.Inf(1), false
	}
	d := make([]float64, 0, m*n)
	for _, x := range a {
		for _, y := range b {
			d = append(d, math.Log(y)-math.Log(x))
		}
	}
	slices.Sort(d)
	est = math.Exp(Quantile(d, 0.5))
	alpha := 1 - conf
	var k int // the CI is [d(k), d(mn+1-k)], 1-based
	if m <= 50 && n <= 50 {
		cdf := uNullCDF(m, n)
		// the largest k with P(U ≤ k-1) ≤ alpha/2
		for k = 0; k < len(cdf) && cdf[k] <= alpha/2; k++ {
		}
	} else {
		mu := float64(m*n) / 2
		sd := math.Sqrt(float64(m*n*(m+n+1)) / 12)
		k = int(math.Floor(mu - normQuantile(1-alpha/2)*sd))
	}
	if k < 1 {
		return est, math.Inf(-1), math.Inf(1), false
	}
	return est, math.Exp(d[k-1]), math.Exp(d[m*n-k]), true
}

// normQuantile is the standard normal quantile function.
func normQuantile(p float64) float64 { return math.Sqrt2 * math.Erfinv(2*p-1) }

// BootstrapRatio is the percentile bootstrap confidence interval of
// median(b)/median(a), resampling each side iters times from seed.
func BootstrapRatio(a, b []float64, conf float64, iters int, seed uint64) (lo, hi float64) {
	if len(a) == 0 || len(b) == 0 {
		return math.NaN(), math.NaN()
	}
	rng := rand.New(rand.NewPCG(seed, 0xb007))
	ra, rb := make([]float64, len(a)), make([]float64, len(b))
	ratios := make([]float64, iters)
	for i := range ratios {
		for j := range ra {
			ra[j] = a[rng.IntN(len(a))]
		}
		for j := range rb {
			rb[j] = b[rng.IntN(len(b))]
		}
		slices.Sort(ra)
		slices.Sort(rb)
		ratios[i] = Quantile(rb, 0.5) / Quantile(ra, 0.5)
	}
	slices.Sort(ratios)
	return Quantile(ratios, (1-conf)/2), Quantile(ratios, 1-(1-conf)/2)
}

// BenjaminiHochberg returns the q-values (adjusted p-values) of the
// Benjamini-Hochberg procedure: rejecting every q ≤ alpha controls the false
// discovery rate at alpha.
func BenjaminiHochberg(p []float64) []float64 {
	n := len(p)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		switch {
		case p[a] < p[b]:
			return -1
		case p[a] > p[b]:
			return 1
		}
		return 0
	})
	q := make([]float64, n)
	running := 1.0
	for r := n - 1; r >= 0; r-- {
		i := idx[r]
		running = min(running, p[i]*float64(n)/float64(r+1))
		q[i] = min(running, 1)
	}
	return q
}

// MedianCI is the distribution-free confidence interval of the median from
// order statistics: [x(k), x(n+1-k)] with the largest k whose binomial
// coverage is at least conf. With too few values it is [min, max].
func MedianCI(xs []float64, conf float64) (lo, hi float64) {
	lo, hi, _ = MedianCICoverage(xs, conf)
	return lo, hi
}

// MedianCICoverage is MedianCI with the interval's true coverage: at least
// conf when there are enough values, less (1 − 2/2ⁿ for [min, max]) when
// there are not.
func MedianCICoverage(xs []float64, conf float64) (lo, hi, coverage float64) {
	n := len(xs)
	if n == 0 {
		return math.NaN(), math.NaN(), 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	k := 1
	cover := func(j int) float64 {
		var tail float64
		for i := 0; i < j; i++ {
			tail += binom(n, i)
		}
		return 1 - 2*tail/math.Pow(2, float64(n))
	}
	for j := 2; j <= n/2; j++ {
		// coverage of [x(j), x(n+1-j)] = 1 - 2·P(Bin(n, ½) ≤ j-1)
		var tail float64
		for i := 0; i < j; i++ {
			tail += binom(n, i)
		}
		if 1-2*tail/math.Pow(2, float64(n)) < conf {
			break
		}
		k = j
	}
	if n == 1 {
		return s[0], s[0], 0
	}
	return s[k-1], s[n-k], cover(k)
}
