package arrival

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func gaps(t *testing.T, kind string, rate, burst float64, seed uint64, n int) []float64 {
	t.Helper()
	p, err := New(kind, rate, burst, rand.NewPCG(seed, 1))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = p.Next()
	}
	return out
}

func meanCV(xs []float64) (float64, float64) {
	var s, ss float64
	for _, x := range xs {
		s += x
	}
	m := s / float64(len(xs))
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	return m, math.Sqrt(ss/float64(len(xs)-1)) / m
}

func TestMeanRateAndCV(t *testing.T) {
	const n = 200000
	cases := []struct {
		kind        string
		rate, burst float64
		wantCV      float64
	}{
		{"poisson", 10, 0, 1},
		{"gamma", 10, 0.25, 2}, // 1/√0.25
		{"gamma", 50, 1, 1},    // gamma with shape 1 is Poisson
		{"gamma", 5, 4, 0.5},   // 1/√4
		{"constant", 8, 0, 0},
	}
	for _, c := range cases {
		m, cv := meanCV(gaps(t, c.kind, c.rate, c.burst, 42, n))
		if math.Abs(m*c.rate-1) > 0.02 {
			t.Errorf("%s rate %g: mean gap %g, want %g", c.kind, c.rate, m, 1/c.rate)
		}
		if math.Abs(cv-c.wantCV) > 0.03 {
			t.Errorf("%s burstiness %g: CV %g, want %g", c.kind, c.burst, cv, c.wantCV)
		}
	}
}

func TestDeterministicPerSeed(t *testing.T) {
	a := gaps(t, "gamma", 10, 0.5, 7, 100)
	b := gaps(t, "gamma", 10, 0.5, 7, 100)
	c := gaps(t, "gamma", 10, 0.5, 8, 100)
	if !slices.Equal(a, b) {
		t.Error("same seed gave different arrivals")
	}
	if slices.Equal(a, c) {
		t.Error("different seeds gave the same arrivals")
	}
}

func TestSchedule(t *testing.T) {
	p, _ := New("constant", 4, 0, nil)
	s := Schedule(p, 0, time.Second)
	want := []time.Duration{0, 250 * time.Millisecond, 500 * time.Millisecond, 750 * time.Millisecond}
	if !slices.Equal(s, want) {
		t.Errorf("duration-limited: %v", s)
	}
	if s := Schedule(p, 3, 0); len(s) != 3 {
		t.Errorf("count-limited: %v", s)
	}
	if s := Schedule(p, 2, time.Hour); len(s) != 2 {
		t.Errorf("both limits: %v", s)
	}
	if Schedule(p, 0, 0) != nil {
		t.Error("no limit must give nothing")
	}
	pp, _ := New("poisson", 100, 0, rand.NewPCG(1, 2))
	s = Schedule(pp, 0, 10*time.Second)
	if len(s) < 900 || len(s) > 1100 || !slices.IsSorted(s) {
		t.Errorf("poisson 100/s for 10s gave %d arrivals", len(s))
	}
}

func TestBadParameters(t *testing.T) {
	for _, c := range []struct {
		kind        string
		rate, burst float64
	}{{"poisson", 0, 0}, {"poisson", math.Inf(1), 0}, {"gamma", 1, 0}, {"zipf", 1, 1}, {"poisson", math.NaN(), 0}} {
		if _, err := New(c.kind, c.rate, c.burst, nil); err == nil {
			t.Errorf("New(%q, %g, %g) accepted", c.kind, c.rate, c.burst)
		}
	}
}
