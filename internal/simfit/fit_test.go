package simfit

import (
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/sim/profile"
)

// Points made by a known model come back as that model.
func TestFitRecoversAKnownModel(t *testing.T) {
	// two decode sweeps at different speeds of the engine (2.4 and 3 ms
	// steps' overhead), the first with five times the steps: 2.5 over all
	want := Fit{OverheadMs: 2.5, RunOverheadMs: []float64{2.4, 3}, DecodeSeqMs: 0.15, PrefillTokenMs: 0.012, AttnPairNs: 3, RequestMs: 1.7, DecodeCtxNs: 250}
	var pre, dec []Point
	for _, n := range []float64{32, 256, 768, 1536} {
		p := Point{What: "prefill", X: n}
		p.Ms = want.Predict(p)
		pre = append(pre, p)
	}
	for _, b := range []float64{1, 2, 4, 8, 16} {
		p := Point{What: "decode", X: b, Ctx: 96, Sample: 200}
		p.Ms = want.Predict(p)
		dec = append(dec, p)
	}
	if _, err := FitPoints(pre, dec); err == nil || !strings.Contains(err.Error(), "cannot be told apart") {
		t.Errorf("short contexts only: %v", err)
	}
	for _, b := range []float64{1, 2} {
		p := Point{What: "decode", X: b, Ctx: 672 + 100*b, Run: 1, Sample: 100}
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
		{"per token", got.PrefillTokenMs, want.PrefillTokenMs}, {"per pair", got.AttnPairNs, want.AttnPairNs}, {"request", got.RequestMs, want.RequestMs}, {"per context token", got.DecodeCtxNs, want.DecodeCtxNs},
		{"first sweep's overhead", got.RunOverheadMs[0], want.RunOverheadMs[0]}, {"second sweep's", got.RunOverheadMs[1], want.RunOverheadMs[1]}} {
		if math.Abs(c.got-c.want) > 1e-6*math.Max(1, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
}

// Measurements the model cannot follow are refused, not fitted to nonsense.
func TestFitRefusesANegativeCost(t *testing.T) {
	pre := []Point{{What: "prefill", X: 32, Ms: 30}, {What: "prefill", X: 256, Ms: 20}, {What: "prefill", X: 1024, Ms: 10}}
	dec := []Point{{What: "decode", X: 1, Ms: 3, Ctx: 100}, {What: "decode", X: 16, Ms: 2, Ctx: 300}}
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
	p, err := profile.Lookup("cpu2/tiny-llama", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name         string
		fit, profile float64
	}{{"step overhead ms", f.OverheadMs, p.StepOverheadMs}, {"per sequence ms", f.DecodeSeqMs, p.Linear.DecodeSeqMs},
		{"per prefill token ms", f.PrefillTokenMs, p.Linear.PrefillTokenMs}, {"per attention pair ns", f.AttnPairNs, p.Linear.AttnPairNs},
		{"a request's own ms", f.RequestMs, p.Linear.RequestMs}, {"per decode context token ns", f.DecodeCtxNs, p.Linear.DecodeCtxTokenNs}} {
		if math.Abs(c.fit-c.profile) > 0.001*math.Max(math.Abs(c.fit), 1e-6) {
			t.Errorf("%s: the fit gives %.6g, internal/sim/profile/fitted.go says %.6g", c.name, c.fit, c.profile)
		}
	}
}

// A decode point is the mean gap of the steps that only decode, grouped by
// how many sequences decoded then: a gap in which another request's first
// token came out (its prefill step) is left out, and context counts the
// prompt and the tokens out so far.
func TestDecodeGapsLeaveOutPrefillSteps(t *testing.T) {
	// a alone from 0 to 10 ms, tokens every 2 ms; b sent at 3.5 ms, its
	// first token at 6 ms (the step a's token at 6 ms shares), then
	// every 2 ms beside a
	a := record.Record{Phase: record.PhaseMeasure, SentUS: 0, PromptTokens: 10, ChunkUS: []int64{0, 2000, 4000, 6000, 8000, 10000}}
	b := record.Record{Phase: record.PhaseWarmup, SentUS: 3500, PromptTokens: 100, ChunkUS: []int64{2500, 4500, 6500}}
	var recs []record.Record
	for i := range int64(minGaps) { // the pair again and again, a second apart
		a.SentUS, b.SentUS = i*1e6, i*1e6+3500
		recs = append(recs, a, b)
	}
	got := decodeGaps(recs)
	// a's gaps: (0,2] alone, (2,4] alone, (4,6] b's prefill: out, (6,8] and
	// (8,10] beside b; b is warm-up: its gaps are not measured
	if len(got) != 2 {
		t.Fatalf("%+v", got)
	}
	one, two := got[0], got[1]
	if one.X != 1 || one.Ms != 2 || one.Sample != 2*minGaps || one.Ctx != 11.5 {
		t.Errorf("alone: %+v, want 2 ms at context 11.5 (10 prompt + 1 or 2 tokens out)", one)
	}
	// beside b: a at 10+4 and 10+5 tokens, b at 100+1 and 100+2
	if two.X != 2 || two.Ms != 2 || two.Sample != 2*minGaps || two.Ctx != (14+101+15+102)/4.0 {
		t.Errorf("beside b: %+v", two)
	}
}
