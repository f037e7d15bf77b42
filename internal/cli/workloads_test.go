package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/telemetry"
	"github.com/perfgate/perfgate/internal/timingtest"
)

func records(t *testing.T, dir string) []record.Record {
	t.Helper()
	var out []record.Record
	if _, err := record.Read(filepath.Join(dir, record.RequestsFile), func(r *record.Record) error {
		out = append(out, *r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTraceReplayTimesAndScale(t *testing.T) {
	dir := t.TempDir()
	var rows []string
	var offs []float64
	for i := range 30 {
		off := float64(i*i) * 0.9 // 0 … 757 ms, uneven gaps
		offs = append(offs, off)
		rows = append(rows, fmt.Sprintf("%g,%d,%d", off, 50+i, 4))
	}
	rows = append(rows, "garbage,1,1")
	os.WriteFile(filepath.Join(dir, "trace.csv"), []byte("offset_ms,input_tokens,output_tokens\n"+strings.Join(rows, "\n")+"\n"), 0o644)
	scen := filepath.Join(dir, "s.yaml")
	os.WriteFile(scen, []byte(`name: replay
engine: {kind: sim, time_scale: 8}
workload: {prompt: token_ids}
load: {arrival: trace, levels: [1, 2], trace: {format: csv, path: trace.csv}}
`), 0o644)
	var runDir string
	var r result
	// A stall of the machine delays every send planned inside it: only a
	// calm run can show how closely sends follow the trace.
	timingtest.Calm(t, 100*time.Millisecond, func() { runDir, r = runOK(t, scen) })
	if !strings.Contains(r.stderr, "1 of 31 entries skipped") || !strings.Contains(r.stdout, "trace ×2") {
		t.Errorf("stderr/stdout:\n%s\n%s", r.stderr, r.stdout)
	}
	sum := summaryOf(t, runDir)
	recs := records(t, runDir)
	slices.SortFunc(recs, func(a, b record.Record) int { return int(a.ScheduledUS - b.ScheduledUS) }) // trace order
	for _, l := range sum.Levels {
		speed := l.RequestedRate
		var lag []time.Duration
		n := 0
		for _, rec := range recs {
			if rec.Level != l.Level {
				continue
			}
			want := int64(offs[n] / speed * 1000) // µs
			if d := rec.ScheduledUS - l.StartUS - want; d < -1 || d > 1 {
				t.Errorf("level ×%g request %d scheduled %d µs after the start, the trace says %d", speed, n, rec.ScheduledUS-l.StartUS, want)
			}
			if rec.RequestedInput != 50+n {
				t.Errorf("request %d: %d input tokens", n, rec.RequestedInput)
			}
			lag = append(lag, time.Duration(rec.SentUS-l.StartUS-want)*time.Microsecond)
			n++
		}
		if n != 30 || l.NumRequests != 30 {
			t.Fatalf("level ×%g: %d requests", speed, n)
		}
		slices.Sort(lag)
		// The schedule is the trace's to the microsecond (above); the send
		// follows it within a millisecond (the median: the first requests
		// also open connections), several under the race detector.
		limit := time.Millisecond
		if raceBuild {
			limit = 6 * time.Millisecond
		}
		if lag[len(lag)/2] > limit {
			t.Errorf("level ×%g: send lag median %v (max %v)", speed, lag[len(lag)/2], lag[len(lag)-1])
		}
	}
}

// prefixCache is the simulator's prefix-cache counters (tokens hit, tokens
// queried) in the last telemetry sample that has both. The last sample can be
// up to an interval (more on a loaded machine) before the run's end, so the
// counts miss the last requests; their ratio, read from one sample, does not
// depend on where the sampling stopped.
func prefixCache(t *testing.T, dir string) (hits, queries float64) {
	t.Helper()
	samples, err := telemetry.ReadAll(filepath.Join(dir, telemetry.File))
	if err != nil {
		t.Fatal(err)
	}
	hits, queries = -1, -1
	for _, s := range samples {
		h, ok1 := s.Values["vllm:prefix_cache_hits_total"]
		q, ok2 := s.Values["vllm:prefix_cache_queries_total"]
		if ok1 && ok2 {
			hits, queries = h, q
		}
	}
	return hits, queries
}

func TestMooncakeHashIDsShareAPrefix(t *testing.T) {
	t.Parallel() // an end-to-end test of its own folders and servers
	dir := t.TempDir()
	write := func(name string, shared bool) string {
		var b strings.Builder
		for i := range 40 {
			ids := fmt.Sprintf("[7, 8, %d]", 100+i) // two shared blocks, one of its own
			if !shared {
				ids = fmt.Sprintf("[%d, %d, %d]", 1000+3*i, 1001+3*i, 1002+3*i)
			}
			fmt.Fprintf(&b, `{"timestamp": %d, "input_length": 1400, "output_length": 4, "hash_ids": %s}`+"\n", i*15, ids)
		}
		os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644)
		scen := filepath.Join(dir, name+".yaml")
		os.WriteFile(scen, []byte(`name: mooncake
engine: {kind: sim, time_scale: 4}
workload: {prompt: token_ids}
load: {arrival: trace, trace: {format: mooncake, path: `+name+`, block_tokens: 512}}
telemetry: {interval: 50ms}
`), 0o644)
		return scen
	}
	rate := map[bool]float64{}
	for _, shared := range []bool{true, false} {
		dir, _ := runOK(t, write(fmt.Sprintf("trace-%v.jsonl", shared), shared))
		hits, queries := prefixCache(t, dir)
		// At least ten of the 40 requests counted by the last sample (a
		// loaded machine's last sample missed ten of them).
		if queries < 10*1400 {
			t.Fatalf("shared %v: %v prefix-cache queries (tokens) in the last sample, want ≥ %d", shared, queries, 10*1400)
		}
		rate[shared] = hits / queries
	}
	// Every request after the first finds its 1024 shared tokens of 1400
	// cached: a hit rate of 0.73·(n-1)/n over n requests, ≥ 0.65 from ten on.
	// Distinct hash_ids share nothing.
	if rate[true] < 0.6 || rate[false] > 0.05 {
		t.Errorf("prefix-cache hit rate: shared hash_ids %.3f, distinct %.3f", rate[true], rate[false])
	}
}

func TestSessionsGrowAndReportTTFTByTurn(t *testing.T) {
	t.Parallel() // an end-to-end test of its own folders and servers
	scen := writeScenario(t, `name: chat-sessions
engine: {kind: sim, time_scale: 8}
workload:
  prompt: token_ids
  classes: [{input_tokens: 300, output_tokens: 24}]
  sessions: {turns: 4, think_time: 5ms, user_tokens: 40}
load: {concurrency: 3}
phases: {measure: {requests: 36}}
`)
	dir, _ := runOK(t, scen)
	bySession := map[int][]record.Record{}
	recs := records(t, dir)
	slices.SortFunc(recs, func(a, b record.Record) int { return int(a.ID - b.ID) })
	for _, rec := range recs {
		if rec.Session == 0 || rec.Turn == 0 {
			t.Fatalf("a request outside a session: %+v", rec)
		}
		bySession[rec.Session] = append(bySession[rec.Session], rec)
	}
	for s, recs := range bySession {
		for i, rec := range recs {
			if rec.Turn != i+1 {
				t.Fatalf("session %d: turns out of order: %d at %d", s, rec.Turn, i)
			}
			if i > 0 {
				if rec.RequestedInput != recs[i-1].RequestedInput+24+40 || rec.SentUS < recs[i-1].EndUS+5000 {
					t.Errorf("session %d turn %d: input %d after %d, sent %d µs after the previous end", s, rec.Turn, rec.RequestedInput, recs[i-1].RequestedInput, rec.SentUS-recs[i-1].EndUS)
				}
			}
		}
	}
	bt := summaryOf(t, dir).Levels[0].ByTurn
	if len(bt) != 4 || bt[0].Turn != 1 || bt[3].MeanInput <= bt[0].MeanInput || bt[0].MedianTTFTMs <= 0 {
		t.Fatalf("by turn: %+v", bt)
	}
	rep := t.TempDir()
	runCLI(t, context.Background(), nil, "report", dir, "--out", rep)
	if md, _ := os.ReadFile(filepath.Join(rep, "report.md")); !strings.Contains(string(md), "### By turn") {
		t.Error("report.md has no table by turn")
	}
}

func TestDatasetClassesRunWithSkipsInMeta(t *testing.T) {
	t.Parallel() // an end-to-end test of its own folders and servers
	fixtures := t.TempDir()
	for _, f := range []string{"sharegpt.json", "prompts.jsonl"} {
		b, _ := os.ReadFile(filepath.Join("../../testdata/formats", f))
		os.WriteFile(filepath.Join(fixtures, f), b, 0o644)
	}
	scen := writeScenario(t, `name: datasets
engine: {kind: sim, time_scale: 8}
workload:
  classes:
    - {name: sharegpt, weight: 2, dataset: {format: sharegpt, path: `+filepath.Join(fixtures, "sharegpt.json")+`, min_prompt_tokens: 0, min_output_tokens: 0}}
    - {name: prompts, dataset: {format: jsonl, path: `+filepath.Join(fixtures, "prompts.jsonl")+`}, output_tokens: 16}
    - {name: rag, input_tokens: 2000, output_tokens: 8}
load: {concurrency: 4}
phases: {measure: {requests: 40}}
`)
	dir, _ := runOK(t, scen)
	var meta record.Meta
	b, _ := os.ReadFile(filepath.Join(dir, record.MetaFile))
	json.Unmarshal(b, &meta)
	notes := strings.Join(meta.Notices, "\n")
	// line 20 is a question never answered: without a class output_tokens it has no output length
	if !strings.Contains(notes, "sharegpt.json: 1 of 6 entries skipped: no human turn (line 6)") ||
		!strings.Contains(notes, "sharegpt.json: 1 of 6 entries skipped: no output length (give output_tokens in the entry or the class) (line 20)") || !strings.Contains(notes, "prompts.jsonl: 1 of 6 entries skipped: not a JSON object (line 3)") {
		t.Errorf("notices:\n%s", notes)
	}
	classes := map[string]int{}
	for _, rec := range records(t, dir) {
		classes[rec.Class]++
		if !rec.OK() {
			t.Errorf("request failed: %+v", rec)
		}
	}
	if classes["sharegpt"] == 0 || classes["prompts"] == 0 || classes["rag"] == 0 {
		t.Errorf("classes %v", classes)
	}
	// The resolved scenario in the run folder names the files absolutely and loads back.
	if r := runCLI(t, context.Background(), nil, "validate", filepath.Join(dir, record.ScenarioFile)); r.code != 0 {
		t.Errorf("the snapshot does not validate: %s", r.stderr)
	}
	if len(meta.Inputs) != 2 || meta.Inputs[0].Role != "class sharegpt" || len(meta.Inputs[0].SHA256) != 64 || meta.Inputs[0].Entries != 3 || meta.Inputs[0].Skipped != 3 {
		t.Errorf("meta inputs %+v", meta.Inputs)
	}
	// Runs that read other data are never compared.
	f, _ := os.OpenFile(filepath.Join(fixtures, "prompts.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"prompt": "one more question", "output_tokens": 8}` + "\n")
	f.Close()
	dir2, _ := runOK(t, scen)
	r := runCLI(t, context.Background(), nil, "compare", "--baseline", dir, "--candidate", dir2, "--out", t.TempDir())
	if r.code != ExitUsage || !strings.Contains(r.stderr, "read different workload files") {
		t.Errorf("compare of different data: %d %s", r.code, r.stderr)
	}
	// The run folder stays readable without the files (another machine).
	os.Remove(filepath.Join(fixtures, "sharegpt.json"))
	if r := runCLI(t, context.Background(), nil, "report", dir, "--out", t.TempDir()); r.code != 0 {
		t.Errorf("report without the dataset file: %d %s", r.code, r.stderr)
	}
	// A missing file is a validation error at its line.
	bad := writeScenario(t, `name: x
workload:
  classes:
    - {dataset: {format: sharegpt, path: no-such.json}}
load: {concurrency: 1}
phases: {measure: {requests: 1}}
`)
	if r := runCLI(t, context.Background(), nil, "validate", bad); r.code != ExitUsage || !strings.Contains(r.stderr, ":4:") || !strings.Contains(r.stderr, "no-such.json cannot be read") {
		t.Errorf("missing dataset: %d %s", r.code, r.stderr)
	}
}

// A trace replayed at two speed-ups: with phases.between_levels reset (the
// default) the second level starts from an empty prefix cache, as the first
// did; with keep it finds every block the first level left.
func TestLevelsStartCold(t *testing.T) {
	t.Parallel() // an end-to-end test of its own folders and servers
	dir := t.TempDir()
	var b strings.Builder
	for i := range 24 {
		fmt.Fprintf(&b, `{"timestamp": %d, "input_length": 1100, "output_length": 4, "hash_ids": [%d, %d, %d]}`+"\n", i*20, 3*i, 3*i+1, 3*i+2)
	}
	os.WriteFile(filepath.Join(dir, "trace.jsonl"), []byte(b.String()), 0o644)
	hitRate := map[string][2]float64{}
	for _, between := range []string{"", "keep"} {
		scen := filepath.Join(dir, "levels"+between+".yaml")
		extra := ""
		if between != "" {
			extra = "phases: {between_levels: " + between + "}\n"
		}
		os.WriteFile(scen, []byte(`name: cold-levels
engine: {kind: sim, time_scale: 4}
workload: {prompt: token_ids}
load: {arrival: trace, levels: [2, 4], trace: {format: mooncake, path: trace.jsonl, block_tokens: 512}}
telemetry: {interval: 20ms}
`+extra), 0o644)
		dir, _ := runOK(t, scen)
		s := summaryOf(t, dir)
		var rates [2]float64
		for i, l := range s.Levels {
			if l.Telemetry == nil || l.Telemetry.Measure.PrefixCacheHitRate == nil {
				t.Fatalf("between_levels %q: level %d has no prefix-cache hit rate", between, i+1)
			}
			rates[i] = *l.Telemetry.Measure.PrefixCacheHitRate
			if len(l.Warnings) > 0 && strings.Contains(strings.Join(l.Warnings, " "), "between_levels") {
				t.Errorf("no warning when the reset worked: %v", l.Warnings)
			}
		}
		hitRate[between] = rates
	}
	if r := hitRate[""]; r[0] > 0.05 || r[1] > 0.05 {
		t.Errorf("reset: both levels start cold, hit rates %v", r)
	}
	if r := hitRate["keep"]; r[0] > 0.05 || r[1] < 0.5 {
		t.Errorf("keep: the second level finds the first's blocks, hit rates %v", r)
	}
}

// An endpoint that does not serve POST /reset_prefix_cache (vLLM without
// VLLM_SERVER_DEV_MODE=1): the run goes on, and the level says it ran warm.
func TestLevelsResetRefusedIsSaid(t *testing.T) {
	url := simURL(t, nil) // DevMode off: the route is not there
	scen := writeScenario(t, `name: warm-levels
model: m
engine: {kind: endpoint, url: "`+url+`"}
workload: {prompt: token_ids, classes: [{input_tokens: 64, output_tokens: 4}]}
load: {mode: closed, levels: [1, 2]}
phases: {measure: {requests: 6}, between_levels: reset}
`)
	dir, r := runOK(t, scen)
	if !strings.Contains(r.stderr, "level 2 starts with the prefix cache") {
		t.Fatalf("stderr:\n%s", r.stderr)
	}
	s := summaryOf(t, dir)
	if len(s.Levels) != 2 || strings.Contains(strings.Join(s.Levels[0].Warnings, " "), "between_levels") ||
		!strings.Contains(strings.Join(s.Levels[1].Warnings, " "), "answered 404") {
		t.Errorf("warnings: %q / %q", s.Levels[0].Warnings, s.Levels[1].Warnings)
	}
}
