package run

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/scenario"
	"github.com/perfgate/perfgate/internal/sim/profile"
	"github.com/perfgate/perfgate/internal/timingtest"
)

func scen(t *testing.T, body string, files ...string) (*scenario.Scenario, string) {
	t.Helper()
	d := t.TempDir()
	for i := 0; i+1 < len(files); i += 2 {
		os.WriteFile(filepath.Join(d, files[i]), []byte(files[i+1]), 0o644)
	}
	p := filepath.Join(d, "s.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := scenario.LoadForRun(p)
	if err != nil {
		t.Fatal(err)
	}
	return s, p
}

// A trial against the simulator writes the whole run folder and returns
// its summary, with the trial's number and label in meta.json.
func TestTrialWritesTheRunFolder(t *testing.T) {
	s, file := scen(t, `name: one
engine: {kind: sim, time_scale: 8}
workload: {prompt: token_ids, classes: [{input_tokens: 32, output_tokens: 8}]}
load: {mode: open, rate: 8}
phases: {measure: {duration: 500ms}}
`)
	dir := t.TempDir()
	var stderr bytes.Buffer
	res, err := Trial(context.Background(), Config{Scenario: s, File: file, Dir: dir, Getenv: func(string) string { return "" },
		Stderr: &stderr, N: 2, Label: "x", Version: "test", CommandLine: []string{"perfgate", "--api-key", "sk-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.RunErr != nil || res.Interrupted || res.EngineDied || res.Summary.Status != record.StatusCompleted || len(res.Summary.Levels) != 1 || res.Summary.Levels[0].Completed == 0 {
		t.Fatalf("result %+v", res)
	}
	for _, f := range []string{record.ScenarioFile, record.MetaFile, record.RequestsFile, record.SummaryFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("no %s", f)
		}
	}
	var m record.Meta
	if err := record.ReadJSON(filepath.Join(dir, record.MetaFile), &m); err != nil || m.Trial != 2 || m.Label != "x" || m.CommandLine[2] != "[REDACTED]" {
		t.Errorf("meta %+v %v", m, err)
	}
}

// A dataset the scenario names that cannot be read is a ConfigError, before
// anything is written.
func TestTrialConfigError(t *testing.T) {
	s, file := scen(t, `name: two
engine: {kind: sim, time_scale: 8}
workload: {classes: [{dataset: {format: jsonl, path: prompts.jsonl}, output_tokens: 8}]}
load: {mode: open, rate: 8}
phases: {measure: {duration: 500ms}}
`, "prompts.jsonl", "not json\n")
	dir := t.TempDir()
	_, err := Trial(context.Background(), Config{Scenario: s, File: file, Dir: dir, Getenv: func(string) string { return "" }, Stderr: &bytes.Buffer{}})
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("err %v, want a ConfigError", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("wrote %d files before failing", len(ents))
	}
}

// engine.model_time: a simulator run eight times faster than real time
// with its scenario stated in model time reads like a real one — the rate,
// the window and every latency in model time — while a run without it
// reports the wall clock (eight times shorter latencies).
func TestModelTime(t *testing.T) {
	body := `name: mt
engine: {kind: sim, profile: h100/llama-3.1-8b, time_scale: 8, model_time: %s}
workload: {prompt: token_ids, classes: [{input_tokens: 256, output_tokens: 64}]}
load: {mode: open, rate: 4}
phases: {measure: {duration: %s}}
slo: {tpot_ms: %s}
`
	p, err := profile.Lookup("h100/llama-3.1-8b", 0)
	if err != nil {
		t.Fatal(err)
	}
	decode := p.DecodeTime(1, 300) * 1000 // ms per step of one short sequence, model time
	res := map[bool]record.Level{}
	// A stall of the machine reads as a long decode step in either run.
	timingtest.Calm(t, 60*time.Millisecond, func() {
		for _, model := range []bool{true, false} {
			dur, slo := "8s", fmt.Sprint(decode*1.5)
			if !model {
				dur, slo = "1s", fmt.Sprint(decode*1.5/8)
			}
			s, file := scen(t, fmt.Sprintf(body, fmt.Sprint(model), dur, slo))
			r, err := Trial(context.Background(), Config{Scenario: s, File: file, Dir: t.TempDir(), Getenv: func(string) string { return "" }, Stderr: &bytes.Buffer{}})
			if err != nil || r.RunErr != nil {
				t.Fatalf("model time %v: %v %v", model, err, r)
			}
			if model != (r.Summary.ModelTime == 8) {
				t.Errorf("model time %v: result.json says model_time %v", model, r.Summary.ModelTime)
			}
			res[model] = r.Summary.Levels[0]
		}
	})
	m, w := res[true], res[false]
	tpot := m.Latency["median_tpot_ms"]
	t.Logf("TPOT: model time %.2f ms, wall %.3f ms, profile step %.2f ms; achieved %.2f req/s over %.1f s",
		tpot, w.Latency["median_tpot_ms"], decode, m.AchievedRate, m.Duration)
	if math.Abs(tpot/decode-1) > 0.3 {
		t.Errorf("model-time TPOT %.2f ms, the profile's step %.2f ms", tpot, decode)
	}
	if r := tpot / w.Latency["median_tpot_ms"]; math.Abs(r/8-1) > 0.3 {
		t.Errorf("model-time TPOT / wall TPOT = %.2f, want about 8", r)
	}
	if m.RequestedRate != 4 || math.Abs(m.AchievedRate/4-1) > 0.5 || m.Duration < 5 {
		t.Errorf("model time: requested %v, achieved %v req/s, duration %v s", m.RequestedRate, m.AchievedRate, m.Duration)
	}
	if m.RequestGoodput == nil || *m.RequestGoodput < 0.5*m.RequestThrough {
		t.Errorf("goodput %v of %v req/s: the SLO is in model time too", m.RequestGoodput, m.RequestThrough)
	}
}
