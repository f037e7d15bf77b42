package gate

import "github.com/perfgate/perfgate/internal/metric"

// The A/B's decision procedure — which side runs next, which trials are
// re-run, when to look and when to stop — as one function that both
// perfgate ab (real trials) and the calibration suite (simulated trials)
// drive: the error rates in docs/statistics.md are measured through the
// procedure that ships.

// Sides of an A/B.
const (
	Baseline  = "baseline"
	Candidate = "candidate"
)

// Order is the side of the i-th trial (0-based) in balanced pairs:
// B C C B B C C B …, so each side is as often first as second in every two
// pairs.
func Order(i int) string {
	if (i/2)%2 == 0 == (i%2 == 0) {
		return Baseline
	}
	return Candidate
}

// Design is how many trials an A/B runs: Fixed > 0 per side, decided once,
// or sequential (Fixed 0) from the rules' MinTrials to MaxTrials with a
// look after every balanced pair. Either way up to Reruns outlier trials
// per side are re-run before a decision.
type Design struct {
	Fixed  int
	Reruns int
}

// Sequential reports whether the design looks after every pair.
func (d Design) Sequential() bool { return d.Fixed <= 0 }

// Trials is what the procedure drives.
type Trials interface {
	// Run runs the side's k-th trial (1-based). noSuccess says that it ran
	// and none of its requests succeeded: its data stand, and the A/B
	// looks at once.
	Run(side string, k int) (noSuccess bool, err error)
	// Rerun runs an outlier trial again in its place.
	Rerun(o Outlier) (noSuccess bool, err error)
	// Decide decides on the trials so far: one look of a sequential A/B
	// (look), or the fixed decision; with the outliers among them.
	Decide(look bool) (Outcome, []Outlier, error)
}

// Drive runs an A/B to its decision and returns the outcome, why it
// stopped (a Stop* reason) and the trials per side compared.
func Drive(d Design, r Rules, t Trials) (o Outcome, reason string, n int, err error) {
	r = r.WithDefaults()
	count := map[string]int{}
	reruns := map[string]int{}
	noSuccess := false
	for i := 0; ; i++ {
		side := Order(i)
		count[side]++
		ns, err := t.Run(side, count[side])
		if err != nil {
			return o, "", 0, err
		}
		noSuccess = noSuccess || ns
		n = count[Baseline]
		if n != count[Candidate] {
			continue
		}
		if noSuccess {
			// A side with no successful request fails fast, in either
			// design, before the minimum or the fixed count.
			o, _, err := t.Decide(d.Sequential())
			if err != nil {
				return o, "", 0, err
			}
			if o.Verdict == metric.Fail && o.HasNoSuccess() {
				return o, StopFail, n, nil
			}
		}
		if !d.Sequential() && n < d.Fixed || d.Sequential() && n < r.MinTrials {
			continue
		}
		o, outliers, err := t.Decide(d.Sequential())
		if err != nil {
			return o, "", 0, err
		}
		if d.Sequential() && o.Stop && o.FailHolds {
			// A clear fail with or without the outlier trials: re-running
			// them cannot change it.
			return o, o.StopReason, n, nil
		}
		rerun := false
		for _, ol := range outliers {
			if reruns[ol.Side] >= d.Reruns {
				continue
			}
			reruns[ol.Side]++
			if _, err := t.Rerun(ol); err != nil {
				return o, "", 0, err
			}
			rerun = true
		}
		if rerun {
			if o, _, err = t.Decide(d.Sequential()); err != nil {
				return o, "", 0, err
			}
		}
		if !d.Sequential() {
			return o, StopFixed, n, nil
		}
		if o.Stop {
			return o, o.StopReason, n, nil
		}
		if n >= r.MaxTrials {
			// Look stops at the maximum; inputs with nothing to look at
			// (no gating metric) must not run trials for ever.
			return o, StopMax, n, nil
		}
	}
}

// HasNoSuccess says whether the outcome failed because a side had no
// successful request at some level.
func (o Outcome) HasNoSuccess() bool {
	for _, r := range o.Results {
		if r.NoSuccess != "" {
			return true
		}
	}
	return false
}
