package gatesim

import (
	"fmt"
	"testing"
)

// The gate's targets (issue 15), asserted on the sequential default of
// perfgate ab with fixed seeds, so the test is deterministic. The figures in
// docs/statistics.md come from more simulations of the same code:
// `go run ./internal/gatesim/calibrate`.
func TestSequentialTargets(t *testing.T) {
	const sims = 400
	seq := Design{Reruns: 2}
	type target struct {
		noise     string
		change    float64
		maxFail   float64 // share of comparisons, at most
		minFail   float64 // at least
		maxWarn   float64
		maxTrials float64 // mean, both sides
	}
	targets := []target{
		{noise: "iid", change: 0, maxFail: 0.02, maxWarn: 0.10, maxTrials: 12},
		{noise: "iid", change: 4, maxFail: 0.05, maxWarn: 1, maxTrials: 20},
		{noise: "iid", change: 10, minFail: 0.99, maxFail: 1, maxWarn: 1, maxTrials: 10},
		{noise: "iid", change: 30, minFail: 0.99, maxFail: 1, maxWarn: 1, maxTrials: 7},
		{noise: "heavy", change: 10, minFail: 0.90, maxFail: 1, maxWarn: 1, maxTrials: 20},
		{noise: "heavy", change: 4, maxFail: 0.05, maxWarn: 1, maxTrials: 20},
	}
	for _, n := range Noises {
		targets = append(targets, target{noise: n.Name, change: 0, maxFail: 0.02, maxWarn: 1, maxTrials: 20})
	}
	if testing.Short() {
		// The fast loop: i.i.d. noise only; every noise model runs without
		// -short (.ci/run), and the calibration table comes from calibrate.
		targets = targets[:4]
	}
	for i, tg := range targets {
		t.Run(fmt.Sprintf("%s%+g", tg.noise, tg.change), func(t *testing.T) {
			t.Parallel()
			noise, _ := noiseByName(tg.noise)
			n := sims
			if tg.noise == "slowstart" {
				// Its A/A sits at 1.6 % of 2,000 (calibrate), near the 2 %
				// target: 400 comparisons cannot tell one from the other.
				n = 2000
			}
			c := Run(noise, Change{TPOTPct: tg.change}, seq, n, uint64(100+i))
			t.Logf("%s %+g %%: fail %.1f %%, warn %.1f %%, %.1f trials", tg.noise, tg.change, 100*c.FailRate(), 100*c.WarnRate(), c.Trials)
			if c.FailRate() > tg.maxFail || c.FailRate() < tg.minFail || c.WarnRate() > tg.maxWarn || c.Trials > tg.maxTrials {
				t.Errorf("fail %.3f (want %.2f–%.2f), warn %.3f (≤ %.2f), trials %.1f (≤ %g)",
					c.FailRate(), tg.minFail, tg.maxFail, c.WarnRate(), tg.maxWarn, c.Trials, tg.maxTrials)
			}
		})
	}
}

// Fixed designs are what perfgate compare decides on: trials 3 can fail
// now (issue 15: it never could), and A/A warns far less than the 57 % of
// the first gate.
func TestFixedDesigns(t *testing.T) {
	noise, _ := noiseByName("iid")
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
	noise, _ := noiseByName("slowstart")
	for i, d := range []Design{{Fixed: 6}, {Fixed: 6, Reruns: 2}} {
		aa := Run(noise, Change{}, d, 400, uint64(40+i))
		ten := Run(noise, Change{TPOTPct: 10}, d, 400, uint64(50+i))
		t.Logf("%s: A/A fail %.1f %%, +10 %% fail %.1f %%", designName(d), 100*aa.FailRate(), 100*ten.FailRate())
		if aa.FailRate() > 0.02 || ten.FailRate() < 0.85 {
			t.Errorf("%s: A/A fails %.3f (≤ 0.02), +10 %% fails %.3f (≥ 0.85)", designName(d), aa.FailRate(), ten.FailRate())
		}
	}
}
