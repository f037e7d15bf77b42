package sim

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The gpu preset's start states come in the shares it names, repeat for a
// seed, and its drift and jitter are what it says.
func TestNoiseGPU(t *testing.T) {
	n := NoiseGPU
	const starts = 20000
	// Starts told apart by their seed (perfgate run --trials) and, with one
	// seed, by their start seed (perfgate ab's PERFGATE_ENGINE_SEED) both
	// land in each state at the preset's rate.
	for name, draw := range map[string]func(i uint64) float64{
		"seed":       func(i uint64) float64 { return n.startDraw(i, 0) },
		"start seed": func(i uint64) float64 { return n.startDraw(7, i) },
	} {
		low, slow := 0, 0
		for i := range uint64(starts) {
			f := draw(i)
			if g := draw(i); g != f {
				t.Fatalf("%s: the same seeds drew another state", name)
			}
			r := f
			if r > 1.1 {
				slow++
				r /= 1 + n.SlowPct/100
			}
			if r > 1.01 {
				low++
			}
		}
		// Binomial: 3 standard deviations of 20,000 draws.
		if math.Abs(float64(low)/starts-0.3) > 3*math.Sqrt(0.3*0.7/starts) || math.Abs(float64(slow)/starts-0.05) > 3*math.Sqrt(0.05*0.95/starts) {
			t.Errorf("by %s: low clock %d, slow %d of %d starts", name, low, slow, starts)
		}
	}
	quiet := Noise{DriftPctPerMin: n.DriftPctPerMin}
	if f := quiet.stepFactor(1, 600, nil); math.Abs(f-1.03) > 1e-12 {
		t.Errorf("after 10 minutes the drift is %v, want 1.03", f)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var sum, sum2 float64
	for range 20000 {
		f := Noise{StepJitter: 0.02}.stepFactor(1, 0, rng)
		sum, sum2 = sum+f, sum2+f*f
	}
	mean := sum / 20000
	if sd := math.Sqrt(sum2/20000 - mean*mean); math.Abs(sd-0.02) > 0.001 || math.Abs(mean-1) > 0.001 {
		t.Errorf("step jitter: mean %v, sd %v", mean, sd)
	}
	if _, err := ParseNoise("loud"); err == nil {
		t.Error("an unknown preset is accepted")
	}
}
