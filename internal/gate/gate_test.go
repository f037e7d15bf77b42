package gate

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

var defaults = Rules{Alpha: 0.05, MinTrials: 4, Metrics: []Rule{
	{"output_throughput", 2, 3}, {"median_ttft_ms", 3, 5}, {"p99_ttft_ms", 5, 10}, {"median_tpot_ms", 3, 5}, {"median_e2el_ms", 3, 5},
}}

// trials draws n per-trial values with log-normal noise of the given CV.
func trials(rng *rand.Rand, n int, center, cvPct float64) []float64 {
	sigma := math.Sqrt(math.Log(1 + cvPct*cvPct/1e4))
	out := make([]float64, n)
	for i := range out {
		out[i] = center * math.Exp(sigma*rng.NormFloat64()-sigma*sigma/2)
	}
	return out
}

func inputs(rng *rand.Rand, n int, throughputFactor float64) []Input {
	centers := map[string]float64{"output_throughput": 5000, "median_ttft_ms": 40, "p99_ttft_ms": 120, "median_tpot_ms": 9, "median_e2el_ms": 1200}
	var in []Input
	for _, r := range defaults.Metrics {
		c := centers[r.Metric]
		cf := 1.0
		if r.Metric == "output_throughput" {
			cf = throughputFactor
		}
		in = append(in, Input{Level: 1, Metric: r.Metric, Baseline: trials(rng, n, c, 3), Candidate: trials(rng, n, c*cf, 3)})
	}
	return in
}

// The gate's calibration (docs/statistics.md reports these figures):
// A/A at n = 6 with 3 % noise fails at most 5 % of the time, and a true 8 %
// throughput drop fails at least 90 % of the time.
func TestCalibrationFalseAlarmsAndPower(t *testing.T) {
	rng := rand.New(rand.NewPCG(2026, 11))
	const sims = 1000
	falseFail, falseWarn, caught := 0, 0, 0
	for range sims {
		switch Decide(inputs(rng, 6, 1), defaults).Verdict {
		case Fail:
			falseFail++
		case Warn:
			falseWarn++
		}
		o := Decide(inputs(rng, 6, 0.92), defaults)
		for _, r := range o.Results {
			if r.Metric == "output_throughput" && r.Verdict == Fail {
				caught++
			}
		}
	}
	t.Logf("A/A: fail %.1f%%, warn %.1f%%; 8%% throughput drop caught %.1f%%", 100*float64(falseFail)/sims, 100*float64(falseWarn)/sims, 100*float64(caught)/sims)
	if falseFail > sims*5/100 {
		t.Errorf("A/A fail rate %d/%d above 5 %%", falseFail, sims)
	}
	if caught < sims*90/100 {
		t.Errorf("power %d/%d below 90 %%", caught, sims)
	}
}

func TestVerdicts(t *testing.T) {
	b := []float64{100, 101, 99, 100.5, 99.5, 100.2}
	scale := func(f float64) []float64 {
		out := make([]float64, len(b))
		for i, v := range b {
			out[i] = v * f
		}
		return out
	}
	rules := Rules{Alpha: 0.05, MinTrials: 4, Metrics: []Rule{{"output_throughput", 2, 3}, {"median_tpot_ms", 3, 5}}}
	cases := []struct {
		metric  string
		factor  float64
		n       int
		verdict string
		improve bool
	}{
		{"output_throughput", 0.90, 6, Fail, false}, // 10 % less throughput, clean separation
		{"median_tpot_ms", 1.10, 6, Fail, false},    // 10 % slower tokens
		{"median_tpot_ms", 1.04, 6, Warn, false},    // past warn, not fail
		{"median_tpot_ms", 1.00, 6, Pass, false},    // no change
		{"output_throughput", 1.10, 6, Pass, true},  // an improvement is reported
		{"output_throughput", 0.90, 3, Warn, false}, // 3 trials: nothing can be significant
		{"median_e2el_ms", 2.0, 6, Pass, false},     // not a rule: reported only
	}
	for _, c := range cases {
		o := Decide([]Input{{Level: 1, Metric: c.metric, Baseline: b[:c.n], Candidate: scale(c.factor)[:c.n]}}, rules)
		r := o.Results[0]
		if r.Verdict != c.verdict || r.Improved != c.improve {
			t.Errorf("%s ×%v n=%d: %s (improved %v), want %s: %+v", c.metric, c.factor, c.n, r.Verdict, r.Improved, c.verdict, r)
		}
	}
	o := Decide([]Input{{Level: 1, Metric: "output_throughput", Baseline: b, Candidate: scale(0.9)}}, rules)
	if r := o.Results[0]; math.Abs(r.ChangePct+10) > 1e-9 || r.CILowPct > -10 || r.CIHighPct < -10 || o.Verdict != Fail {
		t.Errorf("estimate %v [%v, %v], overall %s", r.ChangePct, r.CILowPct, r.CIHighPct, o.Verdict)
	}
}

func TestErrorRateInPercentagePoints(t *testing.T) {
	rules := Rules{Alpha: 0.05, MinTrials: 4, Metrics: []Rule{{"error_rate", 0.5, 1}}}
	zero := []float64{0, 0, 0, 0, 0, 0}
	bad := []float64{0.05, 0.04, 0.06, 0.05, 0.05, 0.045}
	r := Decide([]Input{{Level: 1, Metric: "error_rate", Baseline: zero, Candidate: bad}}, rules).Results[0]
	if r.Verdict != Fail || math.Abs(r.ChangePct-5) > 0.01 {
		t.Errorf("%+v", r)
	}
	if r := Decide([]Input{{Level: 1, Metric: "error_rate", Baseline: zero, Candidate: zero}}, rules).Results[0]; r.Verdict != Pass {
		t.Errorf("no errors on either side: %+v", r)
	}
}

func TestNoiseFlag(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	noisy := Input{Level: 1, Metric: "median_tpot_ms", Baseline: trials(rng, 6, 10, 6), Candidate: trials(rng, 6, 10, 6)}
	r := Decide([]Input{noisy}, Rules{Alpha: 0.05, MinTrials: 4, Metrics: []Rule{{"median_tpot_ms", 3, 5}}}).Results[0]
	if !r.BelowNoise || r.NoisePct < 3 {
		t.Errorf("a 5 %% threshold under ~6 %% noise must be flagged: %+v", r)
	}
}

func TestReleaseProfileReviewsLargeImprovements(t *testing.T) {
	b := []float64{100, 101, 99, 100.5, 99.5, 100.2}
	c := []float64{120, 121, 119, 120.5, 119.5, 120.2}
	in := []Input{{Level: 1, Metric: "output_throughput", Baseline: b, Candidate: c}}
	rules := Rules{Alpha: 0.01, MinTrials: 4, Metrics: []Rule{{"output_throughput", 2, 3}}}
	if r := Decide(in, rules).Results[0]; r.Verdict != Pass || !r.Improved {
		t.Errorf("one-sided: %+v", r)
	}
	rules.TwoSided = true
	if r := Decide(in, rules).Results[0]; r.Verdict != Warn || !r.Improved || !strings.Contains(r.Reason, "review") {
		t.Errorf("release: %+v", r)
	}
}
