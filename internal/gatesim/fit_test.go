package gatesim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/perfgate/perfgate/internal/gate"
)

// FitNoise recovers the model that drew the trials: an A/A of 300 trials
// a side under known shared, per-metric and slow-start noise.
func TestFitNoiseRecoversTheModel(t *testing.T) {
	truth := Noise{Name: "truth", IIDPct: 3, CommonPct: 2, SlowProb: 0.15, SlowPct: 20}
	rules := Rules()
	w := &world{rng: rand.New(rand.NewPCG(9, 9)), noise: truth, rules: rules}
	var base, cand []trial
	for range 300 {
		base, cand = append(base, w.draw(false)), append(cand, w.draw(true))
	}
	in := inputs(rules, base, cand)
	o := gate.Decide(in, rules)
	got, err := FitNoise("fitted", o.Results)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", got)
	near := func(what string, g, want, tol float64) {
		if math.Abs(g-want) > tol {
			t.Errorf("%s: %.2f, want %.2f ± %.2f", what, g, want, tol)
		}
	}
	for m, ps := range got.CellPct {
		for lv, p := range ps {
			near(fmt.Sprintf("%s at level %d, its own %%", m, lv+1), p, 3, 0.4)
		}
	}
	if len(got.CellPct) != 5 {
		t.Errorf("metrics fitted: %v", got.CellPct)
	}
	near("shared %", got.CommonPct, 2, 0.5)
	near("slow share", got.SlowProb, 0.15, 0.04)
	near("slow %", got.SlowPct, 20, 3)
}

// The "vllm" noise model is the fit of the real vLLM's A/A committed in
// testdata/vllm/aa-noise (regenerate: go run ./internal/gatesim/calibrate
// -fit testdata/vllm/aa-noise/comparison.json).
func TestVLLMNoiseIsTheFit(t *testing.T) {
	fit, err := FitFile("vllm", "../../testdata/vllm/aa-noise/comparison.json")
	if err != nil {
		t.Fatal(err)
	}
	row, ok := NoiseByName("vllm")
	if !ok {
		t.Fatal("no vllm noise model")
	}
	if math.Abs(fit.CommonPct-row.CommonPct) > 0.01 || math.Abs(fit.SlowProb-row.SlowProb) > 0.001 || math.Abs(fit.SlowPct-row.SlowPct) > 0.1 {
		t.Errorf("shared %.2f slow %.3f × %.1f, the row says %.2f, %.3f × %.1f", fit.CommonPct, fit.SlowProb, fit.SlowPct, row.CommonPct, row.SlowProb, row.SlowPct)
	}
	for m, ps := range fit.CellPct {
		for i, p := range ps {
			if math.Abs(p-row.CellPct[m][i]) > 0.01 {
				t.Errorf("%s level %d: fitted %.3f, the row says %.2f", m, i+1, p, row.CellPct[m][i])
			}
		}
	}
}
