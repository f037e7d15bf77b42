package cpsim

import "testing"

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

// A set of 18 series checked together raises a provisional alarm on at most
// 5 % of quiet commits on i.i.d. noise (10 % of quiet commits raised some
// alarm before the band was corrected for the number of series).
func TestSetProvisionalAlarms(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation")
	}
	r := MeasureSet(Noises[0], 18, 40, 3)
	t.Logf("%+v", r)
	if r.FalseProvisional > 0.05 || r.FalseAlarms > 0.08 {
		t.Errorf("quiet commits with a provisional alarm %.3f (≤ 0.05), any new alarm %.3f (≤ 0.08)", r.FalseProvisional, r.FalseAlarms)
	}
	if r.Named2 < 0.75 {
		t.Errorf("a +10 %% step named by its second commit in %.2f (≥ 0.75)", r.Named2)
	}
}
