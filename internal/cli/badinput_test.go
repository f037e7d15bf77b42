package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The bad-input catalogue: every entry exits 2 with a message that says what
// was wrong, with file:line where there is a file.
func TestBadInputCatalogue(t *testing.T) {
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ok := "name: ok\nworkload: {classes: [{input_tokens: 10, output_tokens: 5}]}\nload: {rate: 1}\nphases: {measure: {requests: 1}}\n"
	with := func(name, from, to string) string {
		if !strings.Contains(ok, from) {
			t.Fatalf("%s: %q not in the base scenario", name, from)
		}
		return file(name+".yaml", strings.Replace(ok, from, to, 1))
	}
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	notRun := t.TempDir()
	os.WriteFile(filepath.Join(notRun, "meta.json"), []byte("{not json"), 0o644)
	cases := []struct {
		name string
		args []string
		want string // in stderr; for files also "FILE:LINE"
		line bool
	}{
		{"malformed YAML", []string{"validate", file("syntax.yaml", "name: x\nload:\n  rate: 1\n   concurrency: 2\n")}, "YAML syntax", true},
		{"tab indentation", []string{"validate", file("tabs.yaml", "name: x\nload:\n\trate: 1\n")}, "YAML syntax", true},
		{"unknown key", []string{"validate", with("unknown", "load: {rate: 1}", "load: {rat: 1}")}, `did you mean "rate"`, true},
		{"unknown top-level key", []string{"validate", with("top", "name: ok", "name: ok\nworklaod: {}")}, `did you mean "workload"`, true},
		{"wrong type", []string{"validate", with("type", "rate: 1", "rate: fast")}, "expected a number", true},
		{"list for a number", []string{"validate", with("list", "rate: 1", "rate: [1]")}, "expected a number", true},
		{"negative rate", []string{"validate", with("negrate", "rate: 1", "rate: -2")}, "must be > 0", true},
		{"zero rate", []string{"validate", with("zerorate", "rate: 1", "rate: 0")}, "must be > 0", true},
		{"zero duration", []string{"validate", with("zerodur", "measure: {requests: 1}", "measure: {duration: 0s}")}, "longer than zero", true},
		{"bad duration", []string{"validate", with("baddur", "measure: {requests: 1}", "measure: {duration: 5 minutes}")}, "duration such as", true},
		{"negative requests", []string{"validate", with("negreq", "requests: 1", "requests: -1")}, "must be from 0 to 100000000, got -1", true},
		{"impossible uniform", []string{"validate", with("uniform", "input_tokens: 10", "input_tokens: {dist: uniform, min: 50, max: 10}")}, "must be ≥ min", true},
		{"unknown distribution", []string{"validate", with("dist", "input_tokens: 10", "input_tokens: {dist: zipf}")}, "must be one of fixed", true},
		{"key the dist does not use", []string{"validate", with("distkey", "input_tokens: 10", "input_tokens: {dist: fixed, value: 10, sigma: 1}")}, "is not used by dist", true},
		{"zero tokens", []string{"validate", with("zerotok", "output_tokens: 5", "output_tokens: 0")}, "≥ 1 token", true},
		{"prefix longer than input", []string{"validate", with("prefix", "output_tokens: 5}", "output_tokens: 5, shared_prefix: {tokens: 10, distinct: 1}}")}, "leave room", true},
		{"rate and concurrency", []string{"validate", with("both", "rate: 1", "rate: 1, concurrency: 2")}, "not both", true},
		{"levels without mode", []string{"validate", with("levels", "rate: 1", "levels: [1, 2]")}, "needs mode", true},
		{"fractional concurrency", []string{"validate", with("frac", "load: {rate: 1}", "load: {mode: closed, levels: [1.5]}")}, "whole number", true},
		{"burstiness without gamma", []string{"validate", with("burst", "rate: 1", "rate: 1, burstiness: 0.5")}, "only applies to arrival: gamma", true},
		{"bad engine kind", []string{"validate", with("kind", "name: ok", "name: ok\nengine: {kind: tgi}")}, `must be "sim"`, true},
		{"endpoint without url", []string{"validate", with("nourl", "name: ok", "name: ok\nengine: {kind: endpoint}")}, "needs url", true},
		{"credentials in url", []string{"validate", with("creds", "name: ok", `name: ok
engine: {kind: endpoint, url: "http://u:p@h"}`)}, "must not carry credentials", true},
		{"api key in the file", []string{"validate", with("key", "name: ok", "name: ok\nengine: {kind: endpoint, url: \"http://h\", api_key_env: \"sk-abc def\"}")}, "name of an environment variable", true},
		{"unknown profile", []string{"validate", with("profile", "name: ok", "name: ok\nengine: {kind: sim, profile: tpu/llama}")}, "unknown simulator profile", true},
		{"bad gate metric", []string{"validate", with("gate", "name: ok", "name: ok\ngate: {metrics: [{name: speed, warn_pct: 1, fail_pct: 2}]}")}, "not a summary metric", true},
		{"percentile 100", []string{"validate", with("pct", "name: ok", "name: ok\npercentiles: [100]")}, "between 0 and 100", true},
		{"non-UTF-8 text", []string{"validate", file("latin1.yaml", "name: caf\xe9\n")}, "not valid UTF-8", true},
		{"empty file", []string{"validate", file("empty.yaml", "")}, "the file is empty", true},
		{"missing file", []string{"run", filepath.Join(dir, "nope.yaml")}, "nope.yaml: no such scenario file", false},
		{"unknown command", []string{"frobnicate"}, "unknown command", false},
		{"unknown flag", []string{"run", "--turbo", file("ok.yaml", ok)}, "unknown flag", false},
		{"bad label", []string{"run", file("ok2.yaml", ok), "--label", "a b"}, "--label", false},
		{"zero trials", []string{"run", file("ok3.yaml", ok), "--trials", "0"}, "--trials", false},
		{"report of no folder", []string{"report", filepath.Join(dir, "missing-run")}, "not a run folder", false},
		{"report of a broken folder", []string{"report", notRun}, "not a run folder", false},
		{"report format", []string{"report", notRun, "--format", "pdf"}, "formats are", false},
		{"compare without candidate", []string{"compare", "--baseline", notRun}, "--candidate", false},
		{"compare of broken folders", []string{"compare", "--baseline", notRun, "--candidate", notRun}, "not a run folder", false},
		{"ab without repo", []string{"ab", file("ok4.yaml", ok)}, "--vllm-repo", false},
		{"sim with a bad value", []string{"sim", "serve", "m", "--gpu-memory-utilization", "1.5"}, "gpu_memory_utilization", false},
		// Issue 18: numbers with no upper limit, files that are not scenarios, keys in URLs.
		{"huge output_tokens", []string{"validate", with("hugeout", "output_tokens: 5", "output_tokens: 1e15")}, "must be ≤ 1048576 tokens", true},
		{"huge input_tokens", []string{"validate", with("hugein", "input_tokens: 10", "input_tokens: {dist: uniform, min: 1, max: 99999999}")}, "must be ≤ 1048576 tokens", true},
		{"huge rate", []string{"validate", with("hugerate", "rate: 1", "rate: 1e12")}, "≤ 100000 requests/s", true},
		{"huge concurrency", []string{"validate", with("hugeconc", "load: {rate: 1}", "load: {concurrency: 100000000}")}, "from 1 to 65536", true},
		{"huge request count", []string{"validate", with("hugereq", "requests: 1", "requests: 9000000000")}, "from 0 to 100000000", true},
		{"a week-long phase", []string{"validate", with("hugedur", "measure: {requests: 1}", "measure: {duration: 10000h}")}, "must be from 0s to 168h0m0s", true},
		{"too much in flight", []string{"validate", with("mem", "input_tokens: 10, output_tokens: 5}]}\nload: {rate: 1}", "input_tokens: 1000000, output_tokens: 1000}]}\nload: {concurrency: 20000}")}, "would hold about", true},
		{"a key in the url's query", []string{"validate", with("qkey", "name: ok", `name: ok
engine: {kind: endpoint, url: "http://h:8000/?api_key=sk-123"}`)}, "its query has api_key=", true},
		{"bad max_event_bytes", []string{"validate", with("maxev", "name: ok", "name: ok\nmax_event_bytes: 1")}, "max_event_bytes: must be from 1024", true},
		{"bad output_tokens_from", []string{"validate", with("otf", "name: ok", "name: ok\noutput_tokens_from: words")}, `output_tokens_from: must be "usage"`, true},
		{"a NUL byte", []string{"validate", file("nul.yaml", "name: ok\nload: {rate: \x001}\n")}, ":2:14: a NUL byte", true},
		{"a second document", []string{"validate", file("two.yaml", ok+"---\nname: two\n")}, ":6: a second YAML document", true},
		{"a directory", []string{"validate", dir}, "is not a regular file", false},
		{"a FIFO (would hang)", []string{"validate", fifo}, "is not a regular file", false},
		{"/dev/zero (would never end)", []string{"run", "/dev/zero"}, "is not a regular file", false},
		{"a file over 1 MiB", []string{"validate", file("big.yaml", "name: ok\n# "+strings.Repeat("x", 1<<20)+"\n")}, "is over 1024 KiB", false},
		{"prompts-only ShareGPT without output_tokens", []string{"validate", file("sg.yaml", strings.Replace(ok, "classes: [{input_tokens: 10, output_tokens: 5}]", "classes: [{dataset: {path: "+file("sg.json", `[{"conversations":[{"from":"human","value":"q"}]}]`)+", format: sharegpt}}]", 1))}, "no output length (give output_tokens in the entry or the class) (entry 1)", false},
		{"a flood of unknown keys", []string{"validate", file("flood.yaml", "name: ok\n"+strings.Repeat("nokey: 1\n", 0)+floodKeys(500))}, "… and ", false},
	}
	if len(cases) < 30 {
		t.Fatalf("the catalogue has %d entries", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runCLI(t, context.Background(), nil, c.args...)
			if r.code != ExitUsage {
				t.Errorf("exit %d, want 2\n%s", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, c.want) {
				t.Errorf("stderr lacks %q:\n%s", c.want, r.stderr)
			}
			if c.line {
				f := c.args[len(c.args)-1]
				if !strings.Contains(r.stderr, f+":") {
					t.Errorf("no file:line in:\n%s", r.stderr)
				}
			}
		})
	}
}

// floodKeys is n unknown top-level keys.
func floodKeys(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "unknown_%d: 1\n", i)
	}
	return b.String()
}
