package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestSampleExactThenSketched(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	exact := &Sample{Limit: 1 << 30}
	sk := &Sample{Limit: 1000}
	for range 200_000 {
		x := math.Exp(rng.NormFloat64()) * 10 // log-normal latencies
		exact.Add(x)
		sk.Add(x)
	}
	sk.Add(0)
	exact.Add(0)
	if exact.Sketched() || !sk.Sketched() || sk.Len() != exact.Len() {
		t.Fatal("modes")
	}
	want := exact.Describe([]float64{90, 99, 99.9})
	got := sk.Describe([]float64{90, 99, 99.9})
	for _, p := range []float64{50, 90, 99, 99.9} {
		if rel := math.Abs(got.Pct[p]/want.Pct[p] - 1); rel > Accuracy*1.01 {
			t.Errorf("p%v: sketch %v, exact %v (%.3f%% off)", p, got.Pct[p], want.Pct[p], rel*100)
		}
	}
	if math.Abs(got.Mean-want.Mean) > 1e-9*want.Mean || math.Abs(got.Std/want.Std-1) > 1e-6 || got.Max != want.Max || got.Min != 0 {
		t.Errorf("moments: %+v vs %+v", got, want)
	}
}
