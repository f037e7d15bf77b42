// Package gate decides, from per-trial values of baseline and candidate,
// whether the candidate regressed. It is pure: no I/O.
//
// Per metric: the relative change is the Hodges-Lehmann estimate of the
// ratio candidate/baseline (on log values) with its distribution-free
// confidence interval; the p-value is the one-sided Mann-Whitney U test of
// "the candidate is worse" (a gate asks a one-sided question);
// Benjamini-Hochberg turns the p-values of one comparison into q-values. A
// metric fails when it is significantly worse (q ≤ alpha) by more than its
// fail threshold; it warns when it is worse than its warn threshold, or past
// the fail threshold without significance (inconclusive: more trials would
// tell). docs/statistics.md explains the method and its calibration.
package gate

import (
	"math"
	"strings"

	"github.com/perfgate/perfgate/internal/stats"
)

// Verdicts, from best to worst.
const (
	Pass = "pass"
	Warn = "warn"
	Fail = "fail"
)

// Rule is one gating metric.
type Rule struct {
	Metric           string
	WarnPct, FailPct float64 // percent worse (percentage points for error_rate)
}

// Rules are a comparison's settings.
type Rules struct {
	Alpha     float64
	MinTrials int
	Conf      float64 // confidence level of intervals; default 0.95
	Metrics   []Rule
	// TwoSided (the release profile) also warns on a significant improvement
	// beyond the fail threshold: an unexplained large change deserves review.
	TwoSided bool
}

// HigherIsBetter reports the direction of a metric.
func HigherIsBetter(metric string) bool {
	return strings.Contains(metric, "throughput") || metric == "request_goodput"
}

// absolute metrics are compared by difference (percentage points), not ratio.
func absolute(metric string) bool { return metric == "error_rate" }

// Input is one (level, metric) to test.
type Input struct {
	Level     int // 1-based level number
	Metric    string
	Baseline  []float64 // one value per trial
	Candidate []float64
}

// Result is the decision on one (level, metric).
type Result struct {
	Level          int       `json:"level"`
	Metric         string    `json:"metric"`
	Baseline       []float64 `json:"baseline"`
	Candidate      []float64 `json:"candidate"`
	BaselineMedian float64   `json:"baseline_median"`
	CandMedian     float64   `json:"candidate_median"`
	ChangePct      float64   `json:"change_pct"`    // Hodges-Lehmann estimate, in % (pp for error_rate)
	CILowPct       float64   `json:"ci_low_pct"`    // its confidence interval
	CIHighPct      float64   `json:"ci_high_pct"`   // (±Inf when the samples are too small)
	WorsePct       float64   `json:"worse_pct"`     // the change in the bad direction (negative: better)
	P              float64   `json:"p"`             // one-sided Mann-Whitney U: is the candidate worse?
	PBetter        float64   `json:"p_better"`      // one-sided: is the candidate better?
	Q              float64   `json:"q"`             // Benjamini-Hochberg over the comparison
	N              [2]int    `json:"n"`             // trials: baseline, candidate
	NoisePct       float64   `json:"noise_pct"`     // the larger per-side coefficient of variation, %
	Verdict        string    `json:"verdict"`       // pass, warn, fail
	Improved       bool      `json:"improved"`      // significantly better by more than the warn threshold
	Gating         bool      `json:"gating"`        // a rule of the gate (others are reported only)
	WarnPct        float64   `json:"warn_pct"`      // the thresholds applied
	FailPct        float64   `json:"fail_pct"`      //
	Reason         string    `json:"reason"`        // one line: why this verdict
	BelowNoise     bool      `json:"below_noise"`   // the fail threshold is under twice the measured noise
	CanBeSignif    bool      `json:"can_be_signif"` // enough trials for q ≤ alpha to be possible
}

// Outcome is the comparison's overall decision.
type Outcome struct {
	Verdict  string   `json:"verdict"`
	Results  []Result `json:"results"`
	Headline string   `json:"headline"`
	Notes    []string `json:"notes,omitempty"`
}

func cv(xs []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	var m, ss float64
	for _, x := range xs {
		m += x
	}
	m /= float64(len(xs))
	if m == 0 {
		return 0
	}
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	return 100 * math.Sqrt(ss/float64(len(xs)-1)) / math.Abs(m)
}

// Decide tests every input and gives the verdicts. Inputs whose metric has
// no rule are reported but do not gate.
func Decide(inputs []Input, r Rules) Outcome {
	if r.Conf == 0 {
		r.Conf = 0.95
	}
	rules := map[string]Rule{}
	for _, m := range r.Metrics {
		rules[m.Metric] = m
	}
	res := make([]Result, len(inputs))
	ps := make([]float64, 0, len(inputs))
	var gatingIdx []int
	for i, in := range inputs {
		x := Result{Level: in.Level, Metric: in.Metric, Baseline: in.Baseline, Candidate: in.Candidate,
			N: [2]int{len(in.Baseline), len(in.Candidate)}}
		x.BaselineMedian, x.CandMedian = stats.Median(in.Baseline), stats.Median(in.Candidate)
		if HigherIsBetter(in.Metric) {
			x.P, x.PBetter = stats.UTestLess(in.Baseline, in.Candidate), stats.UTestGreater(in.Baseline, in.Candidate)
		} else {
			x.P, x.PBetter = stats.UTestGreater(in.Baseline, in.Candidate), stats.UTestLess(in.Baseline, in.Candidate)
		}
		x.NoisePct = math.Max(cv(in.Baseline), cv(in.Candidate))
		x.CanBeSignif = stats.MinP(x.N[0], x.N[1])/2 <= r.Alpha && x.N[0] >= r.MinTrials && x.N[1] >= r.MinTrials
		if absolute(in.Metric) {
			// Hodges-Lehmann on differences, in percentage points.
			x.ChangePct, x.CILowPct, x.CIHighPct = shiftPP(in.Baseline, in.Candidate, r.Conf)
		} else if positive(in.Baseline) && positive(in.Candidate) {
			est, lo, hi, _ := stats.HodgesLehmann(in.Baseline, in.Candidate, r.Conf)
			x.ChangePct, x.CILowPct, x.CIHighPct = 100*(est-1), 100*(lo-1), 100*(hi-1)
		} else {
			x.ChangePct, x.CILowPct, x.CIHighPct = math.NaN(), math.Inf(-1), math.Inf(1)
		}
		x.WorsePct = x.ChangePct
		if HigherIsBetter(in.Metric) {
			x.WorsePct = -x.ChangePct
		}
		if rule, ok := rules[in.Metric]; ok {
			x.Gating, x.WarnPct, x.FailPct = true, rule.WarnPct, rule.FailPct
			x.BelowNoise = x.N[0] > 1 && rule.FailPct < 2*x.NoisePct && !absolute(in.Metric)
			gatingIdx = append(gatingIdx, i)
			ps = append(ps, x.P)
		}
		res[i] = x
	}
	q := stats.BenjaminiHochberg(ps)
	for j, i := range gatingIdx {
		res[i].Q = q[j]
	}
	out := Outcome{Verdict: Pass}
	for i := range res {
		x := &res[i]
		if !x.Gating {
			x.Q, x.Verdict = math.NaN(), Pass
			x.Reason = "reported only"
			continue
		}
		signif := x.CanBeSignif && x.Q <= r.Alpha
		switch {
		case math.IsNaN(x.WorsePct):
			x.Verdict, x.Reason = Warn, "cannot be compared (missing or zero values)"
		case signif && x.WorsePct > x.FailPct:
			x.Verdict, x.Reason = Fail, "significantly worse than the fail threshold"
		case x.WorsePct > x.FailPct:
			x.Verdict, x.Reason = Warn, "worse than the fail threshold but not significant: inconclusive, more trials would tell"
		case x.WorsePct > x.WarnPct:
			x.Verdict, x.Reason = Warn, "worse than the warn threshold"
		default:
			x.Verdict, x.Reason = Pass, "within the thresholds"
		}
		// Improvements: the better-direction test, Bonferroni over the gating metrics.
		if x.CanBeSignif && x.PBetter*float64(len(gatingIdx)) <= r.Alpha && -x.WorsePct > x.WarnPct {
			x.Improved, x.Reason = true, "significantly better"
			if r.TwoSided && -x.WorsePct > x.FailPct {
				x.Verdict, x.Reason = Warn, "significantly better by more than the fail threshold: unexplained, review it"
			}
		}
		out.Verdict = worst(out.Verdict, x.Verdict)
	}
	out.Results = res
	return out
}

func worst(a, b string) string {
	rank := map[string]int{Pass: 0, Warn: 1, Fail: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

func positive(xs []float64) bool {
	for _, x := range xs {
		if !(x > 0) {
			return false
		}
	}
	return len(xs) > 0
}

// shiftPP is the Hodges-Lehmann shift of rates (0–1) in percentage points,
// with a Walsh-free interval from the pairwise differences' quantiles
// matching the U test's critical values.
func shiftPP(a, b []float64, conf float64) (est, lo, hi float64) {
	if len(a) == 0 || len(b) == 0 {
		return math.NaN(), math.Inf(-1), math.Inf(1)
	}
	// Shift every value to positive and reuse the ratio machinery on exp(x):
	// log(exp(y)) − log(exp(x)) = y − x.
	ea, eb := make([]float64, len(a)), make([]float64, len(b))
	for i, v := range a {
		ea[i] = math.Exp(100 * v)
	}
	for i, v := range b {
		eb[i] = math.Exp(100 * v)
	}
	e, l, h, _ := stats.HodgesLehmann(ea, eb, conf)
	return math.Log(e), math.Log(l), math.Log(h)
}
