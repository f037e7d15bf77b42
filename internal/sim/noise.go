package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Noise is the simulator's trial-to-trial noise, shaped like a GPU
// runner's: a clock state drawn when the engine starts (one of two, as
// boost clocks settle high or low), now and then a slow start (a noisy
// neighbour, a throttled card), a slow thermal drift within the run, and
// jitter on every step. Each engine start draws its state from the seed, so
// the trials of `perfgate run --trials` (each its own seed) differ as runs
// on hardware do, and a run with the same seed repeats.
type Noise struct {
	LowClockShare  float64 // share of starts in the low clock state
	LowClockPct    float64 // how much slower every step is there, %
	SlowShare      float64 // share of starts that are slow
	SlowPct        float64 // how much slower, %
	DriftPctPerMin float64 // steps slower by this much per minute of model time, %
	StepJitter     float64 // relative standard deviation of each step's time
}

// NoiseGPU is the "gpu" preset: two clock states 4 % apart (30 % of starts
// low), one start in 20 15 % slow, 0.3 % a minute of drift, 2 % step
// jitter — the "mix" noise the gate's calibration runs under
// (docs/statistics.md). Its per-start spread without slow starts, 1.8 %,
// sits at the top of published run-to-run variation of a steady vLLM
// (0.4–2.4 %; the sources are in docs/simulator.md), until a real GPU's A/A
// measures it (testdata/gpu).
var NoiseGPU = Noise{LowClockShare: 0.3, LowClockPct: 4, SlowShare: 0.05, SlowPct: 15, DriftPctPerMin: 0.3, StepJitter: 0.02}

// NoisePresets are the names --noise and engine.noise take.
var NoisePresets = map[string]Noise{"off": {}, "gpu": NoiseGPU}

// ParseNoise is a preset by name.
func ParseNoise(name string) (Noise, error) {
	n, ok := NoisePresets[name]
	if !ok {
		return Noise{}, fmt.Errorf("noise must be off or gpu, got %q", name)
	}
	return n, nil
}

// startDraw is the step-time factor of an engine start with this seed and
// start seed (Config.StartSeed): the same seeds draw the same state.
func (n Noise) startDraw(seed, startSeed uint64) float64 {
	return n.startFactor(rand.New(rand.NewPCG(seed, 0x5747^startSeed)))
}

// startFactor is the step-time factor an engine start draws: its clock
// state and whether it is a slow start.
func (n Noise) startFactor(rng *rand.Rand) float64 {
	f := 1.0
	if rng.Float64() < n.LowClockShare {
		f *= 1 + n.LowClockPct/100
	}
	if rng.Float64() < n.SlowShare {
		f *= 1 + n.SlowPct/100
	}
	return f
}

// stepFactor is a step's factor at model time now (s): the start's, the
// drift so far, and the step's jitter.
func (n Noise) stepFactor(start, now float64, rng *rand.Rand) float64 {
	f := start * (1 + n.DriftPctPerMin/100*now/60)
	if n.StepJitter > 0 {
		f *= math.Max(0.5, 1+n.StepJitter*rng.NormFloat64())
	}
	return f
}
