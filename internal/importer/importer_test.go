package importer

import (
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/perfgate/perfgate/internal/compare"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/report"
	"github.com/perfgate/perfgate/internal/scenario"
)

func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-6*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func importOne(t *testing.T, format, file string, o Options) (string, record.Summary) {
	t.Helper()
	levels, err := Read(format, file)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "run")
	o.Format = format
	sum, err := Write(dir, levels, o)
	if err != nil {
		t.Fatal(err)
	}
	return dir, sum
}

// testdata/formats/vllm-detailed.json is a --save-detailed file written by hand:
// four requests at 2 req/s, one failed, with vLLM's own summary keys
// computed from its arrays the way vLLM computes them.
func TestImportVLLMDetailed(t *testing.T) {
	dir, sum := importOne(t, FormatVLLM, "../../testdata/formats/vllm-detailed.json", Options{})
	if len(sum.Levels) != 1 {
		t.Fatalf("%d levels", len(sum.Levels))
	}
	l := sum.Levels[0]
	if l.NumRequests != 4 || l.Completed != 3 || l.Failed != 1 || l.Errors != 1 || l.ErrorsByClass[record.ErrHTTP5xx] != 1 ||
		l.TotalInput != 116 || l.TotalOutput != 12 || l.RequestedRate != 2 || l.Mode != "open" {
		t.Errorf("level: %+v", l)
	}
	if len(l.Warnings) != 0 {
		t.Errorf("perfgate's recomputation disagrees with vLLM's own numbers: %v", l.Warnings)
	}
	near(t, "p99_ttft_ms", l.Latency["p99_ttft_ms"], 59.9) // numpy: 55 + 0.98·5
	near(t, "median_ttft_ms", l.Latency["median_ttft_ms"], 55)
	// the file's own duration (vLLM's benchmark start to its end), not
	// perfgate's first send to last end (1.595 s), so throughputs are vLLM's
	near(t, "duration", l.Duration, 1.6)
	near(t, "request_throughput", l.RequestThrough, 1.875)
	if l.DurationFrom != "vllm bench serve" {
		t.Errorf("duration_from %q", l.DurationFrom)
	}
	var file map[string]any
	b, _ := os.ReadFile("../../testdata/formats/vllm-detailed.json")
	json.Unmarshal(b, &file)
	near(t, "mean_tpot_ms", l.Latency["mean_tpot_ms"], file["mean_tpot_ms"].(float64))
	near(t, "median_itl_ms", l.Latency["median_itl_ms"], file["median_itl_ms"].(float64))

	// The folder is a run folder: report loads it, from result.json.
	r, err := report.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Complete || r.Meta.Engine.Model != "meta-llama/Llama-3.1-8B-Instruct" || r.Meta.Engine.API != "chat" || r.Meta.Tags["imported_from"] != "vllm" {
		t.Errorf("loaded: complete %v, meta %+v", r.Complete, r.Meta)
	}
}

// A number the file states that perfgate's recomputation does not reach is
// named in a level warning.
func TestImportCrossChecksTheFilesOwnNumbers(t *testing.T) {
	b, _ := os.ReadFile("../../testdata/formats/vllm-detailed.json")
	var m map[string]any
	json.Unmarshal(b, &m)
	m["mean_ttft_ms"] = 99.0
	p := filepath.Join(t.TempDir(), "x.json")
	b, _ = json.Marshal(m)
	os.WriteFile(p, b, 0o644)
	_, sum := importOne(t, FormatVLLM, p, Options{})
	if w := sum.Levels[0].Warnings; len(w) != 1 || !strings.Contains(w[0], "mean_ttft_ms 99") {
		t.Errorf("warnings: %v", w)
	}
}

// testdata/formats/profile_export.jsonl follows AIPerf's documented record shape:
// a warm-up request, three that succeed, one a 500, one cancelled. Beside
// it, profile_export_aiperf.json (AIPerf's aggregates and configuration)
// says the load (concurrency 2), the model, and AIPerf's own latencies,
// which the recomputed ones match.
func TestImportAIPerf(t *testing.T) {
	dir, sum := importOne(t, FormatAIPerf, "../../testdata/formats/profile_export.jsonl", Options{})
	l := sum.Levels[0]
	if l.NumRequests != 5 || l.Completed != 3 || l.Errors != 1 || l.Canceled != 1 || l.Failed != 2 || l.TotalInput != 300 || l.TotalOutput != 12 {
		t.Errorf("level: %+v", l)
	}
	if l.Mode != "closed" || l.RequestedConcurrency != 2 {
		t.Errorf("the aggregate file's load (concurrency 2): %s, %d", l.Mode, l.RequestedConcurrency)
	}
	for _, w := range l.Warnings {
		if strings.Contains(w, "the file says") {
			t.Errorf("AIPerf's own latencies must match the recomputed ones: %s", w)
		}
	}
	near(t, "median_ttft_ms", l.Latency["median_ttft_ms"], 50)
	near(t, "median_itl_ms", l.Latency["median_itl_ms"], 11) // the gaps pooled: 9 10 11 11 11 12 13 14 20
	near(t, "median_tpot_ms", l.Latency["median_tpot_ms"], 12)
	s, err := scenario.LoadFile(filepath.Join(dir, record.ScenarioFile))
	if err != nil || s.Model != "meta-llama/Llama-3.1-8B-Instruct" {
		t.Errorf("the model from the aggregate file: %v, %v", s, err)
	}

	_, sum = importOne(t, FormatAIPerf, "../../testdata/formats/profile_export.jsonl", Options{Rates: []float64{3}})
	if l := sum.Levels[0]; l.Mode != "open" || l.RequestedRate != 3 {
		t.Errorf("--rate 3 overrides the file: %+v", l)
	}

	// Alone, the records do not say the load: the achieved rate labels it.
	alone := filepath.Join(t.TempDir(), "profile_export.jsonl")
	b, err := os.ReadFile("../../testdata/formats/profile_export.jsonl")
	must(t, err)
	must(t, os.WriteFile(alone, b, 0o644))
	_, sum = importOne(t, FormatAIPerf, alone, Options{})
	near(t, "requested rate (achieved, labelled)", sum.Levels[0].RequestedRate, 4)

	// A broken aggregate file is said, and the records still import.
	must(t, os.WriteFile(filepath.Join(filepath.Dir(alone), AIPerfAggregateFile), []byte("{not json"), 0o644))
	levels, err := Read(FormatAIPerf, alone)
	if err != nil || !slices.ContainsFunc(levels[0].Notices, func(n string) bool { return strings.Contains(n, "could not be read") }) {
		t.Errorf("%v, notices %q", err, levels[0].Notices)
	}

	// An aggregate that disagrees with the records is said (its median TTFT 70 ms, the records' 50).
	agg, err := os.ReadFile("../../testdata/formats/" + AIPerfAggregateFile)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(filepath.Dir(alone), AIPerfAggregateFile), []byte(strings.Replace(string(agg), `"p50": 50.0`, `"p50": 70.0`, 1)), 0o644))
	_, sum = importOne(t, FormatAIPerf, alone, Options{})
	if !slices.ContainsFunc(sum.Levels[0].Warnings, func(w string) bool { return strings.Contains(w, "the file says median_ttft_ms 70") }) {
		t.Errorf("warnings %q", sum.Levels[0].Warnings)
	}
}

// Two imports with one scenario name compare, and the gate reads them.
func TestImportedRunsCompare(t *testing.T) {
	var dirs []string
	for i := range 2 {
		d, _ := importOne(t, FormatVLLM, "../../testdata/formats/vllm-detailed.json", Options{Scenario: "nightly", Label: []string{"main", "pr"}[i]})
		dirs = append(dirs, d)
	}
	base, err := compare.LoadTrials(dirs[:1])
	if err != nil {
		t.Fatal(err)
	}
	cand, err := compare.LoadTrials(dirs[1:])
	if err != nil {
		t.Fatal(err)
	}
	c, err := compare.Compare(base, cand, compare.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Scenario != "nightly" || len(c.Outcome.Results) == 0 {
		t.Errorf("comparison: %+v", c)
	}
}

func TestImportRefusesWhatItCannotUse(t *testing.T) {
	b, _ := os.ReadFile("../../testdata/formats/vllm-detailed.json")
	var m map[string]any
	json.Unmarshal(b, &m)
	tmp := t.TempDir()
	write := func(name string, v any) string {
		p := filepath.Join(tmp, name)
		b, _ := json.Marshal(v)
		os.WriteFile(p, b, 0o644)
		return p
	}
	noStart := map[string]any{}
	noSummary := map[string]any{}
	for k, v := range m {
		if k != "start_times" {
			noStart[k] = v
		}
		if k != "ttfts" && k != "itls" && k != "start_times" && k != "completed" {
			noSummary[k] = v
		}
	}
	bad := filepath.Join(tmp, "bad.jsonl")
	os.WriteFile(bad, []byte("{\"metadata\": {\"request_start_ns\": 1}, \"metrics\": {}}\nnot json\n"), 0o644)
	for _, c := range []struct{ format, path, want string }{
		{FormatVLLM, write("nostart.json", noStart), "start_times has 0 entries for 4 requests"},
		{FormatVLLM, write("summary.json", noSummary), "neither per-request data (ttfts) nor vLLM's summary (completed)"},
		{FormatAIPerf, bad, "bad.jsonl:1: a successful request without request_latency"},
		{"guidellm", bad, "unknown import format"},
	} {
		_, err := Read(c.format, c.path)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s: %v, want %q", c.format, filepath.Base(c.path), err, c.want)
		}
	}
	levels, _ := Read(FormatVLLM, "../../testdata/formats/vllm-detailed.json")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x"), nil, 0o644)
	if _, err := Write(dir, levels, Options{Format: FormatVLLM}); err == nil || !strings.Contains(err.Error(), "is not empty") {
		t.Errorf("a non-empty folder: %v", err)
	}
}

// --append-result files hold one result per line: each is a level.
func TestImportAppendedVLLMResults(t *testing.T) {
	b, _ := os.ReadFile("../../testdata/formats/vllm-detailed.json")
	var m map[string]any
	json.Unmarshal(b, &m)
	m["request_rate"] = 4.0
	b2, _ := json.Marshal(m)
	p := filepath.Join(t.TempDir(), "appended.json")
	os.WriteFile(p, append(append(b, '\n'), b2...), 0o644)
	_, sum := importOne(t, FormatVLLM, p, Options{})
	if len(sum.Levels) != 2 || sum.Levels[0].RequestedRate != 2 || sum.Levels[1].RequestedRate != 4 {
		t.Errorf("levels: %+v", sum.Levels)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// The hostile-input catalogue (testdata/hostile/import/expect.tsv): files a
// benchmark could not have written — negative or non-finite times, lengths
// beyond any context, send times that overflow the clock — are refused
// naming the request and the value, and leave no folder behind. Before,
// negative latencies were taken (a median TTFT of −50 ms) and report
// panicked on the others.
func TestHostileImports(t *testing.T) {
	const dir = "../../testdata/hostile/import"
	b, err := os.ReadFile(filepath.Join(dir, "expect.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		file, want, ok := strings.Cut(strings.TrimRight(line, "\n"), "\t")
		if !ok {
			t.Fatalf("expect.tsv: %q", line)
		}
		n++
		t.Run(file, func(t *testing.T) {
			format := FormatVLLM
			if strings.HasSuffix(file, ".aiperf.jsonl") {
				format = FormatAIPerf
			}
			out := filepath.Join(t.TempDir(), "run")
			err := importFile(format, filepath.Join(dir, file), out)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("got %v\nwant …%s…", err, want)
			}
			if _, serr := os.Stat(out); serr == nil {
				t.Errorf("a failed import left %s", out)
			}
		})
	}
	if n < 10 {
		t.Errorf("%d cases in the catalogue", n)
	}
}

// importFile is perfgate import of one file into out.
func importFile(format, file, out string) error {
	levels, err := Read(format, file)
	if err != nil {
		return err
	}
	_, err = Write(out, levels, Options{Format: format})
	return err
}

// vllm bench serve at rate inf with 70,000 prompts sends them all at once:
// the level is labelled with a scenario's largest concurrency and says so
// (it was refused as "a bug", leaving a half-written folder).
func TestImportVLLMRateInfManyPrompts(t *testing.T) {
	const n = 70_000
	v := map[string]any{"date": "20261129-093000", "backend": "openai", "model_id": "m", "request_rate": "inf", "max_concurrency": nil}
	in, out, ttft, itl, lat, start, errs := make([]int, n), make([]int, n), make([]float64, n), make([][]float64, n), make([]float64, n), make([]float64, n), make([]string, n)
	for i := range n {
		in[i], out[i], ttft[i], itl[i], lat[i], start[i] = 8, 2, 0.5, []float64{0.01}, 0.51, 100+float64(i)*1e-5
	}
	v["input_lens"], v["output_lens"], v["ttfts"], v["itls"], v["latencies"], v["start_times"], v["errors"] = in, out, ttft, itl, lat, start, errs
	b, _ := json.Marshal(v)
	file := filepath.Join(t.TempDir(), "inf.json")
	os.WriteFile(file, b, 0o644)
	levels, err := Read(FormatVLLM, file)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "run")
	sum, err := Write(dir, levels, Options{Format: FormatVLLM})
	if err != nil {
		t.Fatal(err)
	}
	if l := sum.Levels[0]; l.NumRequests != n || l.RequestedConcurrency != scenario.MaxConcurrency {
		t.Errorf("level: %d requests, concurrency %d", l.NumRequests, l.RequestedConcurrency)
	}
	var meta record.Meta
	mb, _ := os.ReadFile(filepath.Join(dir, record.MetaFile))
	json.Unmarshal(mb, &meta)
	if !slices.ContainsFunc(meta.Notices, func(s string) bool { return strings.Contains(s, "70000 requests were in flight at once") }) {
		t.Errorf("notices %q", meta.Notices)
	}
}

// One AIPerf record with more chunk times than any context is refused
// before its times are expanded (10M of them exhausted memory).
func TestImportAIPerfTooManyChunks(t *testing.T) {
	gaps := make([]float64, maxTokens+1)
	rec := map[string]any{"metadata": map[string]any{"request_start_ns": 1764408601000000000, "benchmark_phase": "profiling"},
		"metrics": map[string]any{"time_to_first_token": map[string]any{"value": 40.0, "unit": "ms"},
			"request_latency":     map[string]any{"value": 76.0, "unit": "ms"},
			"inter_chunk_latency": map[string]any{"value": gaps, "unit": "ms"}}}
	b, _ := json.Marshal(rec)
	file := filepath.Join(t.TempDir(), "profile_export.jsonl")
	os.WriteFile(file, append(b, '\n'), 0o644)
	if _, err := Read(FormatAIPerf, file); err == nil || !strings.Contains(err.Error(), "inter_chunk_latency has 1048577 entries") {
		t.Errorf("got %v", err)
	}
}

// testdata/formats/vllm-0.32-{detailed,summary}.json were written by vLLM
// 0.32.0's own `vllm bench serve` (12 random prompts at 8 req/s capped at 2
// in flight, against perfgate's simulator), with and without
// --save-detailed. Both import; each keeps the file's duration, so the
// throughputs are vLLM's; the detailed one's queue_times become each
// request's wait for a slot.
func TestImportVLLMFilesAsVLLMWritesThem(t *testing.T) {
	var file map[string]any
	b, err := os.ReadFile("../../testdata/formats/vllm-0.32-detailed.json")
	must(t, err)
	must(t, json.Unmarshal(b, &file))
	dir, sum := importOne(t, FormatVLLM, "../../testdata/formats/vllm-0.32-detailed.json", Options{Scenario: "s"})
	l := sum.Levels[0]
	if len(l.Warnings) != 0 {
		t.Errorf("perfgate's recomputation disagrees with vLLM's own numbers: %q", l.Warnings)
	}
	near(t, "duration", l.Duration, file["duration"].(float64))
	near(t, "request_throughput", l.RequestThrough, file["request_throughput"].(float64))
	var q float64
	for _, x := range file["queue_times"].([]any) {
		q += x.(float64) * 1000 / 12
	}
	if math.Abs(l.MeanQueueWaitMs-q) > 0.01 || q < 1 {
		t.Errorf("mean queue wait %.3f ms, the file's queue_times say %.3f", l.MeanQueueWaitMs, q)
	}
	if l.Latency["p99_e2el_incl_queue_ms"] <= l.Latency["p99_e2el_ms"] {
		t.Errorf("E2EL from the scheduled time must include the queue: %v vs %v", l.Latency["p99_e2el_incl_queue_ms"], l.Latency["p99_e2el_ms"])
	}

	// the summary file is another run of the same traffic: its statistics
	// are its own, and E2EL's from its latencies is what vLLM computed
	var sfile map[string]any
	b, err = os.ReadFile("../../testdata/formats/vllm-0.32-summary.json")
	must(t, err)
	must(t, json.Unmarshal(b, &sfile))
	agg, asum := importOne(t, FormatVLLM, "../../testdata/formats/vllm-0.32-summary.json", Options{Scenario: "s"})
	a := asum.Levels[0]
	for _, k := range []string{"mean_ttft_ms", "p90_ttft_ms", "p99_tpot_ms", "median_itl_ms", "mean_e2el_ms", "median_e2el_ms", "std_e2el_ms", "p90_e2el_ms", "p99_e2el_ms"} {
		near(t, k, a.Latency[k], sfile[k].(float64))
	}
	if !a.Aggregate || a.Completed != 12 || a.RequestedRate != 8 || a.OutputThrough <= 0 || a.DurationFrom != "vllm bench serve" {
		t.Errorf("aggregate level: %+v", a)
	}
	r, err := report.Load(agg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Meta.Tags[record.AggregateTag] != "true" || !slices.ContainsFunc(r.Notices, func(n string) bool { return strings.Contains(n, "statistics alone") }) ||
		!slices.ContainsFunc(r.Meta.Notices, func(n string) bool { return strings.Contains(n, "error classes") }) {
		t.Errorf("an aggregate run says what it lacks: tags %v, notices %q, meta notices %q", r.Meta.Tags, r.Notices, r.Meta.Notices)
	}
	if r.Summary.Levels[0].Latency["p90_ttft_ms"] != a.Latency["p90_ttft_ms"] {
		t.Errorf("report reads the aggregate's own numbers: %v", r.Summary.Levels[0].Latency)
	}
	// the statistics compare with the requests of the same traffic
	base, err := compare.LoadTrials([]string{dir})
	must(t, err)
	cand, err := compare.LoadTrials([]string{agg})
	must(t, err)
	c, err := compare.Compare(base, cand, compare.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Outcome.Results) == 0 {
		t.Errorf("one traffic, two files of it: %+v", c.Outcome)
	}
	for _, x := range c.Outcome.Results {
		if x.WorsePct.IsNaN() {
			t.Errorf("%s cannot be compared: the aggregate lacks it", x.Metric)
		}
	}
	// a detailed and an aggregate level do not share a folder
	d, _ := Read(FormatVLLM, "../../testdata/formats/vllm-0.32-detailed.json")
	s, _ := Read(FormatVLLM, "../../testdata/formats/vllm-0.32-summary.json")
	if _, err := Write(filepath.Join(t.TempDir(), "x"), append(d, s...), Options{Format: FormatVLLM}); err == nil || !strings.Contains(err.Error(), "one run folder holds levels of one kind") {
		t.Errorf("mixing: %v", err)
	}
}

// --slo gives an imported level its goodput; a file that states a goodput
// without it is said.
func TestImportGoodput(t *testing.T) {
	var file map[string]any
	b, _ := os.ReadFile("../../testdata/formats/vllm-0.32-detailed.json")
	must(t, json.Unmarshal(b, &file))
	good := 0
	for _, x := range file["ttfts"].([]any) {
		if x.(float64)*1000 <= 12 {
			good++
		}
	}
	_, sum := importOne(t, FormatVLLM, "../../testdata/formats/vllm-0.32-detailed.json", Options{SLO: record.SLO{TTFTMs: 12}})
	l := sum.Levels[0]
	if l.RequestGoodput == nil || good == 0 || good == 12 {
		t.Fatalf("goodput %v (requests within 12 ms: %d)", l.RequestGoodput, good)
	}
	near(t, "request_goodput", *l.RequestGoodput, float64(good)/file["duration"].(float64))
	if sum.SLO.TTFTMs != 12 {
		t.Errorf("result.json's SLO: %+v", sum.SLO)
	}

	file["request_goodput"] = 3.0
	p := filepath.Join(t.TempDir(), "goodput.json")
	b, _ = json.Marshal(file)
	must(t, os.WriteFile(p, b, 0o644))
	_, sum = importOne(t, FormatVLLM, p, Options{})
	if !slices.ContainsFunc(sum.Levels[0].Warnings, func(w string) bool { return strings.Contains(w, "give --slo") }) {
		t.Errorf("warnings %q", sum.Levels[0].Warnings)
	}
	_, sum = importOne(t, FormatVLLM, p, Options{SLO: record.SLO{TTFTMs: 12}})
	if !slices.ContainsFunc(sum.Levels[0].Warnings, func(w string) bool { return strings.Contains(w, "the file says request_goodput 3") }) {
		t.Errorf("warnings %q", sum.Levels[0].Warnings)
	}
}

// testdata/formats/aiperf-0.13 holds what AIPerf 0.13.0 wrote (12 requests
// at 8 req/s against perfgate's simulator): its configuration moved
// (input_config.phases, models.items), and its records say when each
// request was issued (credit_issued_ns), perfgate's scheduled time.
func TestImportAIPerf013(t *testing.T) {
	dir, sum := importOne(t, FormatAIPerf, "../../testdata/formats/aiperf-0.13/profile_export.jsonl", Options{})
	l := sum.Levels[0]
	if len(l.Warnings) != 0 {
		t.Errorf("perfgate's recomputation disagrees with AIPerf's own numbers: %q", l.Warnings)
	}
	if l.Mode != "open" || l.RequestedRate != 8 || l.Completed != 12 || l.DurationFrom != "aiperf" {
		t.Errorf("level: %+v", l)
	}
	near(t, "duration (start_time to end_time)", l.Duration, 1.515728)
	if !(l.MeanSchedDelay > 0 && l.MeanSchedDelay < 50) {
		t.Errorf("schedule delay from credit_issued_ns to request_start_ns: %v ms", l.MeanSchedDelay)
	}
	r, err := report.Load(dir)
	must(t, err)
	if r.Meta.Engine.Model != "tiny" || r.Meta.Tags["imported_tool"] != "aiperf 0.13.0" || !strings.HasPrefix(r.Meta.Tags["imported_command"], "aiperf profile --model 'tiny'") {
		t.Errorf("meta: model %q, tags %v", r.Meta.Engine.Model, r.Meta.Tags)
	}
	near(t, "request_throughput after report.Load", r.Summary.Levels[0].RequestThrough, l.RequestThrough)
}

// vllm bench serve writes Python's bare NaN and Infinity ("burstiness":
// Infinity for --burstiness inf); they read as null, and only outside
// strings.
func TestPythonJSONWords(t *testing.T) {
	in := `{"a": Infinity, "b": -Infinity, "c": NaN, "d": "NaN Infinity \"Infinity\"", "e": [1, -2, NaN], "f": -3}`
	b, err := io.ReadAll(newPyJSON(strings.NewReader(in)))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"a": null, "b": null, "c": null, "d": "NaN Infinity \"Infinity\"", "e": [1, -2, null], "f": -3}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	// one byte at a time, as a decoder may read
	var out []byte
	r := newPyJSON(strings.NewReader(in))
	for {
		one := make([]byte, 1)
		n, err := r.Read(one)
		out = append(out, one[:n]...)
		if err != nil {
			break
		}
	}
	if string(out) != want {
		t.Errorf("byte by byte: %s", out)
	}
}

// vllm bench serve --burstiness inf (constant arrivals) writes "burstiness":
// Infinity; that file imports.
func TestImportVLLMBurstinessInf(t *testing.T) {
	_, sum := importOne(t, FormatVLLM, "../../testdata/formats/vllm-0.32-burstiness-inf.json", Options{})
	if l := sum.Levels[0]; l.Completed != 40 || l.RequestedRate != 4 || len(l.Warnings) != 0 {
		t.Errorf("level: completed %d, rate %v, warnings %q", l.Completed, l.RequestedRate, l.Warnings)
	}
}

// The imported scenario's lengths are the completed requests' means: a
// failed request's output (0 in vLLM's output_lens) is not a length it
// asked for.
func TestImportedScenarioLengthsFromCompletedRequests(t *testing.T) {
	dir, _ := importOne(t, FormatVLLM, "../../testdata/formats/vllm-detailed.json", Options{})
	s, err := scenario.LoadFile(filepath.Join(dir, record.ScenarioFile))
	if err != nil {
		t.Fatal(err)
	}
	c := s.Workload.Classes[0]
	// completed: inputs 32, 40, 44 and outputs 4, 4, 4; the failed one 36 and 0
	if c.OutputTokens.Value != 4 || c.InputTokens.Value != 38 || s.Phases.Measure.Requests != 4 {
		t.Errorf("lengths %v/%v, requests %d", c.InputTokens.Value, c.OutputTokens.Value, s.Phases.Measure.Requests)
	}
}
