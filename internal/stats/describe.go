package stats

import (
	ms "github.com/montanaflynn/stats"
	"math"
	"slices"
)

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of sorted values with linear
// interpolation between closest ranks — numpy's default method, which
// `vllm bench serve` uses — so percentiles line up with vLLM's. It returns NaN
// for an empty slice.
func Quantile(sorted []float64, q float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	if q <= 0 {
		return sorted[0]
	}
	if q >= 1 {
		return sorted[n-1]
	}
	pos := q * float64(n-1)
	lo := int(math.Floor(pos))
	hi := lo + 1
	if hi >= n {
		return sorted[n-1]
	}
	frac := pos - float64(lo)
	return sorted[lo] + (sorted[hi]-sorted[lo])*frac
}

// Median is the median of xs (numpy's, averaging the middle two), without
// changing xs; NaN for none.
func Median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return Quantile(s, 0.5)
}

// Summary is mean, population standard deviation (numpy's np.std) and the
// requested percentiles of a sample.
type Summary struct {
	N     int
	Mean  float64
	Std   float64
	Min   float64
	Max   float64
	Pct   map[float64]float64 // percentile (0–100) → value
	Empty bool
}

// Describe sorts xs in place and summarizes it. Percentiles are given in
// 0–100; the median (50) is always included.
func Describe(xs []float64, percentiles []float64) Summary {
	s := Summary{N: len(xs), Pct: map[float64]float64{}}
	if len(xs) == 0 {
		s.Empty = true
		return s
	}
	slices.Sort(xs)
	// The population standard deviation, as numpy's std (and so vLLM's std_* keys).
	s.Mean, _ = ms.Mean(xs)
	s.Std, _ = ms.StandardDeviationPopulation(xs)
	s.Min, s.Max = xs[0], xs[len(xs)-1]
	s.Pct[50] = Quantile(xs, 0.5)
	for _, p := range percentiles {
		s.Pct[p] = Quantile(xs, p/100)
	}
	return s
}
