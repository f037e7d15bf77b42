package gate

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/perfgate/perfgate/internal/metric"
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
		verdict metric.Verdict
		improve bool
	}{
		{"output_throughput", 0.90, 6, metric.Fail, false}, // 10 % less throughput, clean separation
		{"median_tpot_ms", 1.10, 6, metric.Fail, false},    // 10 % slower tokens
		{"median_tpot_ms", 1.04, 6, metric.Warn, false},    // significantly past warn, not fail
		{"median_tpot_ms", 1.00, 6, metric.Pass, false},    // no change
		{"output_throughput", 1.10, 6, metric.Pass, true},  // an improvement is reported
		{"output_throughput", 0.90, 3, metric.Warn, false}, // 3 trials: nothing can be significant
		{"median_e2el_ms", 2.0, 6, metric.Pass, false},     // not a rule: reported only
	}
	for _, c := range cases {
		o := Decide([]Input{{Level: 1, Metric: c.metric, Baseline: b[:c.n], Candidate: scale(c.factor)[:c.n]}}, rules)
		r := o.Results[0]
		if r.Verdict != c.verdict || r.Improved != c.improve {
			t.Errorf("%s ×%v n=%d: %s (improved %v), want %s: %+v", c.metric, c.factor, c.n, r.Verdict, r.Improved, c.verdict, r)
		}
	}
	o := Decide([]Input{{Level: 1, Metric: "output_throughput", Baseline: b, Candidate: scale(0.9)}}, rules)
	if r := o.Results[0]; math.Abs(float64(r.ChangePct)+10) > 1e-9 || r.CILowPct > -10 || r.CIHighPct < -10 || o.Verdict != metric.Fail {
		t.Errorf("estimate %v [%v, %v], overall %s", r.ChangePct, r.CILowPct, r.CIHighPct, o.Verdict)
	}
}

func TestErrorRateInPercentagePoints(t *testing.T) {
	rules := Rules{Alpha: 0.05, MinTrials: 4, Metrics: []Rule{{"error_rate", 0.5, 1}}}
	zero := []float64{0, 0, 0, 0, 0, 0}
	bad := []float64{0.05, 0.04, 0.06, 0.05, 0.05, 0.045}
	r := Decide([]Input{{Level: 1, Metric: "error_rate", Baseline: zero, Candidate: bad}}, rules).Results[0]
	// no counts: pooled as 1,000 requests a trial, 295 of 6,000
	if r.Verdict != metric.Fail || math.Abs(float64(r.ChangePct)-100*295.0/6000) > 1e-9 {
		t.Errorf("%+v", r)
	}
	if r := Decide([]Input{{Level: 1, Metric: "error_rate", Baseline: zero, Candidate: zero}}, rules).Results[0]; r.Verdict != metric.Pass {
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
	if r := Decide(in, rules).Results[0]; r.Verdict != metric.Pass || !r.Improved {
		t.Errorf("one-sided: %+v", r)
	}
	rules.TwoSided = true
	if r := Decide(in, rules).Results[0]; r.Verdict != metric.Warn || !r.Improved || !strings.Contains(r.Reason, "review") {
		t.Errorf("release: %+v", r)
	}
}

// Issue 15's case: a candidate that fails a fifth of its requests in two
// trials of six, and none in the rest, against six clean trials. The
// per-trial medians are all zero; pooled counts see it.
func TestErrorRateSomeTrialsOnly(t *testing.T) {
	rules := Rules{Alpha: 0.05, Metrics: []Rule{{"error_rate", 0.5, 1}}}
	cnt := func(f ...int) []Count {
		var out []Count
		for _, x := range f {
			out = append(out, Count{Failed: x, Issued: 500})
		}
		return out
	}
	in := Input{Level: 1, Metric: "error_rate",
		Baseline: []float64{0, 0, 0, 0, 0, 0}, Candidate: []float64{0.2, 0.2, 0, 0, 0, 0},
		BaselineCounts: cnt(0, 0, 0, 0, 0, 0), CandidateCounts: cnt(100, 100, 0, 0, 0, 0)}
	r := Decide([]Input{in}, rules).Results[0]
	if r.Verdict != metric.Fail || math.Abs(float64(r.ChangePct)-100*200.0/3000) > 1e-9 || r.P > 1e-10 {
		t.Errorf("%+v", r)
	}
}

// A sequential look stops on a clear fail, on every metric clearly within,
// and at the maximum; otherwise it goes on.
func TestLookStops(t *testing.T) {
	rules := Rules{Alpha: 0.05, Metrics: []Rule{{"median_tpot_ms", 3, 5}}}
	base := []float64{100, 101, 99, 100.5}
	mk := func(f float64, n int) []Input {
		c := make([]float64, n)
		for i := range c {
			c[i] = base[i%len(base)] * f
		}
		return []Input{{Level: 1, Metric: "median_tpot_ms", Baseline: base[:n], Candidate: c}}
	}
	if o := Look(mk(1.3, 3), rules); !o.Stop || o.StopReason != StopFail || o.Verdict != metric.Fail {
		t.Errorf("+30 %%: %+v", o)
	}
	if o := Look(mk(1.0, 3), rules); !o.Stop || o.StopReason != StopWithin || o.Verdict != metric.Pass {
		t.Errorf("no change, little noise: %+v", o)
	}
	noisy := []Input{{Level: 1, Metric: "median_tpot_ms", Baseline: []float64{100, 110, 92}, Candidate: []float64{104, 96, 112}}}
	if o := Look(noisy, rules); o.Stop {
		t.Errorf("noisy and unclear: must go on: %+v", o)
	}
	rules.MaxTrials = 3
	if o := Look(noisy, rules); !o.Stop || o.StopReason != StopMax {
		t.Errorf("at the maximum: %+v", o)
	}
}

func TestCanFail(t *testing.T) {
	r := Rules{Alpha: 0.05, MinTrials: 3}
	if ok, why := CanFail(2, r); ok || !strings.Contains(why, "never fail") || !strings.Contains(why, "3") {
		t.Errorf("2 trials: %v %q", ok, why)
	}
	if ok, _ := CanFail(3, r); !ok {
		t.Error("3 trials can fail")
	}
}

func TestOutliers(t *testing.T) {
	rules := Rules{Metrics: []Rule{{"median_tpot_ms", 3, 5}, {"output_throughput", 3, 5}}}
	rng := rand.New(rand.NewPCG(5, 5))
	var in []Input
	for lv := 1; lv <= 3; lv++ {
		tp := Input{Level: lv, Metric: "median_tpot_ms", Baseline: trials(rng, 6, 10, 2), Candidate: trials(rng, 6, 10, 2)}
		th := Input{Level: lv, Metric: "output_throughput", Baseline: trials(rng, 6, 5000, 2), Candidate: trials(rng, 6, 5000, 2)}
		tp.Candidate[4] *= 1.2 // trial 5 of the candidate is 20 % slow everywhere
		th.Candidate[4] /= 1.2
		in = append(in, tp, th)
	}
	out := Outliers(in, rules)
	if len(out) != 1 || out[0].Side != "candidate" || out[0].Index != 4 || out[0].ShiftPct < 15 {
		t.Errorf("%+v", out)
	}
	// a whole side slower is a regression, not an outlier
	for i := range in {
		in[i].Candidate[4] = in[i].Candidate[3]
		for j := range in[i].Candidate {
			if HigherIsBetter(in[i].Metric) {
				in[i].Candidate[j] /= 1.2
			} else {
				in[i].Candidate[j] *= 1.2
			}
		}
	}
	if out := Outliers(in, rules); len(out) != 0 {
		t.Errorf("a slower side: %+v", out)
	}
}

// Below OutlierFloorPct a trial is ordinary variation, however quiet the
// others: a start in a slower clock state (5 %) is compared, not re-run;
// past the floor (12 %) it is an outlier.
func TestOutlierFloor(t *testing.T) {
	rules := Rules{Metrics: []Rule{{"median_tpot_ms", 3, 5}, {"output_throughput", 3, 5}}}
	for _, c := range []struct {
		shift float64
		want  int
	}{{1.05, 0}, {1.12, 1}} {
		var in []Input
		for lv := 1; lv <= 3; lv++ {
			tp := Input{Level: lv, Metric: "median_tpot_ms", Baseline: []float64{10, 10.01, 9.99, 10}, Candidate: []float64{10, 10.01, 9.99, 10}}
			th := Input{Level: lv, Metric: "output_throughput", Baseline: []float64{5000, 5004, 4996, 5000}, Candidate: []float64{5000, 5004, 4996, 5000}}
			tp.Baseline[1] *= c.shift
			th.Baseline[1] /= c.shift
			in = append(in, tp, th)
		}
		if out := Outliers(in, rules); len(out) != c.want {
			t.Errorf("a trial ×%g among trials 0.1 %% apart: outliers %+v, want %d", c.shift, out, c.want)
		}
	}
}

// A side with no successful request fails at one trial a side, on the
// error_rate counts, whatever the minimum; every gating result of that
// level says so, and a sequential look stops.
func TestBrokenSideFailsAtAnyTrialCount(t *testing.T) {
	r := Rules{Metrics: []Rule{{Metric: "median_ttft_ms", WarnPct: 3, FailPct: 5}, {Metric: "error_rate", WarnPct: 0.5, FailPct: 1}}}
	for _, c := range []struct {
		name       string
		base, cand Count
		side       string
	}{
		{"candidate", Count{0, 15}, Count{15, 15}, "candidate"},
		{"baseline", Count{40, 40}, Count{0, 40}, "baseline"},
		{"both", Count{9, 9}, Count{9, 9}, "both"},
	} {
		inputs := []Input{
			{Level: 1, Metric: "median_ttft_ms", Baseline: []float64{20}, Candidate: []float64{0}},
			{Level: 1, Metric: "error_rate", Baseline: []float64{float64(c.base.Failed) / float64(c.base.Issued)}, Candidate: []float64{float64(c.cand.Failed) / float64(c.cand.Issued)},
				BaselineCounts: []Count{c.base}, CandidateCounts: []Count{c.cand}},
		}
		for _, o := range []Outcome{Decide(inputs, r), Look(inputs, r)} {
			if o.Verdict != metric.Fail {
				t.Errorf("%s: verdict %s", c.name, o.Verdict)
			}
			for _, x := range o.Results {
				if x.Verdict != metric.Fail || x.NoSuccess != c.side || !strings.Contains(x.Reason, "request") {
					t.Errorf("%s: %s %s %q (%q)", c.name, x.Metric, x.Verdict, x.NoSuccess, x.Reason)
				}
			}
			if _, err := Recheck(o, r); err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
		}
		if o := Look(inputs, r); !o.Stop || o.StopReason != StopFail {
			t.Errorf("%s: a look must stop on it: %v %q", c.name, o.Stop, o.StopReason)
		}
	}
	// One failed request of fifteen is not a broken side: at one trial a
	// side the gate still cannot fail.
	inputs := []Input{{Level: 1, Metric: "error_rate", Baseline: []float64{0}, Candidate: []float64{1.0 / 15},
		BaselineCounts: []Count{{0, 15}}, CandidateCounts: []Count{{1, 15}}}}
	if o := Decide(inputs, r); o.Verdict == metric.Fail || len(BrokenSides(inputs)) != 0 {
		t.Errorf("one error in fifteen: %s", o.Verdict)
	}
}

// One slow trial of six, kept (perfgate compare cannot re-run it), no
// longer hides a 10 % regression: the ratio tests leave it out, the result
// says so and still shows every trial; the same slow trial in an A/A passes.
func TestSlowTrialLeftOut(t *testing.T) {
	r := Rules{Metrics: []Rule{{Metric: "median_tpot_ms", WarnPct: 3, FailPct: 5}, {Metric: "median_e2el_ms", WarnPct: 3, FailPct: 5}}}
	noise := []float64{1.00, 1.012, 0.991, 1.006, 0.995, 1.009}
	side := func(scale float64, slow int) []float64 {
		out := make([]float64, len(noise))
		for i, v := range noise {
			out[i] = 7.5 * scale * v
			if i == slow {
				out[i] *= 1.22
			}
		}
		return out
	}
	for _, c := range []struct {
		name  string
		scale float64
		want  metric.Verdict
	}{{"10 % slower", 1.10, metric.Fail}, {"A/A", 1, metric.Pass}} {
		var in []Input
		for _, m := range r.Metrics {
			in = append(in, Input{Level: 1, Metric: m.Metric, Baseline: side(1, 4), Candidate: side(c.scale, -1)})
		}
		o := Decide(in, r)
		if o.Verdict != c.want {
			t.Errorf("%s: %s, want %s", c.name, o.Verdict, c.want)
		}
		for _, x := range o.Results {
			if len(x.LeftOut) != 1 || x.LeftOut[0].Side != Baseline || x.LeftOut[0].Index != 4 || len(x.Baseline) != 6 || !strings.Contains(x.Reason, "tested without outlier the baseline's trial 5") {
				t.Errorf("%s: %s left out %+v, %d baseline values, reason %q", c.name, x.Metric, x.LeftOut, len(x.Baseline), x.Reason)
			}
		}
		if _, err := Recheck(o, r); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// A side of three cannot spare one: it is kept.
	in := []Input{{Level: 1, Metric: "median_tpot_ms", Baseline: []float64{7.5, 7.6, 9.2}, Candidate: []float64{7.5, 7.55, 7.45}}}
	if _, left := keepInliers(in, r.WithDefaults()); len(left) != 0 {
		t.Errorf("three trials: left out %+v", left)
	}
}
