// Package reporttest makes the run folders the report, compare and export
// tests read, and checks their output against golden files.
package reporttest

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/perfgate/perfgate/internal/analysis"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/telemetry"
)

// Scenario is the scenario.yaml of every run WriteRun makes.
const Scenario = `name: fixture
seed: 1
engine:
    kind: sim
workload:
    classes:
        - name: chat
          weight: 1
          input_tokens: 100
          output_tokens: 20
load:
    mode: open
    levels:
        - 2
        - 4
    arrival: poisson
phases:
    measure:
        duration: 10s
    on_end: drain
    drain_timeout: 2m0s
request_timeout: 5m0s
slo:
    ttft_ms: 120
percentiles:
    - 50
    - 99
`

// WriteRun makes a small, fully deterministic run folder: two open-loop
// levels of synthetic requests (slow stretches latencies), GPU and server
// telemetry, and result.json computed the way perfgate run computes it.
func WriteRun(t *testing.T, dir, label string, seed uint64, slow float64) {
	t.Helper()
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	start := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	meta := record.Meta{SchemaVersion: record.SchemaVersion, PerfgateVersion: "test", GoVersion: "go1.26", OS: "linux", Arch: "amd64", NumCPU: 2,
		Scenario: "fixture", Label: label, Seed: seed, StartWall: start,
		Engine: record.Engine{Kind: "sim", URL: "http://127.0.0.1:1", Model: "m", API: "completions"}}
	Must(t, record.WriteJSONAtomic(filepath.Join(dir, record.MetaFile), meta))
	Must(t, os.WriteFile(filepath.Join(dir, record.ScenarioFile), []byte(Scenario), 0o644))
	var recs bytes.Buffer
	enc := json.NewEncoder(&recs)
	id := int64(0)
	windows := map[int]analysis.Window{}
	for lv, rate := range []float64{2, 4} {
		base := int64(lv) * 12_000_000
		windows[lv] = analysis.Window{StartUS: base, EndUS: base + 10_000_000}
		n := int(rate * 10)
		for i := range n {
			sched := base + int64(float64(i)/rate*1e6)
			ttft := int64((40 + 20*rate + rng.Float64()*30) * slow * 1000)
			gap := int64((8 + rate + rng.Float64()*2) * slow * 1000)
			r := record.Record{ID: id, Level: lv + 1 /* 1-based on disk */, Phase: "measure", Class: "chat", ScheduledUS: sched, SentUS: sched + 100,
				RequestedInput: 100, RequestedOutput: 20, PromptTokens: 101, Status: 200}
			id++
			if i == 3 && lv == 1 {
				r.Error, r.ErrorMsg, r.EndUS, r.Status = record.ErrHTTP5xx, "HTTP 500: boom", r.SentUS+500, 500
				enc.Encode(r)
				continue
			}
			for c := range 20 {
				r.ChunkUS = append(r.ChunkUS, ttft+int64(c)*gap)
			}
			r.FirstTokenUS = r.SentUS + ttft
			r.EndUS = r.SentUS + r.ChunkUS[19]
			r.DoneUS = r.EndUS + 200
			r.OutputTokens = 20
			enc.Encode(r)
		}
	}
	Must(t, os.WriteFile(filepath.Join(dir, record.RequestsFile), recs.Bytes(), 0o644))
	var tel bytes.Buffer
	tenc := json.NewEncoder(&tel)
	for ts := int64(0); ts <= 24_000_000; ts += 500_000 {
		k := float64(ts) / 1e6
		tenc.Encode(telemetry.Sample{T: ts, Probe: "gpu", Values: map[string]float64{
			"gpu0.util_pct": 40 + 2*k, "gpu0.power_w": 300 + 10*k, "gpu0.energy_j": 300 * k, "gpu0.sm_clock_mhz": 1980, "gpu0.clock_event_reasons": 0}})
		tenc.Encode(telemetry.Sample{T: ts, Probe: "metrics", Values: map[string]float64{
			"vllm:num_requests_running": float64(int(k) % 7), "vllm:num_requests_waiting": 0, "vllm:kv_cache_usage_perc": 0.01 * k,
			"vllm:num_preemptions_total": 0, "vllm:prefix_cache_queries_total": 100 * k, "vllm:prefix_cache_hits_total": 10 * k}})
	}
	Must(t, os.WriteFile(filepath.Join(dir, telemetry.File), tel.Bytes(), 0o644))
	opts := analysis.Options{Percentiles: []float64{50, 99}, SLO: record.SLO{TTFTMs: 120}}
	levels, _, err := analysis.ReadLevels(dir, windows, opts, nil)
	Must(t, err)
	for i := range levels {
		levels[i].Mode, levels[i].Arrival, levels[i].RequestedRate = "open", "poisson", []float64{2, 4}[i]
		levels[i].StartUS = windows[i].StartUS
	}
	Must(t, telemetry.SummarizeLevels(dir, levels, true, 2))
	sum := record.Summary{SchemaVersion: record.SchemaVersion, Scenario: "fixture", Label: label, Status: record.StatusCompleted, Started: start, Finished: start.Add(25 * time.Second),
		Percentiles: opts.Percentiles, SLO: opts.SLO, Records: int(id), Levels: levels}
	Must(t, record.WriteJSONAtomic(filepath.Join(dir, record.SummaryFile), sum))
}

// Must fails the test on err.
func Must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Golden compares got with the file at path; update rewrites it first.
func Golden(t *testing.T, path string, got []byte, update bool) {
	t.Helper()
	if update {
		Must(t, os.MkdirAll(filepath.Dir(path), 0o755))
		Must(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from its golden file (run go test with -update after an intended change)", path)
	}
}
