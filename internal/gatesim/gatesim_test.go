package gatesim

import (
	"fmt"
	"math"
	"testing"

	"github.com/perfgate/perfgate/internal/scenario"
)

// The gate's targets on the sequential default of perfgate ab (Targets),
// with fixed seeds, so the test is deterministic: every target the
// calibration table in docs/statistics.md marks as met, on fewer
// simulations (a cell may miss its bound by two binomial standard errors of
// these few); the ones it marks as not met are listed in notMet, so that a
// target met by chance is not claimed and one that stops holding is caught.
// The table itself: go run ./internal/gatesim/calibrate -targets.
func TestSequentialTargets(t *testing.T) {
	sims := 300
	if testing.Short() {
		sims = 100
	}
	for i, tg := range Targets() {
		if notMet[tg.What+" / "+tg.Noise] {
			continue
		}
		if testing.Short() && tg.Noise != "iid" {
			// The fast loop: i.i.d. noise only; every noise model runs
			// without -short (.ci/run).
			continue
		}
		t.Run(fmt.Sprintf("%s/%s%+g/%s", tg.Rate, tg.Noise, tg.Change, tg.What), func(t *testing.T) {
			t.Parallel()
			noise, _ := NoiseByName(tg.Noise)
			c := Run(noise, Change{TPOTPct: tg.Change}, Sequential, sims, uint64(100+i))
			v := tg.Of(c)
			slack := 0.0
			if tg.Rate != "starts" {
				bound := max(tg.Max, tg.Min)
				slack = 2 * math.Sqrt(max(bound*(1-bound), 0.01)/float64(sims))
			} else {
				slack = 1
			}
			ok := v >= tg.Min-slack && (tg.Max == 0 && tg.Min > 0 || v <= tg.Max+slack)
			t.Logf("%.3f (target %s)", v, tg.What)
			if !ok {
				t.Errorf("%s under %s: %.3f, outside the target even with %.3f for the few simulations", tg.What, tg.Noise, v, slack)
			}
		})
	}
}

// notMet are the targets (what / noise model) the calibration table says
// are not met; docs/statistics.md says why.
var notMet = map[string]bool{}

func init() {
	for what, models := range map[string][]string{
		"−10 % (an improvement) fails ≤ 1 %":                   {"levels"},
		"+10 % caught ≥ 97 %":                                  {"bimodal", "drift", "slowstart", "clock"},
		"+10 % caught ≥ 85 % at 5 % noise":                     {"iid5"},
		"+5 % (at the fail threshold) stopped as within ≤ 5 %": {"bimodal", "correlated", "slowstart", "slow2", "clock"},
		"+7 % passes ≤ 2 %":                                    {"heavy", "bimodal", "slowstart", "iid5", "slow2", "clock", "mix"},
		"+4 % fails ≤ 5 %":                                     {"correlated", "levels", "slow2"},
		"mean engine starts, A/A ≤ 12":                         {"heavy", "bimodal", "drift", "iid5", "levels", "clock", "mix"},
		"mean engine starts, +10 % ≤ 12":                       {"iid5", "mix"},
		"mean engine starts, +30 % ≤ 7":                        {"slowstart", "slow2"},
	} {
		for _, m := range models {
			notMet[what+" / "+m] = true
		}
	}
}

// Fixed designs are what perfgate compare decides on: trials 3 can fail
// now (issue 15: it never could), and A/A warns far less than the 57 % of
// the first gate.
func TestFixedDesigns(t *testing.T) {
	noise, _ := NoiseByName("iid")
	c := Run(noise, Change{TPOTPct: 30}, Design{Fixed: 3}, 200, 7)
	if c.FailRate() < 0.9 {
		t.Errorf("3 trials per side, +30 %%: fail %.2f", c.FailRate())
	}
	c = Run(noise, Change{}, Design{Fixed: 6}, 300, 8)
	if c.WarnRate() > 0.10 || c.FailRate() > 0.02 {
		t.Errorf("A/A at 6: fail %.3f warn %.3f", c.FailRate(), c.WarnRate())
	}
}

// One slow engine start in six (22 %): kept by perfgate compare, which
// cannot re-run it, or re-run by perfgate ab --trials 6, a fixed decision
// still holds its size and catches a true 10 % (it caught a quarter when
// the slow trial stayed in the t-test).
func TestFixedDesignsWithASlowStart(t *testing.T) {
	noise, _ := NoiseByName("slowstart")
	for i, d := range []Design{{Fixed: 6}, {Fixed: 6, Reruns: scenario.DefaultOutlierReruns}} {
		aa := Run(noise, Change{}, d, 400, uint64(40+i))
		ten := Run(noise, Change{TPOTPct: 10}, d, 400, uint64(50+i))
		t.Logf("%s: A/A fail %.1f %%, +10 %% fail %.1f %%", designName(d), 100*aa.FailRate(), 100*ten.FailRate())
		if aa.FailRate() > 0.02 || ten.FailRate() < 0.85 {
			t.Errorf("%s: A/A fails %.3f (≤ 0.02), +10 %% fails %.3f (≥ 0.85)", designName(d), aa.FailRate(), ten.FailRate())
		}
	}
}
