package stats

import (
	"math"
	"slices"

	ms "github.com/montanaflynn/stats"
	"gonum.org/v1/gonum/stat/distuv"
)

// exactUMax is the largest combined sample size for which the U test counts
// its exact null distribution; above it the normal approximation (with tie
// and continuity corrections) is accurate to well under 0.001.
const exactUMax = 60

// MannWhitney is the Mann-Whitney U (Wilcoxon rank-sum) test of two samples.
// greater is the one-sided p-value of the alternative that b tends to be
// larger than a, less that b tends to be smaller. Small samples get the exact
// conditional null distribution with ties: every way of choosing len(b) of
// the pooled values, scored by their mid-ranks, is counted — what R's
// coin::wilcox_test(distribution = "exact") and scipy's permutation_test give.
// go-moremath's exact test was not used: its lower tail is wrong with ties
// (testdata/utest_ties.json has the cases). Both are 1 when a sample is empty.
func MannWhitney(a, b []float64) (greater, less float64) {
	m, n := len(a), len(b)
	if m == 0 || n == 0 {
		return 1, 1
	}
	// Doubled mid-ranks are integers.
	type obs struct {
		v  float64
		fb bool
	}
	all := make([]obs, 0, m+n)
	for _, v := range a {
		all = append(all, obs{v, false})
	}
	for _, v := range b {
		all = append(all, obs{v, true})
	}
	slices.SortFunc(all, func(x, y obs) int {
		switch {
		case x.v < y.v:
			return -1
		case x.v > y.v:
			return 1
		}
		return 0
	})
	N := m + n
	rank2 := make([]int, N) // doubled mid-rank of each sorted position
	var tieTerm float64     // Σ(t³ − t) over tie groups
	for i := 0; i < N; {
		j := i
		for j < N && all[j].v == all[i].v {
			j++
		}
		for k := i; k < j; k++ {
			rank2[k] = i + j + 1 // 2 × mean of ranks i+1 … j
		}
		t := float64(j - i)
		tieTerm += t*t*t - t
		i = j
	}
	w := 0 // doubled rank sum of b
	for i, o := range all {
		if o.fb {
			w += rank2[i]
		}
	}
	if tieTerm == float64(N*N*N-N) { // every value equal
		return 1, 1
	}
	if N > exactUMax {
		mu := float64(n) * float64(N+1) // doubled
		v := 4 * float64(m) * float64(n) / 12 * (float64(N+1) - tieTerm/float64(N*(N-1)))
		sd := math.Sqrt(v)
		z := func(x float64) float64 { return x / sd }
		// continuity: one half of the smallest step of a doubled rank sum (1)
		greater = 1 - normCDF(z(float64(w)-mu-1))
		less = normCDF(z(float64(w) - mu + 1))
		return min(greater, 1), min(less, 1)
	}
	// f[j][s]: number of ways to choose j of the positions seen so far with
	// doubled rank sum s.
	maxS := 0
	for i := N - n; i < N; i++ {
		maxS += rank2[i]
	}
	f := make([][]float64, n+1)
	for j := range f {
		f[j] = make([]float64, maxS+1)
	}
	f[0][0] = 1
	for i := 0; i < N; i++ {
		r := rank2[i]
		for j := min(i+1, n); j >= 1; j-- {
			row, prev := f[j], f[j-1]
			for s := maxS; s >= r; s-- {
				row[s] += prev[s-r]
			}
		}
	}
	total := 0.0
	for _, c := range f[n] {
		total += c
	}
	var ge, le float64
	for s, c := range f[n] {
		if s >= w {
			ge += c
		}
		if s <= w {
			le += c
		}
	}
	return min(ge/total, 1), min(le/total, 1)
}

func normCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

// UTest is the two-sided Mann-Whitney U test: twice the smaller tail.
func UTest(a, b []float64) float64 {
	g, l := MannWhitney(a, b)
	return min(1, 2*min(g, l))
}

// UTestGreater is the one-sided U test of the alternative that b tends to be
// larger than a.
func UTestGreater(a, b []float64) float64 { g, _ := MannWhitney(a, b); return g }

// UTestLess is the one-sided U test of the alternative that b tends to be
// smaller than a.
func UTestLess(a, b []float64) float64 { _, l := MannWhitney(a, b); return l }

// MinP is the smallest two-sided p-value the U test can give for samples of
// sizes m and n: when it is above alpha, nothing can be significant.
func MinP(m, n int) float64 {
	if m == 0 || n == 0 {
		return 1
	}
	return min(1, 2/binom(m+n, m))
}

// FisherGreater is the one-sided Fisher exact test that the rate x2/n2 is
// higher than x1/n1 (counts of events among trials: failed requests among
// issued ones): P(X ≥ x2) for X hypergeometric with the margins fixed.
func FisherGreater(x1, n1, x2, n2 int) float64 {
	if n1 <= 0 || n2 <= 0 || x1 < 0 || x2 < 0 || x1 > n1 || x2 > n2 {
		return 1
	}
	k, N := x1+x2, n1+n2
	if k == 0 {
		return 1
	}
	lchoose := func(n, r int) float64 {
		a, _ := math.Lgamma(float64(n + 1))
		b, _ := math.Lgamma(float64(r + 1))
		c, _ := math.Lgamma(float64(n - r + 1))
		return a - b - c
	}
	den := lchoose(N, k)
	p := 0.0
	for x := x2; x <= min(k, n2); x++ {
		if k-x > n1 {
			continue
		}
		p += math.Exp(lchoose(n2, x) + lchoose(n1, k-x) - den)
	}
	return min(p, 1)
}

// ClopperPearsonUpper is the exact one-sided upper confidence bound at level
// conf for a binomial proportion with x events in n trials.
func ClopperPearsonUpper(x, n int, conf float64) float64 {
	if n <= 0 {
		return 1
	}
	if x >= n {
		return 1
	}
	return distuv.Beta{Alpha: float64(x + 1), Beta: float64(n - x)}.Quantile(conf)
}

// Welch is Welch's two-sample t statistic's parts for b − a: the difference
// of means, its standard error and the Welch–Satterthwaite degrees of
// freedom. se is 0 when neither sample varies (or a side has one value and
// the other does not vary); df is then +Inf.
func Welch(a, b []float64) (diff, se, df float64) {
	ma, _ := ms.Mean(a)
	mb, _ := ms.Mean(b)
	diff = mb - ma
	va, vb := sampleVar(a), sampleVar(b)
	na, nb := float64(len(a)), float64(len(b))
	sa, sb := va/na, vb/nb
	se = math.Sqrt(sa + sb)
	if se == 0 {
		return diff, 0, math.Inf(1)
	}
	dfa, dfb := na-1, nb-1
	var den float64
	if dfa > 0 {
		den += sa * sa / dfa
	}
	if dfb > 0 {
		den += sb * sb / dfb
	}
	df = (sa + sb) * (sa + sb) / den
	return diff, se, df
}

func sampleVar(xs []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	v, _ := ms.SampleVariance(xs)
	return v
}

// TUpper is P(T ≥ t) for Student's t with df degrees of freedom (the normal
// for infinite df).
func TUpper(t, df float64) float64 {
	if math.IsInf(df, 1) || df > 1e6 {
		return 1 - normCDF(t)
	}
	return distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}.Survival(t)
}

// TQuantile is the p-quantile of Student's t with df degrees of freedom.
func TQuantile(p, df float64) float64 {
	if math.IsInf(df, 1) || df > 1e6 {
		return normQuantile(p)
	}
	return distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}.Quantile(p)
}

// MAD is the median absolute deviation from the median, scaled by 1.4826 to
// estimate a normal standard deviation.
func MAD(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	v, _ := ms.MedianAbsoluteDeviationPopulation(xs)
	return 1.4826 * v
}

// MeanSD is the mean and sample standard deviation (0 below two values).
func MeanSD(xs []float64) (mean, sd float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	mean, _ = ms.Mean(xs)
	return mean, math.Sqrt(sampleVar(xs))
}

// Logs is the natural logarithm of every value.
func Logs(xs []float64) []float64 {
	out := make([]float64, len(xs))
	for i, v := range xs {
		out[i] = math.Log(v)
	}
	return out
}

// PooledTP is the two-sided p-value of Student's two-sample t-test with a
// pooled variance (scipy's ttest_ind default): a short sample borrows the
// noise estimate of its longer partner. Identical constant samples give 1,
// different ones 0; fewer than three values in all give 1.
func PooledTP(a, b []float64) float64 {
	na, nb := float64(len(a)), float64(len(b))
	df := na + nb - 2
	if df < 1 {
		return 1
	}
	ma, _ := ms.Mean(a)
	mb, _ := ms.Mean(b)
	sa, sb := sampleVar(a), sampleVar(b)
	sp := math.Sqrt(((na-1)*sa + (nb-1)*sb) / df)
	se := sp * math.Sqrt(1/na+1/nb)
	if se == 0 {
		if ma == mb {
			return 1
		}
		return 0
	}
	return 2 * TUpper(math.Abs(mb-ma)/se, df)
}
