package gate

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/perfgate/perfgate/internal/metric"
)

// levelsOf draws one metric at three levels of different noise, the same
// trials at every level; change scales the candidate of level changed
// (1-based, 0: none).
func levelsOf(rng *rand.Rand, n int, noise [3]float64, changed int, change float64) []Input {
	var in []Input
	for lv := range 3 {
		x := Input{Level: lv + 1, Metric: "median_tpot_ms", Baseline: trials(rng, n, 10, noise[lv]), Candidate: trials(rng, n, 10, noise[lv])}
		if lv+1 == changed {
			for i := range x.Candidate {
				x.Candidate[i] *= change
			}
		}
		in = append(in, x)
	}
	return in
}

// Levels of 1 %, 3 % and 8 % noise: the quiet level keeps its power (its
// noise is its own, not the pooled 5 %), and the noisy level keeps its
// false-fail rate (its own degrees of freedom, not the pooled ones).
func TestNoisePerLevel(t *testing.T) {
	rules := Rules{Alpha: 0.05, MinTrials: 3, Metrics: []Rule{{"median_tpot_ms", 3, 5}}}
	rng := rand.New(rand.NewPCG(34, 1))
	const sims = 1000
	caught, falseFail := 0, 0
	for range sims {
		if o := Decide(levelsOf(rng, 3, [3]float64{1, 3, 8}, 1, 1.10), rules); o.Results[0].Verdict == metric.Fail {
			caught++
		}
		if o := Decide(levelsOf(rng, 3, [3]float64{1, 3, 8}, 0, 1), rules); o.Results[2].Verdict == metric.Fail {
			falseFail++
		}
	}
	// Pooled over the levels, +10 % at the quiet level was caught 16 % of
	// the time at 3 + 3; the noisy level failed an A/A at twice its level.
	if c := float64(caught) / sims; c < 0.9 {
		t.Errorf("+10 %% at the quiet level, 3 + 3: caught %.3f, want ≥ 0.9", c)
	}
	if f := float64(falseFail) / sims; f > 0.02 {
		t.Errorf("A/A at the noisy level: fails %.3f, want ≤ 0.02", f)
	}
}

// Levels that agree share their noise (more degrees of freedom than three
// trials give); the test is then the pooled one.
func TestAgreeingLevelsPool(t *testing.T) {
	in := []Input{
		{Level: 1, Metric: "median_tpot_ms", Baseline: []float64{100, 103, 97}, Candidate: []float64{110, 113, 107}},
		{Level: 2, Metric: "median_tpot_ms", Baseline: []float64{200, 194, 206}, Candidate: []float64{200, 206, 194}},
		{Level: 3, Metric: "median_tpot_ms", Baseline: []float64{50, 51.5, 48.5}, Candidate: []float64{50, 48.5, 51.5}},
	}
	pools := poolNoise(in)
	if p := pools["median_tpot_ms"]; !math.IsInf(p.d0, 1) || p.total != 12 {
		t.Errorf("three levels of the same 3 %% noise: prior %+v, want d0 +Inf over 12 df", p)
	}
}

// A change the trials cannot tell from noise is a pass that says so, not
// a warn; a warn needs the candidate significantly worse.
func TestNoiseAloneDoesNotWarn(t *testing.T) {
	rules := Rules{Alpha: 0.05, MinTrials: 3, Metrics: []Rule{{"median_tpot_ms", 3, 5}}}
	noisy := []Input{{Level: 1, Metric: "median_tpot_ms", Baseline: []float64{100, 112, 90, 104}, Candidate: []float64{96, 118, 101, 114}}}
	o := Decide(noisy, rules)
	if r := o.Results[0]; r.Verdict != metric.Pass || r.WorsePct <= 5 || !strings.Contains(r.Reason, "within the noise") {
		t.Errorf("+%.1f %% at 10 %% noise: %s (%s), want a pass within the noise", float64(r.WorsePct), r.Verdict, r.Reason)
	}
	clear := []Input{{Level: 1, Metric: "median_tpot_ms", Baseline: []float64{100, 100.5, 99.5, 100.2}, Candidate: []float64{104.6, 104, 103.8, 104.4}}}
	if r := Decide(clear, rules).Results[0]; r.Verdict != metric.Warn {
		t.Errorf("+4 %% at 0.3 %% noise: %s (%s), want warn", r.Verdict, r.Reason)
	}
}

// The within stop's level per level: strict where the levels move together
// (one effective test), looser where they are independent (three).
func TestWithinLevelFollowsTheLevelsCorrelation(t *testing.T) {
	together := []Input{
		{Level: 1, Metric: "median_tpot_ms", Baseline: []float64{100, 103, 97, 101, 99, 102}, Candidate: []float64{100, 103, 97, 101, 99, 102}},
		{Level: 2, Metric: "median_tpot_ms", Baseline: []float64{200, 206, 194, 202, 198, 204}, Candidate: []float64{200, 206, 194, 202, 198, 204}},
	}
	if b := withinLevels(together)["median_tpot_ms"]; math.Abs(b-WithinBeta) > 1e-3 {
		t.Errorf("levels that move together: %g, want WithinBeta %g", b, WithinBeta)
	}
	rng := rand.New(rand.NewPCG(2, 2))
	apart := levelsOf(rng, 10, [3]float64{3, 3, 3}, 0, 1)
	if b := withinLevels(apart)["median_tpot_ms"]; b < 2*WithinBeta {
		t.Errorf("independent levels, 10 + 10: %g, want well above WithinBeta", b)
	}
}

// Outliers are slow trials only: with two slow starts among three, the one
// ordinary trial is not re-run as if it were the odd one out.
func TestOutliersAreSlowTrials(t *testing.T) {
	rules := Rules{Metrics: []Rule{{"median_tpot_ms", 3, 5}, {"output_throughput", 3, 5}}}
	var in []Input
	for lv := 1; lv <= 3; lv++ {
		in = append(in,
			Input{Level: lv, Metric: "median_tpot_ms", Baseline: []float64{10, 10.01, 9.99}, Candidate: []float64{12, 10, 12.01}},
			Input{Level: lv, Metric: "output_throughput", Baseline: []float64{5000, 5004, 4996}, Candidate: []float64{4167, 5000, 4166}})
	}
	if out := Outliers(in, rules); len(out) != 0 {
		t.Errorf("two slow trials of three: %+v, want no outlier (the fast one is not)", out)
	}
}

// A fail that stands with the outlier trials left out spends no engine
// start on re-running them.
func TestFailHoldsWithoutOutliers(t *testing.T) {
	rules := Rules{Alpha: 0.05, Metrics: []Rule{{"median_tpot_ms", 3, 5}, {"output_throughput", 3, 5}}}
	var in []Input
	for lv := 1; lv <= 3; lv++ {
		in = append(in,
			Input{Level: lv, Metric: "median_tpot_ms", Baseline: []float64{10, 10.05, 9.95, 10.02}, Candidate: []float64{13, 13.05, 12.95, 16}},
			Input{Level: lv, Metric: "output_throughput", Baseline: []float64{5000, 5020, 4980, 5010}, Candidate: []float64{3850, 3860, 3840, 3100}})
	}
	o := Look(in, rules)
	if o.Verdict != metric.Fail || !o.FailHolds || len(Outliers(in, rules)) == 0 {
		t.Fatalf("+30 %% with a slow candidate trial: %s, holds %v, outliers %v", o.Verdict, o.FailHolds, Outliers(in, rules))
	}
	tr := &countingTrials{o: o, ols: Outliers(in, rules)}
	if _, reason, _, err := Drive(Design{Reruns: 3}, rules, tr); err != nil || reason != StopFail || tr.reruns != 0 {
		t.Errorf("Drive: %q, %d re-runs, %v; want a fail with none", reason, tr.reruns, err)
	}
}

// countingTrials answers every look with one outcome and counts re-runs.
type countingTrials struct {
	o      Outcome
	ols    []Outlier
	reruns int
}

func (c *countingTrials) Run(string, int) (bool, error) { return false, nil }
func (c *countingTrials) Rerun(Outlier) (bool, error)   { c.reruns++; return false, nil }
func (c *countingTrials) Decide(bool) (Outcome, []Outlier, error) {
	return c.o, c.ols, nil
}

// The grey zone: significantly worse, but neither a fail nor the within
// stop in reach of the maximum. The look stops and says what would decide.
func TestFutilityStopsTheGreyZone(t *testing.T) {
	rules := Rules{Alpha: 0.05, MaxTrials: 10, Metrics: []Rule{{"median_tpot_ms", 3, 5}}}
	b := []float64{100, 104, 96, 102, 98, 103, 97, 101}
	c := make([]float64, len(b))
	for i, v := range b {
		c[i] = v * 1.042
	}
	o := Look([]Input{{Level: 1, Metric: "median_tpot_ms", Baseline: b, Candidate: c}}, rules)
	if !o.Stop || o.StopReason != StopFutile || o.Verdict != metric.Warn || len(o.Notes) == 0 || !strings.Contains(o.Notes[0], "could neither") {
		t.Errorf("+4.2 %% at 3 %% noise after 8 of 10: stop %v %q %s %q", o.Stop, o.StopReason, o.Verdict, o.Notes)
	}
	// a pass is never stopped for futility: the maximum may still warn
	c2 := make([]float64, len(b))
	copy(c2, b)
	if o := Look([]Input{{Level: 1, Metric: "median_tpot_ms", Baseline: b, Candidate: c2}}, rules); o.StopReason == StopFutile {
		t.Errorf("an A/A: %q", o.StopReason)
	}
}

// Quiet trials test a margin closer to the fail threshold: 5.3 % at 1 %
// noise in 3 + 3 is past the threshold but not by enough to call a fail
// (the quarter-way margin, 3.5 %, failed it, and a true +4 % at 1 % noise
// one A/B in ten).
func TestQuietTrialsMarginNearTheThreshold(t *testing.T) {
	rules := Rules{Alpha: 0.05, MinTrials: 3, Metrics: []Rule{{"median_tpot_ms", 3, 5}}}
	in := []Input{{Level: 1, Metric: "median_tpot_ms", Baseline: []float64{100, 101, 99}, Candidate: []float64{105.3, 106.3, 104.3}}}
	r := Decide(in, rules).Results[0]
	if r.Verdict == metric.Fail || r.MarginPct < 4 {
		t.Errorf("+%.1f %% at 1 %% noise: %s, margin %.2f %% (want no fail, a margin past 4 %%): %s", float64(r.WorsePct), r.Verdict, r.MarginPct, r.Reason)
	}
	// at 3 % noise the margin stays the quarter-way point
	in = []Input{{Level: 1, Metric: "median_tpot_ms", Baseline: []float64{100, 103, 97}, Candidate: []float64{110, 113, 107}}}
	if r := Decide(in, rules).Results[0]; math.Abs(r.MarginPct-3.5) > 1e-9 {
		t.Errorf("3 %% noise: margin %.3f %%, want 3.5 %%", r.MarginPct)
	}
}
