package compare

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/perfgate/perfgate/internal/comparison"
	"github.com/perfgate/perfgate/internal/gate"
	"github.com/perfgate/perfgate/internal/report/reporttest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	reporttest.Golden(t, filepath.Join("testdata", "golden", name), got, *update)
}

// must is reporttest.Must.
var must = reporttest.Must

// fixtureComparison compares the two fixture runs.
func fixtureComparison(t *testing.T) (c *Comparison, base, cand []Trial, baseDir string) {
	t.Helper()
	a, b := filepath.Join("..", "report", "testdata", "runs", "baseline"), filepath.Join("..", "report", "testdata", "runs", "candidate")
	base, err := LoadTrials([]string{a})
	must(t, err)
	cand, err = LoadTrials([]string{b})
	must(t, err)
	c, err = Compare(base, cand, Options{})
	must(t, err)
	return c, base, cand, a
}

func TestValidateComparison(t *testing.T) {
	c, base, cand, _ := fixtureComparison(t)
	out := t.TempDir()
	must(t, Write(context.Background(), c, base, cand, out))
	data, _ := os.ReadFile(filepath.Join(out, "comparison.json"))
	if _, err := comparison.ValidateComparison(data); err != nil {
		t.Fatalf("perfgate's own comparison is rejected: %v", err)
	}
	if *update { // the seed of internal/comparison's fuzz target
		os.WriteFile("../comparison/testdata/fuzz-seeds/comparison.json", data, 0o644)
	}
	for name, bad := range map[string]string{
		"tampered verdict": `{"schema_version":1,"outcome":{"verdict":"pass<script>","results":[]}}`,
		"wrong schema":     `{"schema_version":2,"outcome":{"verdict":"pass"}}`,
		"unknown field":    `{"schema_version":1,"outcome":{"verdict":"pass"},"extra":1}`,
		"trailing":         `{"schema_version":1,"outcome":{"verdict":"pass"}} {}`,
		"bad metric":       `{"schema_version":1,"outcome":{"verdict":"pass","results":[{"level":1,"metric":"x](javascript:alert(1))","verdict":"pass","p":0.5}]}}`,
		"p out of range":   `{"schema_version":1,"outcome":{"verdict":"pass","results":[{"level":1,"metric":"m","verdict":"pass","p":7}]}}`,
	} {
		if _, err := comparison.ValidateComparison([]byte(bad)); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if _, err := comparison.ValidateComparison(data, "0123456789abcdef"); err == nil {
		t.Error("a comparison that does not name the expected commit must be rejected")
	}
}

// A canceled context stops WriteComparison before its charts, after
// comparison.json, and says so.
func TestWriteComparisonStopsWhenCanceled(t *testing.T) {
	c, base, cand, _ := fixtureComparison(t)
	out := t.TempDir()
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("terminated signal received"))
	err := Write(ctx, c, base, cand, out)
	if err == nil || !strings.Contains(err.Error(), "terminated signal received") {
		t.Fatalf("err %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "comparison.json")); err != nil {
		t.Error(err)
	}
	if pngs, _ := filepath.Glob(filepath.Join(out, "plots", "*.png")); len(pngs) > 0 {
		t.Errorf("charts drawn after the cancel: %v", pngs)
	}
}

// What a reporter publishes is the recheck's: a comparison.json whose
// verdicts hold but whose numbers were edited (a change, an interval, the
// trial counts, the headline) reads back with the numbers its own trial
// data give.
func TestValidateComparisonPublishesTheRecheck(t *testing.T) {
	c, base, cand, _ := fixtureComparison(t)
	out := t.TempDir()
	must(t, Write(context.Background(), c, base, cand, out))
	data, _ := os.ReadFile(filepath.Join(out, "comparison.json"))
	var forged Comparison
	must(t, json.Unmarshal(data, &forged))
	i := slices.IndexFunc(forged.Outcome.Results, func(r gate.Result) bool { return r.Gating && !r.ChangePct.IsNaN() && !r.CILowPct.IsNaN() })
	if i < 0 {
		t.Fatal("the fixture has no gating result with a change")
	}
	want := forged.Outcome.Results[i].ChangePct
	forged.Outcome.Results[i].ChangePct, forged.Outcome.Results[i].CILowPct, forged.Outcome.Results[i].CIHighPct = 0.1, -1, 1
	forged.Outcome.Headline = "PASS: all good"
	forged.Run = &comparison.RunInfo{Trials: [2]int{50, 50}, StopReason: "fixed", MaxTrials: 50}
	b, _ := json.Marshal(forged)
	v, err := comparison.ValidateComparison(b)
	if err != nil {
		t.Fatal(err)
	}
	r := v.Outcome.Results[i]
	if r.ChangePct == nil || r.CILowPct == nil || *r.ChangePct != float64(want) || *r.CILowPct == -1 || v.Outcome.Headline == "PASS: all good" || v.Run.Trials == [2]int{50, 50} {
		t.Errorf("published: change %v (want %v), interval %v…%v, headline %q, trials %v", r.ChangePct, want, r.CILowPct, r.CIHighPct, v.Outcome.Headline, v.Run.Trials)
	}
}
