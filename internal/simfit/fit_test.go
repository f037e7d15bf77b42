package simfit

import (
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/perfgate/perfgate/internal/sim/profile"
)

// Points made by a known model come back as that model.
func TestFitRecoversAKnownModel(t *testing.T) {
	want := Fit{OverheadMs: 2.4, DecodeSeqMs: 0.15, PrefillTokenMs: 0.012, AttnPairNs: 3, RequestMs: 1.7}
	var pre, dec []Point
	for _, n := range []float64{32, 256, 768, 1536} {
		p := Point{What: "prefill", X: n}
		p.Ms = want.Predict(p)
		pre = append(pre, p)
	}
	for _, b := range []float64{1, 2, 4, 8, 16} {
		p := Point{What: "decode", X: b, Ctx: 96}
		p.Ms = want.Predict(p)
		dec = append(dec, p)
	}
	got, err := FitPoints(pre, dec)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"overhead", got.OverheadMs, want.OverheadMs}, {"per sequence", got.DecodeSeqMs, want.DecodeSeqMs},
		{"per token", got.PrefillTokenMs, want.PrefillTokenMs}, {"per pair", got.AttnPairNs, want.AttnPairNs}, {"request", got.RequestMs, want.RequestMs}} {
		if math.Abs(c.got-c.want) > 1e-6*math.Max(1, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
}

// Measurements the model cannot follow are refused, not fitted to nonsense.
func TestFitRefusesANegativeCost(t *testing.T) {
	pre := []Point{{What: "prefill", X: 32, Ms: 30}, {What: "prefill", X: 256, Ms: 20}, {What: "prefill", X: 1024, Ms: 10}}
	dec := []Point{{What: "decode", X: 1, Ms: 3}, {What: "decode", X: 16, Ms: 2}}
	if _, err := FitPoints(pre, dec); err == nil || !strings.Contains(err.Error(), "do not follow the model") {
		t.Errorf("%v", err)
	}
}

// A figure past its target is bold in the table and counted; past the
// knee, latencies are shown and not held.
func TestWriteMarksMisses(t *testing.T) {
	sh := Shape{Name: "s", RealKnee: "8 req/s", RealKneeX: 8, SimKnee: "10 req/s", SimKneeX: 10, Levels: []Level{
		{Load: "4 req/s", Figures: []Figure{{Name: "TTFT p50 ms", Real: 10, Sim: 10.5, Have: true, RelTol: 0.1}, {Name: "TPOT p50 ms", Real: 10, Sim: 12, Have: true, RelTol: 0.1}}},
		{Load: "12 req/s", Figures: []Figure{{Name: "TTFT p50 ms", Real: 10, Sim: 30, Have: true, RelTol: math.Inf(1)}, {Name: "TPOT p50 ms", Real: 10, Have: false}}},
	}}
	var b strings.Builder
	if n := Write(&b, []Shape{sh}); n != 2 {
		t.Errorf("%d misses, want 2 (the knee, TPOT at 4 req/s):\n%s", n, b.String())
	}
	if !strings.Contains(b.String(), "**10 → 12 (+20 %)**") || !strings.Contains(b.String(), "knee: real 8 req/s, simulated 10 req/s (**miss**)") {
		t.Errorf("%s", b.String())
	}
}

// The shipped cpu2/tiny-llama profile is the fit of the committed
// measurement (testdata/vllm/simfit/fit.json, written by run.sh): refitting
// its points gives the profile's numbers.
func TestFittedProfileMatchesItsFit(t *testing.T) {
	b, err := os.ReadFile("../../testdata/vllm/simfit/fit.json")
	if err != nil {
		t.Fatal(err)
	}
	var committed Fit
	if err := json.Unmarshal(b, &committed); err != nil {
		t.Fatal(err)
	}
	var pre, dec []Point
	for _, p := range committed.Points {
		if p.What == "prefill" {
			pre = append(pre, p)
		} else {
			dec = append(dec, p)
		}
	}
	f, err := FitPoints(pre, dec)
	if err != nil {
		t.Fatal(err)
	}
	if len(committed.Mixed) > 0 {
		if err := f.FitMixed(committed.Mixed); err != nil {
			t.Fatal(err)
		}
	}
	p, err := profile.Lookup("cpu2/tiny-llama", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name         string
		fit, profile float64
	}{{"step overhead ms", f.OverheadMs, p.StepOverheadMs}, {"per sequence ms", f.DecodeSeqMs, p.Linear.DecodeSeqMs},
		{"per prefill token ms", f.PrefillTokenMs, p.Linear.PrefillTokenMs}, {"per attention pair ns", f.AttnPairNs, p.Linear.AttnPairNs},
		{"a request's own ms", f.RequestMs, p.Linear.RequestMs}, {"per prefill token beside decodes ms", f.MixedPrefillTokenMs, p.Linear.MixedPrefillTokenMs},
		{"an arrival's ms", f.ArrivalMs, p.Linear.ArrivalMs}} {
		if math.Abs(c.fit-c.profile) > 0.001*math.Max(math.Abs(c.fit), 1e-6) {
			t.Errorf("%s: the fit gives %.6g, internal/sim/profile/fitted.go says %.6g", c.name, c.fit, c.profile)
		}
	}
}

// Mean inter-token latencies made by a known cost of arriving prefills come
// back as that cost; measurements without a baseline or with one arriving
// size are refused.
func TestFitMixedRecoversAKnownCost(t *testing.T) {
	f := Fit{AttnPairNs: 40}
	const t0, mixed, arrival, rate = 3.5, 0.12, 4.0, 10.0
	pts := []MixedPoint{{Prompt: 0, ITLMs: t0}}
	for _, p := range []float64{8, 128, 256} {
		x := arrival + p*mixed + p*p/2*f.AttnPairNs*1e-6
		pts = append(pts, MixedPoint{Prompt: p, PerS: rate, ITLMs: t0 / (1 - rate*x/1000)})
	}
	if err := f.FitMixed(pts); err != nil {
		t.Fatal(err)
	}
	if math.Abs(f.MixedPrefillTokenMs-mixed) > 1e-9 || math.Abs(f.ArrivalMs-arrival) > 1e-9 {
		t.Errorf("fitted %v ms a token and %v ms an arrival, want %v and %v", f.MixedPrefillTokenMs, f.ArrivalMs, mixed, arrival)
	}
	// an intercept below zero (noise) is no negative cost: the line runs
	// through the origin instead
	neg := []MixedPoint{{Prompt: 0, ITLMs: t0}}
	for _, p := range []float64{8, 256, 512} {
		x := -2 + p*mixed + p*p/2*f.AttnPairNs*1e-6
		neg = append(neg, MixedPoint{Prompt: p, PerS: rate, ITLMs: t0 / (1 - rate*x/1000)})
	}
	if err := f.FitMixed(neg); err != nil || f.ArrivalMs != 0 || f.MixedPrefillTokenMs <= 0 || f.MixedPrefillTokenMs >= mixed {
		t.Errorf("a negative intercept: %v ms an arrival, %v ms a token (want 0, and a little under %v), %v", f.ArrivalMs, f.MixedPrefillTokenMs, mixed, err)
	}
	if err := f.FitMixed(pts[1:]); err == nil || !strings.Contains(err.Error(), "without arrivals") {
		t.Errorf("no baseline: %v", err)
	}
	if err := f.FitMixed(pts[:2]); err == nil || !strings.Contains(err.Error(), "two") {
		t.Errorf("one size: %v", err)
	}
}
