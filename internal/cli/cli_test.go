package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perfgate/perfgate/internal/analysis"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/run"
	"github.com/perfgate/perfgate/internal/scenario"
	"github.com/perfgate/perfgate/internal/sim"
)

type result struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, ctx context.Context, env map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(ctx, args, Env{
		Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return env[k] },
		Args:   append([]string{"perfgate"}, args...),
	})
	return result{code, out.String(), errb.String()}
}

func writeScenario(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "s.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const tiny = `
name: tiny run
seed: 5
engine: {kind: sim, max_num_seqs: 4, time_scale: 4}
workload: {classes: [{input_tokens: {dist: uniform, min: 10, max: 40}, output_tokens: 8}]}
load: {mode: open, levels: [20, 40], arrival: poisson}
phases: {warmup: {duration: 100ms}, measure: {duration: 400ms}}
slo: {ttft_ms: 100}
percentiles: [50, 99]
`

// runOK runs scen into a fresh output folder, fails the test unless it
// exits 0, and gives the run folder and what the command printed.
func runOK(t *testing.T, scen string) (string, result) {
	t.Helper()
	out := t.TempDir()
	r := runCLI(t, context.Background(), nil, "run", scen, "--out", out)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	return onlyDir(t, out), r
}

func onlyDir(t *testing.T, out string) string {
	t.Helper()
	entries, err := os.ReadDir(out)
	if err != nil || len(entries) != 1 {
		t.Fatalf("want one run folder in %s: %v %v", out, entries, err)
	}
	return filepath.Join(out, entries[0].Name())
}

func TestRunWritesTheRunFolder(t *testing.T) {
	t.Parallel() // an end-to-end test of its own folders and servers
	out := t.TempDir()
	r := runCLI(t, context.Background(), nil, "run", writeScenario(t, tiny), "--out", out, "--label", "base")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	dir := onlyDir(t, out)
	if !strings.HasSuffix(dir, "_tiny-run_base") {
		t.Errorf("folder name %s", dir)
	}
	for _, f := range []string{record.ScenarioFile, record.MetaFile, record.RequestsFile, record.SummaryFile, "telemetry.jsonl"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	var sum record.Summary
	if err := record.ReadJSON(filepath.Join(dir, record.SummaryFile), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Status != record.StatusCompleted || sum.Interrupted || len(sum.Levels) != 2 || sum.SchemaVersion != record.SchemaVersion {
		t.Fatalf("summary: %+v", sum)
	}
	for i, l := range sum.Levels {
		if l.Completed == 0 || l.Errors != 0 || l.OutputThrough <= 0 || l.RequestGoodput == nil || l.RequestedRate != []float64{20, 40}[i] {
			t.Errorf("level %d: %+v", i, l)
		}
		for _, k := range []string{"median_ttft_ms", "p99_ttft_ms", "p50_tpot_ms", "mean_itl_ms", "std_e2el_ms"} {
			if _, ok := l.Latency[k]; !ok {
				t.Errorf("level %d lacks %s", i, k)
			}
		}
	}
	for i, l := range sum.Levels {
		if l.Telemetry == nil || l.Telemetry.Measure == nil {
			t.Fatalf("level %d has no telemetry", i)
		}
		m := l.Telemetry.Measure
		if m.Samples == 0 || m.RunningMean == nil || m.ClientCPUPeakPct == nil || m.Preemptions == nil {
			t.Errorf("level %d telemetry: %+v", i, l.Telemetry)
		}
	}
	var meta record.Meta
	record.ReadJSON(filepath.Join(dir, record.MetaFile), &meta)
	if meta.Host.CPUCores == 0 || meta.Host.MemTotalBytes == 0 || meta.GoVersion == "" {
		t.Errorf("meta host: %+v", meta.Host)
	}
	if meta.GPU == nil && len(meta.Notices) == 0 {
		t.Error("without a GPU, meta.json must say why there is no GPU telemetry")
	}
	if meta.Engine.Kind != "sim" || meta.Engine.Model != "meta-llama/Llama-3.1-8B-Instruct" || meta.StartWall.IsZero() || !meta.Tokenizer.Calibrated {
		t.Errorf("meta: %+v", meta)
	}
	// The snapshot is a valid scenario with the defaults filled in.
	snap, err := scenario.LoadFile(filepath.Join(dir, record.ScenarioFile))
	if err != nil || snap.Model != "meta-llama/Llama-3.1-8B-Instruct" || snap.RequestTimeout.D() != scenario.DefaultRequestTimeout {
		t.Errorf("snapshot: %+v %v", snap, err)
	}
	if !strings.Contains(r.stdout, "TTFT p50") || !strings.Contains(r.stdout, "run folder: "+dir) {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "level 2/2 (40 req/s)") {
		t.Errorf("no progress lines on stderr:\n%s", r.stderr)
	}
}

func TestInterruptedRunStaysReadable(t *testing.T) {
	out := t.TempDir()
	long := strings.Replace(tiny, "measure: {duration: 400ms}", "measure: {duration: 30s}", 1)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(600*time.Millisecond, cancel)
	r := runCLI(t, ctx, nil, "run", writeScenario(t, long), "--out", out, "--grace", "100ms")
	if r.code != ExitFailed || !strings.Contains(r.stderr, "interrupted") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	dir := onlyDir(t, out)
	var sum record.Summary
	if err := record.ReadJSON(filepath.Join(dir, record.SummaryFile), &sum); err != nil {
		t.Fatal(err)
	}
	if !sum.Interrupted || sum.Status != record.StatusInterrupted || len(sum.Levels) != 1 || sum.Levels[0].Completed == 0 {
		t.Fatalf("summary: %+v", sum)
	}
	// As if perfgate had been killed: no summary, half a line at the end.
	os.Remove(filepath.Join(dir, record.SummaryFile))
	f, _ := os.OpenFile(filepath.Join(dir, record.RequestsFile), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"id":99999,"phase":"meas`)
	f.Close()
	levels, st, err := analysis.ReadLevels(dir, nil, analysis.Options{Percentiles: []float64{50}}, nil)
	if err != nil || !st.TornTail || len(levels) != 1 || levels[0].Completed != sum.Levels[0].Completed {
		t.Fatalf("re-read: %+v %+v %v", levels, st, err)
	}
}

func TestReportCommand(t *testing.T) {
	t.Parallel() // an end-to-end test of its own folders and servers
	out := t.TempDir()
	r := runCLI(t, context.Background(), nil, "run", writeScenario(t, tiny), "--out", out)
	if r.code != 0 {
		t.Fatalf("run: %d %s", r.code, r.stderr)
	}
	dir := onlyDir(t, out)
	rep := filepath.Join(t.TempDir(), "rep")
	r = runCLI(t, context.Background(), nil, "report", dir, dir, "--out", rep, "--format", "md,csv")
	if r.code != 0 || !strings.Contains(r.stdout, "wrote") {
		t.Fatalf("report: %d %s %s", r.code, r.stdout, r.stderr)
	}
	for _, f := range []string{"report.md", "report.csv", "plots/hockey-ttft.svg", "plots/timeline-2.png"} {
		if _, err := os.Stat(filepath.Join(rep, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	if _, err := os.Stat(filepath.Join(rep, "report.html")); err == nil {
		t.Error("--format md,csv must not write html")
	}
	// One run: the default folder is RUN/report.
	if r := runCLI(t, context.Background(), nil, "report", dir, "--format", "json"); r.code != 0 {
		t.Fatalf("%s", r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "report", "report.json")); err != nil {
		t.Error("default output folder")
	}
	for _, args := range [][]string{{"report"}, {"report", t.TempDir()}, {"report", dir, "--format", "pdf"}, {"report", "/nonexistent"}} {
		if r := runCLI(t, context.Background(), nil, args...); r.code != ExitUsage || r.stderr == "" {
			t.Errorf("%v: exit %d %q", args, r.code, r.stderr)
		}
	}
}

func TestValidate(t *testing.T) {
	good := writeScenario(t, tiny)
	if r := runCLI(t, context.Background(), nil, "validate", good); r.code != 0 || !strings.Contains(r.stdout, "ok (tiny run, 2 level(s), sim engine)") {
		t.Errorf("good: %+v", r)
	}
	bad := writeScenario(t, strings.Replace(tiny, "levels:", "levles:", 1))
	r := runCLI(t, context.Background(), nil, "validate", good, bad)
	if r.code != ExitUsage || !strings.Contains(r.stderr, bad+":6:") || !strings.Contains(r.stderr, `did you mean "levels"?`) {
		t.Errorf("bad: %+v", r)
	}
	if r := runCLI(t, context.Background(), nil, "validate", "/nonexistent.yaml"); r.code != ExitUsage || !strings.Contains(r.stderr, "/nonexistent.yaml: no such scenario file") {
		t.Errorf("missing file: %+v", r)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"run"},
		{"run", "a.yaml", "b.yaml"},
		{"run", "--bogus", "x.yaml"},
		{"frobnicate"},
		{"validate"},
		{"run", writeScenario(t, tiny), "--label", "a/b"},
		{"run", "/nonexistent.yaml"},
	} {
		r := runCLI(t, context.Background(), nil, args...)
		if r.code != ExitUsage || r.stderr == "" {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
}

func TestEndpointProblems(t *testing.T) {
	ep := func(url string) string {
		return `
name: ep
engine: {kind: endpoint, url: "` + url + `", api_key_env: PERFGATE_TEST_KEY}
workload: {classes: [{input_tokens: 10, output_tokens: 2}]}
load: {concurrency: 1}
phases: {measure: {requests: 1}}
`
	}
	r := runCLI(t, context.Background(), nil, "run", writeScenario(t, ep("http://127.0.0.1:9")), "--out", t.TempDir())
	if r.code != ExitUsage || !strings.Contains(r.stderr, "PERFGATE_TEST_KEY") {
		t.Errorf("missing key: %+v", r)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	out := t.TempDir()
	r = runCLI(t, context.Background(), map[string]string{"PERFGATE_TEST_KEY": "k"}, "run", writeScenario(t, ep("http://"+addr)), "--out", out)
	if r.code != ExitFailed || !strings.Contains(r.stderr, "connection refused") {
		t.Errorf("unreachable: %+v", r)
	}
}

func TestEndpointRun(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.Model, cfg.TimeScale = "served-model", 20
	srv, err := sim.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	out := t.TempDir()
	r := runCLI(t, context.Background(), map[string]string{"KEY": "sk-test-123"}, "run", writeScenario(t, `
name: ep
api: chat
engine: {kind: endpoint, url: "`+srv.URL+`/v1", api_key_env: KEY}
workload: {classes: [{input_tokens: 10, output_tokens: 3}]}
load: {concurrency: 2}
phases: {measure: {requests: 10}}
`), "--out", out)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	dir := onlyDir(t, out)
	var meta record.Meta
	record.ReadJSON(filepath.Join(dir, record.MetaFile), &meta)
	if meta.Engine.Model != "served-model" || meta.Engine.Kind != "endpoint" || meta.Engine.API != "chat" {
		t.Errorf("meta: %+v", meta.Engine)
	}
	var sum record.Summary
	record.ReadJSON(filepath.Join(dir, record.SummaryFile), &sum)
	if len(sum.Levels) != 1 || sum.Levels[0].Completed != 10 || sum.Levels[0].TotalOutput != 30 {
		t.Errorf("summary: %+v", sum.Levels)
	}
	// The key reaches the server but no file.
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if b, _ := os.ReadFile(p); !info.IsDir() && bytes.Contains(b, []byte("sk-test-123")) {
			t.Errorf("%s contains the API key", p)
		}
		return nil
	})
}

func TestHelpHasExamples(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"run", "--help"}, {"validate", "--help"}} {
		r := runCLI(t, context.Background(), nil, args...)
		if r.code != 0 || !strings.Contains(r.stdout, "Examples:") {
			t.Errorf("%v: %d %s", args, r.code, r.stdout)
		}
	}
}

func TestRedactURL(t *testing.T) {
	got := run.RedactURL("https://u:pw@host:8/v1?api_key=sk-1&x=2&token=abc")
	if strings.Contains(got, "sk-1") || strings.Contains(got, "abc") || strings.Contains(got, "pw") || !strings.Contains(got, "x=2") {
		t.Errorf("%s", got)
	}
}

func TestRedactArgs(t *testing.T) {
	got := run.RedactArgs([]string{"perfgate", "--api-key", "sk-1", "--token=abc", "run", "x.yaml"})
	b, _ := json.Marshal(got)
	if strings.Contains(string(b), "sk-1") || strings.Contains(string(b), "abc") || got[4] != "run" {
		t.Errorf("%v", got)
	}
}
