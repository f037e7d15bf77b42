// Package gate decides, from per-trial values of baseline and candidate,
// whether the candidate regressed. It is pure: no I/O.
//
// What a verdict claims (docs/statistics.md says it in plain words):
//
//   - fail: the candidate is worse than the margin with confidence — the
//     warn threshold plus a quarter of the way to the fail threshold, or the
//     fail threshold less one standard error where that is higher (a
//     one-sided t-test on log values with each level's noise moved towards
//     the metric's other levels as far as they agree, an empirical Bayes
//     variance; Benjamini-Hochberg over the comparison's gating tests, q ≤
//     the look's alpha) — and its estimated change is past the fail
//     threshold;
//   - warn: the candidate is significantly worse (the same correction, at
//     alpha) and estimated past the warn threshold, but not a fail: worse
//     than the warn threshold with confidence, or past the fail threshold
//     by its estimate without that confidence (inconclusive);
//   - pass: otherwise — an estimate past the fail threshold that the trials
//     cannot tell from noise included, which the reason says.
//
// A sequential A/B (Look) looks after every balanced pair of trials from
// MinTrials to MaxTrials per side and stops as soon as the verdict is clear:
// a fail; every gating metric shown to be within its fail threshold (an
// intersection-union test at a level per metric that follows how its
// levels move together, withinLevels); or, for a warn, futility — the
// maximum could not decide either. Because it looks many times, each look
// uses a stricter alpha for a fail (lookAlpha). The design and its error
// rates under fourteen noise shapes are in docs/statistics.md and
// reproduced by `go run ./internal/gatesim/calibrate`.
//
// error_rate is tested on pooled request counts (Fisher's exact test),
// not on per-trial rates: a candidate that fails requests in some trials
// only is still seen.
package gate

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/perfgate/perfgate/internal/metric"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/stats"
)

// nan is a missing value of a result's field (null in JSON).
var nan = record.Float(math.NaN())

// Design constants, calibrated by the suite in docs/statistics.md.
const (
	// DefaultMinTrials is the first look, and the fewest trials per side a
	// fail may rest on.
	DefaultMinTrials = 3
	// DefaultMaxTrials is the last look of a sequential A/B.
	DefaultMaxTrials = 10
	// FutilityBeta is each metric's level for "within the fail threshold"
	// when a sequential A/B stops early with every metric inside, where its
	// levels cannot be told apart (error_rate, a single level).
	FutilityBeta = 0.25
	// WithinBeta is a look's level of the within test for one metric at
	// all its levels together (withinLevels spreads it over the levels).
	WithinBeta = 0.02
	// LookShare is the share of alpha each look of a sequential A/B uses
	// (a Pocock-type constant boundary); a fixed-sample comparison uses all
	// of alpha once.
	LookShare = 0.4
	// MarginShare places the fail test's margin between the thresholds:
	// "worse than warn + MarginShare × (fail − warn)" is what a fail must
	// show with confidence (3.5 % for a 3 % / 5 % metric).
	MarginShare = 0.25
)

// Rule is one gating metric.
type Rule struct {
	Metric           string
	WarnPct, FailPct float64 // percent worse (percentage points for error_rate)
}

// Rules are a comparison's settings.
type Rules struct {
	Alpha     float64
	MinTrials int     // per side; default DefaultMinTrials
	MaxTrials int     // per side, sequential A/B only; default DefaultMaxTrials
	Conf      float64 // confidence level of intervals; default 0.95
	Metrics   []Rule
	// TwoSided (the release profile) also warns on a significant improvement
	// beyond the fail threshold: an unexplained large change deserves review.
	TwoSided bool
}

// WithDefaults fills what a zero Rules leaves open: alpha 0.05, 95 %
// intervals, DefaultMinTrials and DefaultMaxTrials (never below the minimum).
func (r Rules) WithDefaults() Rules {
	if r.Conf == 0 {
		r.Conf = 0.95
	}
	if r.Alpha == 0 {
		r.Alpha = 0.05
	}
	if r.MinTrials == 0 {
		r.MinTrials = DefaultMinTrials
	}
	if r.MaxTrials == 0 {
		r.MaxTrials = max(DefaultMaxTrials, r.MinTrials)
	}
	return r
}

// HigherIsBetter reports the direction of a metric (metric.HigherIsBetter).
func HigherIsBetter(name string) bool { return metric.HigherIsBetter(name) }

// Absolute metrics are compared by difference (percentage points), not
// ratio (metric.Absolute).
func Absolute(name string) bool { return metric.Absolute(name) }

// Count is one trial's failed and issued requests at a level.
type Count struct {
	Failed int `json:"failed"`
	Issued int `json:"issued"`
}

// Input is one (level, metric) to test.
type Input struct {
	Level     int // 1-based level number
	Metric    string
	Baseline  []float64 // one value per trial
	Candidate []float64
	// For error_rate: each trial's request counts. Without them the rates
	// are pooled as if every trial issued 1,000 requests.
	BaselineCounts, CandidateCounts []Count
}

// Result is the decision on one (level, metric).
type Result struct {
	Level     int       `json:"level"`
	Metric    string    `json:"metric"`
	Baseline  []float64 `json:"baseline"`
	Candidate []float64 `json:"candidate"`
	// For error_rate: the request counts the decision pooled.
	BaselineCounts  []Count      `json:"baseline_counts,omitempty"`
	CandidateCounts []Count      `json:"candidate_counts,omitempty"`
	BaselineMedian  float64      `json:"baseline_median"`
	CandMedian      float64      `json:"candidate_median"`
	ChangePct       record.Float `json:"change_pct"`  // Hodges-Lehmann estimate, in % (pp for error_rate: pooled difference)
	CILowPct        record.Float `json:"ci_low_pct"`  // confidence interval of the change: the test's own (t on log values, pooled noise);
	CIHighPct       record.Float `json:"ci_high_pct"` // distribution-free Hodges-Lehmann below two trials a side (±Inf when too small)
	WorsePct        record.Float `json:"worse_pct"`   // the change in the bad direction (negative: better)
	// P is the fail test: one-sided, "worse than the margin" (Margin; a t
	// test on log values with the metric's noise pooled over its levels;
	// Fisher's exact test on pooled counts for error_rate). Q is its
	// Benjamini-Hochberg value over the comparison. MarginPct is the
	// margin tested: Margin, or the fail threshold less one standard error
	// where that is higher (quiet trials).
	P         float64      `json:"p"`
	MarginPct float64      `json:"margin_pct"`
	Q         record.Float `json:"q"`
	// PWarn and QWarn test "worse than the warn threshold" the same way:
	// the evidence a warn needs.
	PWarn float64      `json:"p_warn"`
	QWarn record.Float `json:"q_warn"`
	// PWorse and QWorse test "worse" at all (no margin) the same way: the
	// evidence an inconclusive warn needs, so that noise alone cannot turn
	// a check yellow.
	PWorse   float64      `json:"p_worse"`
	QWorse   record.Float `json:"q_worse"`
	PRank    float64      `json:"p_rank"`    // distribution-free cross-check: one-sided U test of "worse" (no margin)
	PBeyond  float64      `json:"p_within"`  // one-sided test of "within the fail threshold" (small: clearly within)
	PBetter  float64      `json:"p_better"`  // one-sided test of "better"
	N        [2]int       `json:"n"`         // trials: baseline, candidate
	NoisePct record.Float `json:"noise_pct"` // pooled per-trial standard deviation of log values, in %
	// DetectablePct is the true change (worse, %) that these trials catch
	// with 90 % power at this noise: the fail test's reach.
	DetectablePct record.Float `json:"detectable_pct"`
	// MoreTrials, on an inconclusive warn, is about how many trials per side
	// would make the observed change significant (0 when not applicable).
	MoreTrials  int            `json:"more_trials,omitempty"`
	Verdict     metric.Verdict `json:"verdict"`       // pass, warn, fail
	Improved    bool           `json:"improved"`      // significantly better by more than the warn threshold
	Gating      bool           `json:"gating"`        // a rule of the gate (others are reported only)
	WarnPct     float64        `json:"warn_pct"`      // the thresholds applied
	FailPct     float64        `json:"fail_pct"`      //
	Reason      string         `json:"reason"`        // one line: why this verdict
	BelowNoise  bool           `json:"below_noise"`   // these trials cannot detect twice the fail threshold
	CanBeSignif bool           `json:"can_be_signif"` // enough trials for a fail to be possible
	// LeftOut are the outlier trials (Outliers) the ratio test left out:
	// a trial far off on every gating metric together, of a side that keeps
	// at least three others. Baseline and Candidate still hold every trial.
	LeftOut []Outlier `json:"left_out,omitempty"`
	// NoSuccess names the side ("baseline", "candidate" or "both") of which
	// every request issued at this level failed: a fail whatever the trial
	// count, since there is nothing of that side to measure (BrokenSides).
	NoSuccess string `json:"no_success,omitempty"`
	// logWorse and logSE are the t-test's difference (worse, log scale)
	// and standard error: a look's futility projection.
	logWorse, logSE float64
}

// Outcome is the comparison's overall decision.
type Outcome struct {
	Verdict  metric.Verdict `json:"verdict"`
	Results  []Result       `json:"results"`
	Headline string         `json:"headline"`
	Notes    []string       `json:"notes,omitempty"`
	// Alpha is the level the decision used (a look's share in a sequential A/B).
	Alpha float64 `json:"alpha"`
	// Stop and StopReason: a sequential look's decision to stop, and why
	// ("fail", "within", "max-trials"); a fixed-sample decision always stops
	// ("fixed").
	Stop       bool   `json:"stop"`
	StopReason string `json:"stop_reason"`
	// FailHolds, on a look that fails with outlier trials among its data,
	// says the fail stands with them left out too: re-running them cannot
	// change the decision, so the A/B spends no engine start on them.
	FailHolds bool `json:"-"`
}

// Stop reasons.
const (
	StopFail   = "fail"       // a metric is significantly past its fail threshold
	StopWithin = "within"     // every metric is shown within its fail threshold
	StopMax    = "max-trials" // the last look
	StopFutile = "futile"     // the maximum could not decide either
	StopFixed  = "fixed"      // a fixed set of trials (perfgate compare)
)

// StopWords says a stop reason in words.
func StopWords(reason string, n int) string {
	switch reason {
	case StopFail:
		return fmt.Sprintf("stopped after %d trials per side: a regression is clear", n)
	case StopWithin:
		return fmt.Sprintf("stopped after %d trials per side: every gating metric is clearly within its fail threshold", n)
	case StopMax:
		return fmt.Sprintf("stopped at the maximum of %d trials per side", n)
	case StopFutile:
		return fmt.Sprintf("stopped after %d trials per side: at this noise the maximum could not decide either", n)
	}
	return fmt.Sprintf("%d trials per side, fixed", n)
}

// lookAlpha is the level of one look of a sequential A/B.
func lookAlpha(alpha float64) float64 { return alpha * LookShare }

// Decide is the fixed-sample decision on a given set of trials (perfgate
// compare): all of alpha, one look.
func Decide(inputs []Input, r Rules) Outcome {
	r = r.WithDefaults()
	o := decide(inputs, r, r.Alpha, true)
	o.Stop, o.StopReason = true, StopFixed
	return o
}

// Recheck decides again from the per-trial values an outcome carries, as
// the decision that made it (a fixed decision, or a sequential look), and
// says where the stated verdicts do not follow from the data: a reporter's
// check of results that untrusted code wrote. It returns the outcome it
// decided, whose numbers (changes, intervals, trial counts) are the ones to
// publish: only the verdicts of the file were compared.
func Recheck(o Outcome, r Rules) (Outcome, error) {
	inputs := make([]Input, len(o.Results))
	for i, x := range o.Results {
		inputs[i] = Input{Level: x.Level, Metric: x.Metric, Baseline: x.Baseline, Candidate: x.Candidate,
			BaselineCounts: x.BaselineCounts, CandidateCounts: x.CandidateCounts}
	}
	var again Outcome
	switch o.StopReason {
	case StopFail, StopWithin, StopMax, StopFutile:
		again = Look(inputs, r)
	default:
		again = Decide(inputs, r)
	}
	for i, x := range again.Results {
		if got := o.Results[i]; got.Verdict != x.Verdict || got.Gating != x.Gating {
			return Outcome{}, fmt.Errorf("result %d (level %d %s) says %s, its own trial data say %s", i+1, x.Level, x.Metric, got.Verdict, x.Verdict)
		}
	}
	if o.Verdict != again.Verdict {
		return Outcome{}, fmt.Errorf("the verdict says %s, its own trial data say %s", o.Verdict, again.Verdict)
	}
	return again, nil
}

// Look is one look of a sequential A/B at the trials so far (balanced: the
// same number per side). It says whether to stop and why; at MaxTrials it
// always stops.
func Look(inputs []Input, r Rules) Outcome {
	r = r.WithDefaults()
	o := decide(inputs, r, lookAlpha(r.Alpha), false)
	n := trialsOf(inputs)
	beta := withinLevels(inputs)
	within := true
	for _, x := range o.Results {
		if x.Gating && !(x.PBeyond <= withinLevel(beta, x.Metric)) {
			within = false
		}
	}
	ols := Outliers(inputs, r)
	switch {
	case o.Verdict == metric.Fail:
		o.Stop, o.StopReason = true, StopFail
		if tested, left := keepInliersOf(inputs, r, ols); len(left) > 0 {
			o.FailHolds = decide(tested, r, lookAlpha(r.Alpha), false).Verdict == metric.Fail
		}
	case within && n >= r.MinTrials && len(ols) == 0:
		o.Stop, o.StopReason = true, StopWithin
	case n >= r.MaxTrials:
		o.Stop, o.StopReason = true, StopMax
	case n >= FutilityFrom && o.Verdict == metric.Warn:
		// Worse already, and neither a fail nor the within stop in reach:
		// the grey zone, which would otherwise run to the maximum.
		if need, futile := futility(o.Results, beta, n, r); futile {
			o.Stop, o.StopReason = true, StopFutile
			o.Notes = append(o.Notes, need)
		}
	}
	return o
}

// FutilityFrom is the first look at which a sequential A/B may stop for
// futility: three trials a side say too little about the noise.
const FutilityFrom = 4

// futilityPower is the predictive power below which the maximum is taken
// to be unable to decide.
const futilityPower = 0.05

// futility says whether the maximum number of trials can no longer decide:
// no gating metric has a real chance of failing by then (predictive power
// under a flat prior, Spiegelhalter et al. 1986, below futilityPower),
// while some metric cannot be shown within its fail threshold either. The
// A/B would end at the maximum just as unclear; it stops now and says what
// would decide: about how many trials per side the noisiest metric needs.
func futility(res []Result, beta map[string]float64, n int, r Rules) (string, bool) {
	N := float64(r.MaxTrials)
	nn := float64(n)
	if N <= nn {
		return "", false
	}
	za := stats.TQuantile(1-lookAlpha(r.Alpha), 1e6)
	stuck, need, widest := false, 0, 0.0
	for _, x := range res {
		if !x.Gating || Absolute(x.Metric) || !(x.logSE > 0) {
			continue
		}
		marginL := math.Log1p(x.MarginPct / 100)
		failL := math.Log1p(x.FailPct / 100)
		if predictive((x.logWorse-marginL)/x.logSE, za, nn, N) >= futilityPower {
			return "", false // a fail is still in reach
		}
		zb := stats.TQuantile(1-withinLevel(beta, x.Metric), 1e6)
		if predictive((failL-x.logWorse)/x.logSE, zb, nn, N) < futilityPower {
			stuck = true
			// trials per side for the within test to reach its level at
			// 80 % power, were the change what it is now
			sd := x.logSE / math.Sqrt(2/nn)
			if gap := failL - math.Max(x.logWorse, 0); gap > 0 {
				if k := int(math.Ceil(2 * math.Pow((zb+0.8416)*sd/gap, 2))); k > need {
					need = k
				}
			}
			widest = math.Max(widest, 100*(math.Exp(zb*x.logSE*math.Sqrt(nn/N))-1))
		}
	}
	if !stuck {
		return "", false
	}
	words := fmt.Sprintf("stopped early: at the noise measured, %d trials per side could neither show a regression nor rule one out (±%.1f %% at the maximum)", r.MaxTrials, widest)
	if need > r.MaxTrials {
		words += fmt.Sprintf("; about %d trials per side would", min(need, 999))
	}
	return words, true
}

// predictive is the predictive power of a one-sided z-test at the final
// look of N trials per side, from z at n trials under a flat prior.
func predictive(z, zcrit, n, N float64) float64 {
	return 0.5 * math.Erfc(-((z*math.Sqrt(N)-zcrit*math.Sqrt(n))/math.Sqrt(N-n))/math.Sqrt2)
}

func trialsOf(inputs []Input) int {
	n := math.MaxInt
	for _, in := range inputs {
		n = min(n, len(in.Baseline), len(in.Candidate))
	}
	if n == math.MaxInt {
		return 0
	}
	return n
}

// CanFail says whether n trials per side can ever give a fail, and if not why.
func CanFail(n int, r Rules) (bool, string) {
	r = r.WithDefaults()
	if n < r.MinTrials {
		return false, fmt.Sprintf("with %d trial(s) per side the gate can warn but never fail: a fail needs at least %d (gate.min_trials)", n, r.MinTrials)
	}
	if n < 2 {
		return false, "with 1 trial per side there is no trial-to-trial noise to test against: the gate can warn but never fail"
	}
	return true, ""
}

const zPower90 = 1.2815515655446004

// Broken is a level at which every request of a side failed.
type Broken struct {
	Side           string // baseline, candidate or both
	Failed, Issued int    // the broken side's pooled counts (the candidate's when both)
}

// BrokenSides finds, from the request counts the inputs carry (error_rate's),
// the levels at which a side issued requests and none succeeded. Such a
// level fails at any number of trials: a candidate that answers every
// request with an error is the change a gate exists to stop, and one trial
// of it is enough to know (the counts are of requests, not trials).
func BrokenSides(inputs []Input) map[int]Broken {
	out := map[int]Broken{}
	for _, in := range inputs {
		if len(in.BaselineCounts) == 0 || len(in.CandidateCounts) == 0 {
			continue
		}
		fb, ib := pool(in.BaselineCounts)
		fc, ic := pool(in.CandidateCounts)
		bb, cb := ib > 0 && fb >= ib, ic > 0 && fc >= ic
		switch {
		case bb && cb:
			out[in.Level] = Broken{"both", fc, ic}
		case cb:
			out[in.Level] = Broken{"candidate", fc, ic}
		case bb:
			out[in.Level] = Broken{"baseline", fb, ib}
		}
	}
	return out
}

// Words says a broken level in words.
func (b Broken) Words() string {
	if b.Side == "both" {
		return fmt.Sprintf("every request of both sides failed (candidate: %d of %d)", b.Failed, b.Issued)
	}
	return fmt.Sprintf("every %s request failed (%d of %d)", b.Side, b.Failed, b.Issued)
}

// decide decides every input; leaveOut (a fixed decision) tests the ratio
// metrics without the outlier trials a side can spare (keepInliers). A
// sequential look keeps them: perfgate ab re-runs outliers before it looks,
// and leaving out what is left made the looks anti-conservative under slow
// engine starts (A/A fails 3.1 % for 1.6 % in the calibration).
func decide(inputs []Input, r Rules, alpha float64, leaveOut bool) Outcome {
	rules := map[string]Rule{}
	for _, m := range r.Metrics {
		rules[m.Metric] = m
	}
	broken := BrokenSides(inputs)
	// The ratio tests decide without outlier trials a side can spare
	// (keepInliers); the results still show every trial.
	tested, left := inputs, []Outlier(nil)
	if leaveOut {
		tested, left = keepInliers(inputs, r)
	}
	pools := poolNoise(tested)
	res := make([]Result, len(inputs))
	var ps, pw, pz []float64
	var gatingIdx []int
	for i, in := range inputs {
		x := Result{Level: in.Level, Metric: in.Metric, Baseline: in.Baseline, Candidate: in.Candidate,
			BaselineCounts: in.BaselineCounts, CandidateCounts: in.CandidateCounts,
			N: [2]int{len(in.Baseline), len(in.Candidate)}, Verdict: metric.Pass}
		x.BaselineMedian, x.CandMedian = stats.Median(in.Baseline), stats.Median(in.Candidate)
		rule, gating := rules[in.Metric]
		x.WarnPct, x.FailPct = rule.WarnPct, rule.FailPct
		ok, why := CanFail(min(x.N[0], x.N[1]), r)
		x.CanBeSignif = ok
		if Absolute(in.Metric) {
			testCounts(&x, in, rule, r)
		} else {
			testRatio(&x, tested[i], rule, r, alpha, pools[in.Metric])
			x.LeftOut = left
		}
		if !ok && gating {
			x.Reason = why
		}
		if gating {
			x.Gating = true
			gatingIdx = append(gatingIdx, i)
			ps = append(ps, x.P)
			pw = append(pw, x.PWarn)
			pz = append(pz, x.PWorse)
		}
		res[i] = x
	}
	q, qw, qz := stats.BenjaminiHochberg(ps), stats.BenjaminiHochberg(pw), stats.BenjaminiHochberg(pz)
	for j, i := range gatingIdx {
		res[i].Q, res[i].QWarn, res[i].QWorse = record.Float(q[j]), record.Float(qw[j]), record.Float(qz[j])
	}
	out := Outcome{Verdict: metric.Pass, Alpha: alpha}
	for i := range res {
		x := &res[i]
		if !x.Gating {
			x.Q, x.QWarn, x.QWorse, x.Verdict, x.Reason = nan, nan, nan, metric.Pass, "reported only"
			continue
		}
		b, isBroken := broken[x.Level]
		judge(x, r, alpha, b, isBroken)
		if len(x.LeftOut) > 0 && !isBroken {
			x.Reason += fmt.Sprintf(" (tested without %s)", outlierWords(x.LeftOut))
		}
		// Improvements: the better-direction test, Bonferroni over the gating metrics.
		if !isBroken && x.CanBeSignif && x.PBetter*float64(len(gatingIdx)) <= alpha && -float64(x.WorsePct) > x.WarnPct {
			x.Improved, x.Reason = true, "significantly better"
			if r.TwoSided && -float64(x.WorsePct) > x.FailPct {
				x.Verdict, x.Reason = metric.Warn, "significantly better by more than the fail threshold: unexplained, review it"
			}
		}
		out.Verdict = metric.Worst(out.Verdict, x.Verdict)
	}
	out.Results = res
	return out
}

// judge gives a gating result its verdict and reason from its tests: a fail
// at the look's alpha, a warn's evidence at the comparison's.
func judge(x *Result, r Rules, alpha float64, b Broken, isBroken bool) {
	signif := x.CanBeSignif && float64(x.Q) <= alpha
	// A warn stops nothing, so its evidence is at the comparison's
	// alpha at every look, corrected over the family like a fail's.
	signifWarn := x.CanBeSignif && float64(x.QWarn) <= r.Alpha
	signifWorse := x.CanBeSignif && float64(x.QWorse) <= r.Alpha
	switch {
	case isBroken:
		x.Verdict, x.Reason, x.NoSuccess = metric.Fail, b.Words(), b.Side
	case x.WorsePct.IsNaN():
		x.Verdict, x.Reason = metric.Warn, "cannot be compared (missing or zero values)"
	case signif && float64(x.WorsePct) > x.FailPct:
		x.Verdict, x.Reason = metric.Fail, fmt.Sprintf("significantly worse than %s, estimated past the fail threshold", marginWords(x))
	case signifWarn && float64(x.WorsePct) > x.WarnPct:
		x.Verdict, x.Reason = metric.Warn, "significantly worse than the warn threshold"
	case signifWorse && float64(x.WorsePct) > x.FailPct:
		x.Verdict = metric.Warn
		x.Reason = "significantly worse and estimated past the fail threshold, but not significantly past " + marginWords(x) + ": inconclusive"
		if x.MoreTrials > 0 {
			x.Reason += fmt.Sprintf(" — about %d more trials per side would tell", x.MoreTrials)
		}
	case signifWorse && float64(x.WorsePct) > x.WarnPct:
		x.Verdict, x.Reason = metric.Warn, "significantly worse, estimated past the warn threshold"
	case !x.CanBeSignif && float64(x.WorsePct) > x.FailPct:
		// Too few trials for any test: the estimate is all there is,
		// and a large one is worth a warn (the reason says why).
		x.Verdict = metric.Warn
		if x.Reason == "" {
			x.Reason = "past the fail threshold, with too few trials to test it"
		}
	case float64(x.WorsePct) > x.FailPct:
		// Noise alone: the estimate is past the threshold, but the
		// trials do not show the candidate worse at all. A pass that
		// says so, not a warn (every metric's noise would make some).
		x.Verdict = metric.Pass
		x.Reason = "estimated past the fail threshold, but not significantly worse: within the noise"
		if x.MoreTrials > 0 {
			x.Reason += fmt.Sprintf(" — about %d more trials per side would tell", x.MoreTrials)
		}
	default:
		x.Verdict = metric.Pass
		if x.Reason == "" {
			x.Reason = "within the thresholds"
		}
	}
}

// testRatio fills a ratio metric's estimate and tests (log scale).
func testRatio(x *Result, in Input, rule Rule, r Rules, alpha float64, pool noisePool) {
	x.P, x.PWarn, x.PWorse, x.PBeyond, x.PBetter, x.PRank = 1, 1, 1, 1, 1, 1
	if !positive(in.Baseline) || !positive(in.Candidate) {
		x.ChangePct, x.CILowPct, x.CIHighPct, x.WorsePct = nan, record.Float(math.Inf(-1)), record.Float(math.Inf(1)), nan
		x.NoisePct, x.DetectablePct = nan, nan
		return
	}
	est, lo, hi, _ := stats.HodgesLehmann(in.Baseline, in.Candidate, r.Conf)
	x.ChangePct, x.CILowPct, x.CIHighPct = record.Float(100*(est-1)), record.Float(100*(lo-1)), record.Float(100*(hi-1))
	sign := 1.0
	lb, lc := stats.Logs(in.Baseline), stats.Logs(in.Candidate)
	if HigherIsBetter(in.Metric) {
		sign = -1
		x.WorsePct = -x.ChangePct
		x.PRank = stats.UTestLess(in.Baseline, in.Candidate)
	} else {
		x.WorsePct = x.ChangePct
		x.PRank = stats.UTestGreater(in.Baseline, in.Candidate)
	}
	diff, se, df := stats.Welch(lb, lc)
	d := sign * diff // log "worse"
	nb, nc := float64(len(lb)), float64(len(lc))
	lv, dl := levelVar(lb, lc)
	if v := lv; nb >= 2 && nc >= 2 && v > 0 {
		// This level's noise moved towards what the metric's other levels
		// say, as far as they agree with it (an empirical Bayes, or
		// moderated, t-test): agreeing levels lend their degrees of
		// freedom; a quiet level beside a noisy one keeps its own noise.
		// The prior never outweighs the level's own trials: fitted from
		// three levels it can look surer than it is, and at full weight it
		// failed an A/A at the real vLLM's noise 2.5 % of the time (2.0 %
		// capped; calibrate -targets).
		v, df = stats.Squeezed(v, dl, math.Min(pool.d0, dl), pool.s0sq, pool.total)
		se = math.Sqrt(v * (1/nb + 1/nc))
	}
	// pooled per-trial noise (log SD), for the reader and the reach
	pooled := 0.0
	if dl > 0 {
		pooled = math.Sqrt(lv)
	}
	x.NoisePct = record.Float(100 * pooled)
	warnL, marginL, failL := math.Log1p(rule.WarnPct/100), math.Log1p(Margin(rule)/100), math.Log1p(rule.FailPct/100)
	if se > 0 {
		// Quiet trials afford a margin closer to the fail threshold: a
		// fail then shows the candidate worse than the threshold less one
		// standard error. At 1 % noise the quarter-way margin let a true
		// +4 % fail one A/B in ten.
		marginL = math.Max(marginL, failL-se)
	}
	x.MarginPct = 100 * math.Expm1(marginL)
	if se > 0 && !math.IsNaN(df) && df > 0 {
		// the interval that goes with the test: t on the log scale
		h := stats.TQuantile(1-(1-r.Conf)/2, df) * se
		lo, hi := math.Exp(diff-h), math.Exp(diff+h)
		x.CILowPct, x.CIHighPct = record.Float(100*(lo-1)), record.Float(100*(hi-1))
	}
	x.logWorse, x.logSE = d, se
	x.P = upper(d-marginL, se, df)
	x.PWarn = upper(d-warnL, se, df)
	x.PWorse = upper(d, se, df)
	x.PBeyond = upper(failL-d, se, df)
	x.PBetter = upper(-d, se, df)
	if nb >= 2 && nc >= 2 {
		k := 1 / math.Sqrt(1/nb+1/nc) // se = pooled/k
		// one-sided test at a level of alpha shared by the metrics that move
		za := stats.TQuantile(1-alpha/3, nb+nc-2)
		x.DetectablePct = record.Float(100 * (math.Exp(marginL+(za+zPower90)*pooled/k) - 1))
		x.BelowNoise = float64(x.DetectablePct) > 2*rule.FailPct
		if d > failL && x.P > alpha {
			// trials per side for the observed excess over the margin to reach alpha/3 at 80 % power
			need := 2 * math.Pow((za+0.8416)*pooled/(d-marginL), 2)
			if m := int(math.Ceil(need)) - int(min(nb, nc)); m > 0 && m < 1000 {
				x.MoreTrials = m
			}
		}
	} else {
		x.DetectablePct = nan
	}
}

// Margin is the fail test's null: worse by at most this many percent.
func Margin(r Rule) float64 { return r.WarnPct + MarginShare*(r.FailPct-r.WarnPct) }

func marginWords(x *Result) string {
	if Absolute(x.Metric) {
		return "the baseline"
	}
	m := x.MarginPct
	if m == 0 {
		m = Margin(Rule{WarnPct: x.WarnPct, FailPct: x.FailPct})
	}
	return fmt.Sprintf("%.3g %%", m)
}

// upper is the one-sided p of "the mean of log-worse exceeds 0" shifted by m: P(T ≥ m/se).
func upper(m, se, df float64) float64 {
	if se == 0 {
		switch {
		case m > 0:
			return 0
		case m == 0:
			return 0.5
		}
		return 1
	}
	if math.IsNaN(df) || df <= 0 {
		return 1
	}
	return stats.TUpper(m/se, df)
}

// testCounts fills error_rate's estimate and tests from pooled request counts.
func testCounts(x *Result, in Input, rule Rule, r Rules) {
	bc, cc := in.BaselineCounts, in.CandidateCounts
	if len(bc) != len(in.Baseline) || len(cc) != len(in.Candidate) {
		bc, cc = assumeCounts(in.Baseline), assumeCounts(in.Candidate)
	}
	fb, ib := pool(bc)
	fc, ic := pool(cc)
	x.PRank = stats.UTestGreater(in.Baseline, in.Candidate)
	if ib == 0 || ic == 0 {
		x.ChangePct, x.WorsePct, x.CILowPct, x.CIHighPct = nan, nan, record.Float(math.Inf(-1)), record.Float(math.Inf(1))
		x.P, x.PWarn, x.PWorse, x.PBeyond, x.PBetter = 1, 1, 1, 1, 1
		return
	}
	rb, rc := float64(fb)/float64(ib), float64(fc)/float64(ic)
	x.ChangePct = record.Float(100 * (rc - rb))
	x.WorsePct = x.ChangePct
	// exact one-sided bounds of each side's rate, combined conservatively
	a := (1 - r.Conf) / 2
	x.CILowPct = record.Float(100 * (lowerCP(fc, ic, 1-a) - stats.ClopperPearsonUpper(fb, ib, 1-a)))
	x.CIHighPct = record.Float(100 * (stats.ClopperPearsonUpper(fc, ic, 1-a) - lowerCP(fb, ib, 1-a)))
	x.P = stats.FisherGreater(fb, ib, fc, ic)
	x.PWarn, x.PWorse = x.P, x.P
	x.PBetter = stats.FisherGreater(fc, ic, fb, ib)
	// within the fail threshold: the candidate's upper bound at 1−β, less
	// the baseline's rate, stays under fail_pp
	x.PBeyond = 1
	if 100*(stats.ClopperPearsonUpper(fc, ic, 1-FutilityBeta)-rb) < rule.FailPct {
		x.PBeyond = 0 // shown within at the futility level
	}
	x.NoisePct, x.DetectablePct = nan, nan
}

func lowerCP(x, n int, conf float64) float64 {
	if x == 0 {
		return 0
	}
	return 1 - stats.ClopperPearsonUpper(n-x, n, conf)
}

func assumeCounts(rates []float64) []Count {
	out := make([]Count, len(rates))
	for i, v := range rates {
		out[i] = Count{Failed: int(math.Round(1000 * v)), Issued: 1000}
	}
	return out
}

func pool(cs []Count) (failed, issued int) {
	for _, c := range cs {
		failed += c.Failed
		issued += c.Issued
	}
	return
}

func positive(xs []float64) bool {
	for _, x := range xs {
		if !(x > 0) {
			return false
		}
	}
	return len(xs) > 0
}

// Outlier is a trial whose gating metrics together sit far from the other
// trials of its side: a slow (or fast) trial that the machine, not the
// code, most likely caused.
type Outlier struct {
	Side     string  `json:"side"`  // baseline or candidate
	Index    int     `json:"index"` // 0-based position among the side's trials
	ShiftPct float64 `json:"shift_pct"`
}

// OutlierFloorPct is the smallest whole-trial shift called an outlier,
// whatever the noise: below it a trial is ordinary variation. A float: as
// an untyped integer, OutlierFloorPct/100 was integer division, 0, and
// every trial past four noise scales was re-run, however small its shift
// (a clock state 4 % slower among quiet trials was).
const OutlierFloorPct = 8.0

// Outliers finds outlier trials. A trial's shift is the median, over the
// gating ratio metrics, of its log distance from its side's median in the
// worse direction; the noise scale is the MAD of every such distance. A
// trial is an outlier when its shift exceeds 4 noise scales and
// OutlierFloorPct. A side needs 3 trials for "the others" to mean anything.
func Outliers(inputs []Input, r Rules) []Outlier {
	rules := map[string]bool{}
	for _, m := range r.Metrics {
		rules[m.Metric] = true
	}
	shifts := map[string][][]float64{} // side → trial → distances
	var all []float64
	for _, in := range inputs {
		if !rules[in.Metric] || Absolute(in.Metric) || !positive(in.Baseline) || !positive(in.Candidate) {
			continue
		}
		sign := 1.0
		if HigherIsBetter(in.Metric) {
			sign = -1
		}
		for _, side := range []struct {
			name string
			xs   []float64
		}{{"baseline", in.Baseline}, {"candidate", in.Candidate}} {
			l := stats.Logs(side.xs)
			med := stats.Median(l)
			if len(shifts[side.name]) < len(l) {
				shifts[side.name] = append(shifts[side.name], make([][]float64, len(l)-len(shifts[side.name]))...)
			}
			for j, v := range l {
				shifts[side.name][j] = append(shifts[side.name][j], sign*(v-med))
				all = append(all, v-med)
			}
		}
	}
	if len(all) == 0 {
		return nil
	}
	scale := stats.MAD(all)
	var out []Outlier
	for _, side := range []string{"baseline", "candidate"} {
		ts := shifts[side]
		if len(ts) < 3 {
			continue
		}
		for j, ds := range ts {
			s := stats.Median(slices.Clone(ds))
			if s > 4*scale && s > math.Log1p(OutlierFloorPct/100) {
				out = append(out, Outlier{Side: side, Index: j, ShiftPct: 100 * (math.Exp(s) - 1)})
			}
		}
	}
	return out
}

// noisePool is what a metric's levels say together about its noise: the
// empirical Bayes prior of their per-trial log variances (stats.SqueezeVar)
// and their degrees of freedom in all.
type noisePool struct{ d0, s0sq, total float64 }

// levelVar is a level's per-trial variance of log values, both sides
// pooled, and its degrees of freedom.
func levelVar(lb, lc []float64) (v, df float64) {
	for _, l := range [][]float64{lb, lc} {
		if len(l) < 2 {
			continue
		}
		_, sd := stats.MeanSD(l)
		v += sd * sd * float64(len(l)-1)
		df += float64(len(l) - 1)
	}
	if df == 0 {
		return math.NaN(), 0
	}
	return v / df, df
}

// poolNoise fits each ratio metric's noise prior over its levels: levels
// whose noise agrees share it (more degrees of freedom than three trials
// give), a quiet level beside a noisy one keeps its own.
func poolNoise(inputs []Input) map[string]noisePool {
	vars, dfs := map[string][]float64{}, map[string][]float64{}
	for _, in := range inputs {
		if Absolute(in.Metric) || !positive(in.Baseline) || !positive(in.Candidate) {
			continue
		}
		v, df := levelVar(stats.Logs(in.Baseline), stats.Logs(in.Candidate))
		if df > 0 {
			vars[in.Metric], dfs[in.Metric] = append(vars[in.Metric], v), append(dfs[in.Metric], df)
		}
	}
	out := map[string]noisePool{}
	for m, vs := range vars {
		p := noisePool{}
		p.d0, p.s0sq = stats.SqueezeVar(vs, dfs[m])
		for _, d := range dfs[m] {
			p.total += d
		}
		out[m] = p
	}
	return out
}

// keepInliers returns the inputs with each outlier trial (Outliers) taken
// out of the ratio metrics' values, for a side that keeps at least three
// trials (and the minimum) without them, and the trials taken out. A slow
// engine start, a throttled GPU or a noisy neighbour moves every metric of
// one trial together; kept in a t-test it inflates that side's noise until
// a real regression reads as inconclusive. perfgate ab re-runs such trials
// within gate.outlier_reruns; what is left, and what perfgate compare is
// given, is decided without them. error_rate keeps every request.
func keepInliers(inputs []Input, r Rules) ([]Input, []Outlier) {
	return keepInliersOf(inputs, r, Outliers(inputs, r))
}

// keepInliersOf is keepInliers with the outliers already found.
func keepInliersOf(inputs []Input, r Rules, ols []Outlier) ([]Input, []Outlier) {
	if len(ols) == 0 {
		return inputs, nil
	}
	n := map[string]int{}
	for _, in := range inputs {
		if !Absolute(in.Metric) {
			n[Baseline], n[Candidate] = max(n[Baseline], len(in.Baseline)), max(n[Candidate], len(in.Candidate))
		}
	}
	drop := map[string]map[int]bool{Baseline: {}, Candidate: {}}
	for _, o := range ols {
		drop[o.Side][o.Index] = true
	}
	var left []Outlier
	for _, o := range ols {
		if n[o.Side]-len(drop[o.Side]) >= max(3, r.MinTrials) {
			left = append(left, o)
		}
	}
	if len(left) == 0 {
		return inputs, nil
	}
	keep := func(xs []float64, side string) []float64 {
		var out []float64
		for j, v := range xs {
			if !slices.ContainsFunc(left, func(o Outlier) bool { return o.Side == side && o.Index == j }) {
				out = append(out, v)
			}
		}
		return out
	}
	out := slices.Clone(inputs)
	for i, in := range inputs {
		if Absolute(in.Metric) {
			continue
		}
		out[i].Baseline, out[i].Candidate = keep(in.Baseline, Baseline), keep(in.Candidate, Candidate)
	}
	return out, left
}

func outlierWords(ols []Outlier) string {
	var parts []string
	for _, o := range ols {
		parts = append(parts, fmt.Sprintf("the %s's trial %d (%+.0f %%)", o.Side, o.Index+1, o.ShiftPct))
	}
	return "outlier " + strings.Join(parts, " and ")
}

// withinLevels is each ratio metric's level for the within test of one
// look. The within stop is an intersection-union test: every level of a
// metric must show it within its fail threshold, so a true change at the
// threshold at every level slips through at WithinBeta when the levels'
// noise moves together (a slow trial is slow at every level) but far less
// when it does not. Each level's test therefore runs at WithinBeta^(1/m),
// m the effective number of independent levels, 1 + (L−1)(1−ρ), from an
// upper confidence bound of the levels' average correlation ρ within
// trials: few trials, or levels that move together, keep the stop strict.
func withinLevels(inputs []Input) map[string]float64 {
	byMetric := map[string][]Input{}
	var order []string
	for _, in := range inputs {
		if Absolute(in.Metric) || !positive(in.Baseline) || !positive(in.Candidate) {
			continue
		}
		if _, ok := byMetric[in.Metric]; !ok {
			order = append(order, in.Metric)
		}
		byMetric[in.Metric] = append(byMetric[in.Metric], in)
	}
	out := map[string]float64{}
	for _, m := range order {
		levels := byMetric[m]
		rho, df := levelCorrelation(levels)
		up := 1.0
		if df > 1 && !math.IsNaN(rho) {
			z := math.Atanh(max(-0.999, min(0.999, rho))) + zWithinCorr/math.Sqrt(df-1)
			up = math.Tanh(z)
		}
		eff := 1 + float64(len(levels)-1)*(1-max(0, up))
		out[m] = math.Pow(WithinBeta, 1/eff)
	}
	return out
}

// withinLevel is a metric's level for the within test (withinLevels), or
// FutilityBeta where its levels cannot be told apart (error_rate).
func withinLevel(beta map[string]float64, metric string) float64 {
	if b, ok := beta[metric]; ok {
		return b
	}
	return FutilityBeta
}

// zWithinCorr is the normal quantile of the correlation's upper bound
// (80 %, one-sided).
const zWithinCorr = 0.8416212335729143

// levelCorrelation is the average correlation between a metric's levels of
// the log values' deviations from their side's mean at each level, trial by
// trial (the same trial at every level), both sides pooled, and the degrees
// of freedom behind it.
func levelCorrelation(levels []Input) (rho, df float64) {
	if len(levels) < 2 {
		return math.NaN(), 0
	}
	dev := func(xs []float64) []float64 {
		l := stats.Logs(xs)
		m, _ := stats.MeanSD(l)
		for i := range l {
			l[i] -= m
		}
		return l
	}
	nb, nc := len(levels[0].Baseline), len(levels[0].Candidate)
	devs := make([][]float64, len(levels)) // each level's, baseline then candidate
	for i, l := range levels {
		if len(l.Baseline) != nb || len(l.Candidate) != nc {
			return math.NaN(), 0
		}
		devs[i] = append(dev(l.Baseline), dev(l.Candidate)...)
	}
	var sum float64
	var pairs int
	for i := range devs {
		for j := i + 1; j < len(devs); j++ {
			var sxy, sxx, syy float64
			for k, a := range devs[i] {
				b := devs[j][k]
				sxy += a * b
				sxx += a * a
				syy += b * b
			}
			if sxx == 0 || syy == 0 {
				return math.NaN(), 0
			}
			sum += sxy / math.Sqrt(sxx*syy)
			pairs++
		}
	}
	return sum / float64(pairs), float64(nb + nc - 2)
}
