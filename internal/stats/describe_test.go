package stats

import (
	"math"
	"testing"
)

// Reference values from numpy: np.percentile(x, q) with the default linear method.
func TestQuantileMatchesNumpy(t *testing.T) {
	x := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	cases := []struct{ q, want float64 }{
		{0, 1}, {0.5, 5.5}, {0.9, 9.1}, {0.99, 9.91}, {0.25, 3.25}, {1, 10},
	}
	for _, c := range cases {
		if got := Quantile(x, c.q); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("Quantile(1..10, %v) = %v, want %v", c.q, got, c.want)
		}
	}
	if got := Quantile([]float64{7}, 0.99); got != 7 {
		t.Errorf("single value: %v", got)
	}
	if !math.IsNaN(Quantile(nil, 0.5)) {
		t.Error("empty slice must give NaN")
	}
}

func TestDescribe(t *testing.T) {
	// np.std([2,4,4,4,5,5,7,9]) == 2.0 (population)
	s := Describe([]float64{9, 4, 2, 4, 5, 7, 4, 5}, []float64{99})
	if s.Mean != 5 || s.Std != 2 || s.Min != 2 || s.Max != 9 {
		t.Fatalf("got %+v", s)
	}
	if s.Pct[50] != 4.5 {
		t.Errorf("median %v", s.Pct[50])
	}
	// np.percentile([2,4,4,4,5,5,7,9], 99) == 8.86
	if math.Abs(s.Pct[99]-8.86) > 1e-9 {
		t.Errorf("p99 %v", s.Pct[99])
	}
	if e := Describe(nil, nil); !e.Empty || e.N != 0 {
		t.Errorf("empty: %+v", e)
	}
}
