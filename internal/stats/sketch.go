package stats

import (
	"math"
	"slices"
)

// Sample collects values for Describe exactly up to a limit, then switches to
// a logarithmic-bucket sketch (as DDSketch) whose quantiles are within a
// relative error of Accuracy of the true value; mean and standard deviation
// stay exact. It holds non-negative values (latencies).
type Sample struct {
	Limit int // values kept exactly before sketching; 0: DefaultExactLimit

	exact  []float64
	sketch map[int]uint64
	zeros  uint64
	n      uint64
	sum    float64
	sumSq  float64
	min    float64
	max    float64
}

// DefaultExactLimit is how many values a Sample keeps exactly (128 MiB).
const DefaultExactLimit = 16 << 20

// Accuracy is the relative error of sketched quantiles.
const Accuracy = 0.005

var logGamma = math.Log((1 + Accuracy) / (1 - Accuracy))

// Add records one value.
func (s *Sample) Add(x float64) {
	if s.n == 0 {
		s.min, s.max = x, x
	}
	s.n++
	s.sum += x
	s.sumSq += x * x
	s.min, s.max = min(s.min, x), max(s.max, x)
	limit := s.Limit
	if limit <= 0 {
		limit = DefaultExactLimit
	}
	if s.sketch == nil && len(s.exact) < limit {
		s.exact = append(s.exact, x)
		return
	}
	if s.sketch == nil {
		s.sketch = map[int]uint64{}
		for _, v := range s.exact {
			s.bucket(v)
		}
		s.exact = nil
	}
	s.bucket(x)
}

func (s *Sample) bucket(x float64) {
	if x <= 0 {
		s.zeros++
		return
	}
	s.sketch[int(math.Ceil(math.Log(x)/logGamma))]++
}

// Len is the number of values added.
func (s *Sample) Len() int { return int(s.n) }

// Sketched reports whether quantiles are approximate.
func (s *Sample) Sketched() bool { return s.sketch != nil }

// Describe summarizes the values like the package's Describe.
func (s *Sample) Describe(percentiles []float64) Summary {
	if s.sketch == nil {
		return Describe(s.exact, percentiles)
	}
	out := Summary{N: int(s.n), Pct: map[float64]float64{}, Min: s.min, Max: s.max}
	out.Mean = s.sum / float64(s.n)
	out.Std = math.Sqrt(max(0, s.sumSq/float64(s.n)-out.Mean*out.Mean))
	keys := make([]int, 0, len(s.sketch))
	for k := range s.sketch {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	q := func(p float64) float64 {
		rank := p / 100 * float64(s.n-1)
		if rank < float64(s.zeros) {
			return 0
		}
		seen := float64(s.zeros)
		for _, k := range keys {
			seen += float64(s.sketch[k])
			if seen > rank {
				// the bucket's representative value: within Accuracy of any value in it
				v := 2 * math.Exp(float64(k)*logGamma) / (1 + math.Exp(logGamma))
				return math.Min(math.Max(v, s.min), s.max)
			}
		}
		return s.max
	}
	out.Pct[50] = q(50)
	for _, p := range percentiles {
		out.Pct[p] = q(p)
	}
	return out
}
