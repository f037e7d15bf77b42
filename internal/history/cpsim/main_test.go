package cpsim

import (
	"math"
	"testing"
)

// TestTargets holds perfgate's detector to issue 19's targets on i.i.d.
// 3 % noise (fewer series than the table, so the bounds leave room for
// sampling error; the table in docs/history.md has the exact figures).
func TestTargets(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation")
	}
	r := Measure(Detectors[0], Noises[0], 60, 7)
	t.Logf("%+v", r)
	if r.FalsePer100 > 0.1 {
		t.Errorf("%.3f false change points per 100 commits of noise", r.FalsePer100)
	}
	if r.Listed2 < 0.85 || r.Stays < 0.95 {
		t.Errorf("a +10 %% step listed after 2 commits in %.0f %%, still listed 15 later in %.0f %%", 100*r.Listed2, 100*r.Stays)
	}
	if r.Reverted < 0.85 {
		t.Errorf("a reverted step listed twice in %.0f %%", 100*r.Reverted)
	}
}

// The nightly alarm's targets, per set: in a set of 18 series checked
// together, points the median of 3 trials as mode: track runs them, the
// defaults raise a new alarm on at most 5 % of quiet commits and name a
// +10 % step by its second commit in at least 95 % of sets, under every
// noise model (the table in docs/history.md has the figures on 100 sets a
// case; these few allow two binomial standard errors). Naming every step
// at its first commit (AtOnce 1) cries wolf under heavy tails.
func TestSetTargets(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation")
	}
	const sets = 60
	for i, z := range Noises {
		r := MeasureSet(z, 18, sets, 3, 0, uint64(11+i))
		t.Logf("%s: %+v", z.Name, r)
		looks := float64(sets * 31)
		if slack := 2 * math.Sqrt(0.05*0.95/looks); r.FalseAlarms > 0.05+slack {
			t.Errorf("%s: a new alarm on %.3f of quiet commits (≤ 0.05)", z.Name, r.FalseAlarms)
		}
		if slack := 2 * math.Sqrt(0.05*0.95/sets); r.Named2 < 0.95-slack {
			t.Errorf("%s: a +10 %% step named by its second commit in %.3f of sets (≥ 0.95)", z.Name, r.Named2)
		}
	}
	heavy := MeasureSet(Noises[1], 18, sets, 3, 1, 21)
	t.Logf("heavy, every step at its first commit: %+v", heavy)
	if heavy.FalseAlarms < 0.08 {
		t.Errorf("heavy tails, AtOnce 1: a new alarm on only %.3f of quiet commits: the default's reason is gone", heavy.FalseAlarms)
	}
}
