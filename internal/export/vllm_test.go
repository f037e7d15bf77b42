package export

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/report"
	"github.com/perfgate/perfgate/internal/scenario"
)

// The input contracts of vLLM's three readers of `vllm bench serve` result
// files, as their code (vLLM, late 2026) reads them; vLLM's code stays out of
// this repository, so each is restated here:
//
//   - .buildkite/performance-benchmarks/scripts/convert-results-json-to-markdown.py
//     globs RESULTS/*.json (not recursively), takes a file whose path
//     contains "serving" for a serving result, reads STEM.commands beside it
//     (JSON: server_command and client_command, shell strings of at least an
//     executable and a script, then --flag value pairs), takes tp_size,
//     pp_size and dtype from the server's --tensor-parallel-size,
//     --pipeline-parallel-size and --dtype and dataset_name, input_len,
//     output_len and qps from the client's --dataset-name,
//     --random-input-len, --random-output-len and --request-rate, sets
//     test_name to the stem, keeps the columns of its serving table that
//     exist, and splits gpu_type on newlines (a KeyError without it).
//   - compare-json-results.py reads convert's benchmark_results.json: records
//     keyed by the renamed columns, Model … qps as keys (the numeric ones
//     through pd.to_numeric), "Output Tput (tok/s)", "P99 TTFT (ms)" and
//     "P99" (p99 TPOT) or "Median TTFT (ms)" and "Median" as data.
//   - vllm bench sweep plot globs OUTPUT_DIR/**/summary.json, each a JSON list
//     of result objects, and needs its --var-x and --var-y (by default
//     request_throughput and p99_e2el_ms) in every one.
var convertServingColumns = []struct{ key, column string }{
	{"test_name", "Test name"}, {"model_id", "Model"}, {"dataset_name", "Dataset Name"}, {"input_len", "Input Len"},
	{"output_len", "Output Len"}, {"tp_size", "TP Size"}, {"pp_size", "PP Size"}, {"dtype", "dtype"}, {"gpu_type", "GPU"},
	{"completed", "# of req."}, {"qps", "qps"}, {"max_concurrency", "# of max concurrency."},
	{"request_throughput", "Tput (req/s)"}, {"total_token_throughput", "Total Token Tput (tok/s)"},
	{"output_throughput", "Output Tput (tok/s)"}, {"mean_ttft_ms", "Mean TTFT (ms)"}, {"median_ttft_ms", "Median TTFT (ms)"},
	{"p99_ttft_ms", "P99 TTFT (ms)"}, {"std_ttft_ms", "STD TTFT (ms)"}, {"mean_tpot_ms", "Mean TPOT (ms)"},
	{"median_tpot_ms", "Median"}, {"p99_tpot_ms", "P99"}, {"std_tpot_ms", "STD TPOT (ms)"}, {"mean_itl_ms", "Mean ITL (ms)"},
	{"median_itl_ms", "Median ITL (ms)"}, {"p99_itl_ms", "P99 ITL (ms)"},
}

// The columns convert fills from the .commands file, and may leave out.
var fromCommands = map[string]bool{"tp_size": true, "pp_size": true, "dtype": true}

// shlexSplit splits the way Python's shlex.split does in POSIX mode, for the
// quoting perfgate writes (single quotes, double quotes, backslashes).
func shlexSplit(t *testing.T, s string) []string {
	var out []string
	var cur strings.Builder
	inTok, quote := false, rune(0)
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				cur.WriteRune(c)
			}
		case quote == '"':
			if c == '"' {
				quote = 0
			} else if c == '\\' && i+1 < len(rs) && strings.ContainsRune(`"\$`+"`", rs[i+1]) {
				i++
				cur.WriteRune(rs[i])
			} else {
				cur.WriteRune(c)
			}
		case c == '\'' || c == '"':
			quote, inTok = c, true
		case c == '\\' && i+1 < len(rs):
			i++
			cur.WriteRune(rs[i])
			inTok = true
		case c == ' ' || c == '\t' || c == '\n':
			if inTok {
				out = append(out, cur.String())
				cur.Reset()
				inTok = false
			}
		default:
			cur.WriteRune(c)
			inTok = true
		}
	}
	if quote != 0 {
		t.Fatalf("shlex: no closing quotation in %q", s)
	}
	if inTok {
		out = append(out, cur.String())
	}
	return out
}

var intRe, floatRe = regexp.MustCompile(`^[+-]?\d+$`), regexp.MustCompile(`^[+-]?\d*\.\d+$`)

// parseCommand is convert's parse_client_command: {executable, script, args}.
func parseCommand(t *testing.T, cmd string) map[string]any {
	toks := shlexSplit(t, cmd)
	if len(toks) < 2 {
		t.Fatalf("command %q: client_command must include an executable and a script", cmd)
	}
	coerce := func(v string) any {
		switch {
		case intRe.MatchString(v):
			n, _ := strconv.Atoi(v)
			return float64(n)
		case floatRe.MatchString(v):
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
		return v
	}
	args := map[string]any{}
	for i := 2; i < len(toks); {
		tk := toks[i]
		if !strings.HasPrefix(tk, "--") {
			i++
			continue
		}
		if k, v, ok := strings.Cut(tk, "="); ok {
			args[k] = coerce(v)
			i++
		} else if i+1 < len(toks) && !strings.HasPrefix(toks[i+1], "--") {
			args[tk] = coerce(toks[i+1])
			i += 2
		} else {
			args[tk] = true
			i++
		}
	}
	return args
}

// convertLikeVLLM does what convert-results-json-to-markdown.py does to a
// folder and returns benchmark_results.json's serving records.
func convertLikeVLLM(t *testing.T, dir string) []map[string]any {
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	var rows []map[string]any
	for _, f := range files {
		raw := map[string]any{}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(f, "serving") {
			continue // "Skipping"
		}
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatalf("%s: json.loads: %v", f, err)
		}
		cb, err := os.ReadFile(strings.TrimSuffix(f, ".json") + ".commands")
		if err != nil {
			t.Fatalf("%s: convert skips a result without .commands: %v", f, err)
		}
		var cmds map[string]any
		if err := json.Unmarshal(cb, &cmds); err != nil {
			t.Fatal(err)
		}
		sc, _ := cmds["server_command"].(string)
		cc, _ := cmds["client_command"].(string)
		srv, cli := parseCommand(t, sc), parseCommand(t, cc)
		for flag, col := range map[string]string{"--tensor-parallel-size": "tp_size", "--pipeline-parallel-size": "pp_size", "--dtype": "dtype"} {
			if v, ok := srv[flag]; ok {
				raw[col] = v
			}
		}
		for flag, col := range map[string]string{"--dataset-name": "dataset_name", "--random-input-len": "input_len", "--random-output-len": "output_len", "--request-rate": "qps"} {
			if v, ok := cli[flag]; ok {
				raw[col] = v
			}
		}
		for k, v := range cmds {
			raw[k] = v
		}
		raw["test_name"] = strings.TrimSuffix(filepath.Base(f), ".json")
		gpu, ok := raw["gpu_type"].(string)
		if !ok {
			t.Fatalf("%s: no gpu_type string: convert's df[\"GPU\"] raises KeyError", f)
		}
		row := map[string]any{}
		for _, c := range convertServingColumns {
			v, ok := raw[c.key]
			if !ok {
				if !fromCommands[c.key] {
					t.Errorf("%s: no %s (%q in vLLM's table)", f, c.key, c.column)
				}
				continue
			}
			row[c.column] = v
		}
		parts := strings.Split(gpu, "\n")
		row["GPU"] = strconv.Itoa(len(parts)) + "x" + parts[0]
		rows = append(rows, row)
	}
	return rows
}

func TestVLLMFormatMeetsVLLMScriptsContracts(t *testing.T) {
	runs, err := report.LoadAll([]string{"../report/testdata/runs/baseline", "../report/testdata/runs/candidate"})
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	files, err := VLLM(runs, out)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2*2*2+1 {
		t.Errorf("files: %v", files)
	}
	dir := filepath.Join(out, VLLMDir)

	// convert-results-json-to-markdown.py
	rows := convertLikeVLLM(t, dir)
	if len(rows) != 4 {
		t.Fatalf("convert found %d serving results, want 4 (2 runs × 2 levels)", len(rows))
	}
	// compare-json-results.py, on what convert wrote
	for _, row := range rows {
		for _, c := range []string{"Model", "Dataset Name", "Input Len", "Output Len", "# of max concurrency.", "qps",
			"Output Tput (tok/s)", "P99 TTFT (ms)", "P99", "Median TTFT (ms)", "Median"} {
			if _, ok := row[c]; !ok {
				t.Errorf("%v: compare-json-results.py needs %q", row["Test name"], c)
			}
		}
		for _, c := range []string{"Input Len", "Output Len", "qps", "Output Tput (tok/s)", "P99 TTFT (ms)", "P99"} {
			if _, ok := row[c].(float64); !ok {
				t.Errorf("%v: %q = %v (%T), not a number", row["Test name"], c, row[c], row[c])
			}
		}
		if row["# of max concurrency."] != nil { // open loop, no cap: null, as vLLM writes it
			t.Errorf("%v: max concurrency %v", row["Test name"], row["# of max concurrency."])
		}
		if row["GPU"] != "1xsimulated" || row["Dataset Name"] != "random" {
			t.Errorf("%v: GPU %v, dataset %v", row["Test name"], row["GPU"], row["Dataset Name"])
		}
	}

	// vllm bench sweep plot, pointed at the report or at the runs.
	for _, root := range []string{out, "../report/testdata/runs"} {
		found := 0
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.Name() != "summary.json" {
				return err
			}
			found++
			var list []map[string]any
			b, _ := os.ReadFile(p)
			if err := json.Unmarshal(b, &list); err != nil {
				t.Errorf("%s: sweep plot reads a list of results: %v", p, err)
			}
			for _, r := range list {
				for _, k := range []string{"request_throughput", "p99_e2el_ms", "label", "request_rate"} {
					if _, ok := r[k]; !ok {
						t.Errorf("%s: a result without %s", p, k)
					}
				}
			}
			if len(list) != 4 {
				t.Errorf("%s: %d results, want 4", p, len(list))
			}
			return nil
		})
		if want := map[string]int{out: 1, "../report/testdata/runs": 0}[root]; found != want {
			t.Errorf("%s: %d summary.json files, want %d (a run folder's own results are result.json)", root, found, want)
		}
	}

	// Same names, same meanings: the values are the level's.
	var first map[string]any
	b, _ := os.ReadFile(filepath.Join(dir, vllmFileName(runs[0], runs[0].Summary.Levels[1])+".json"))
	if err := json.Unmarshal(b, &first); err != nil {
		t.Fatal(err)
	}
	l := runs[0].Summary.Levels[1]
	for k, want := range map[string]float64{"completed": float64(l.Completed), "failed": float64(l.NumRequests - l.Completed),
		"num_prompts": float64(l.NumRequests), "duration": l.Duration, "request_throughput": l.RequestThrough,
		"max_concurrent_requests": float64(l.MaxConcurrent), "max_output_tokens_per_s": l.MaxOutputPerS,
		"p99_ttft_ms": l.Latency["p99_ttft_ms"], "request_rate": 4, "burstiness": 1} {
		if got, _ := first[k].(float64); math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", k, first[k], want)
		}
	}
	var keys []string
	for k := range first {
		keys = append(keys, k)
	}
	for _, k := range vllmKeyOrder {
		if !slices.Contains(keys, k) {
			t.Errorf("no %s: vllm bench serve writes it", k)
		}
	}
}

// The catalogue's vLLM key is the one written: E2EL from the scheduled
// time under vLLM's own name, perfgate's name for it not at all.
func TestVLLMKeysFromTheCatalogue(t *testing.T) {
	runs, err := report.LoadAll([]string{"../report/testdata/runs/baseline"})
	if err != nil {
		t.Fatal(err)
	}
	v := vllmResult(runs[0], runs[0].Summary.Levels[0])
	for _, k := range []string{"mean_e2el_including_client_queue_ms", "p99_e2el_including_client_queue_ms", "median_ttft_ms", "p99_itl_ms", "std_tpot_ms"} {
		if _, ok := v[k]; !ok {
			t.Errorf("%s missing", k)
		}
	}
	for _, k := range []string{"mean_e2el_incl_queue_ms", "p99_e2el_incl_queue_ms"} {
		if _, ok := v[k]; ok {
			t.Errorf("%s written under perfgate's name", k)
		}
	}
}

// vLLM's compare-json-results.py pairs rows on Input Len, Output Len and
// qps: two runs of one scenario must write the same, whatever their random
// draws measured — the configured lengths, not the measured means. --tag
// goes where vllm bench serve's --metadata goes.
func TestVLLMFilesPairAndCarryTags(t *testing.T) {
	runs, err := report.LoadAll([]string{"../report/testdata/runs/baseline", "../report/testdata/runs/candidate"})
	if err != nil {
		t.Fatal(err)
	}
	runs[0].Meta.Tags = map[string]string{"commit": "abc123", "backend": "mine"}
	out := t.TempDir()
	if _, err := VLLM(runs, out); err != nil {
		t.Fatal(err)
	}
	rows := convertLikeVLLM(t, filepath.Join(out, VLLMDir))
	keys := map[string][]string{}
	for _, row := range rows {
		k := fmt.Sprint(row["Input Len"], "/", row["Output Len"], "/", row["qps"])
		name := fmt.Sprint(row["Test name"])
		keys[k] = append(keys[k], name)
	}
	if len(keys) != 2 {
		t.Errorf("the two runs' levels must pair two by two on Input Len/Output Len/qps: %v", keys)
	}
	if _, ok := keys["100/20/2"]; !ok {
		t.Errorf("the scenario asks for 100 input and 20 output tokens at 2 req/s: %v", keys)
	}
	var res map[string]any
	files, _ := filepath.Glob(filepath.Join(out, VLLMDir, "serving_baseline_level01*.json"))
	b, _ := os.ReadFile(files[0])
	json.Unmarshal(b, &res)
	if res["commit"] != "abc123" || res["perfgate_tag_backend"] != "mine" || res["backend"] == "mine" || res["perfgate_lengths"] != "configured" {
		t.Errorf("tags and lengths in the result: commit %v, tag backend %v, backend %v, lengths %v", res["commit"], res["perfgate_tag_backend"], res["backend"], res["perfgate_lengths"])
	}
}

// A trace level exports the rate its replay offered and the speed-up apart:
// two speed-ups of one trace are two rows of vLLM's compare, not one
// averaged "inf".
func TestVLLMTraceLevelsSayTheirOfferedRate(t *testing.T) {
	runs, err := report.LoadAll([]string{"../report/testdata/runs/baseline"})
	if err != nil {
		t.Fatal(err)
	}
	r := runs[0]
	r.Scenario.Load.Arrival = scenario.ArrivalTrace
	for i := range r.Summary.Levels {
		l := &r.Summary.Levels[i]
		l.Arrival, l.RequestedRate, l.OfferedRate = scenario.ArrivalTrace, float64(i+1), 3.25*float64(i+1)
	}
	out := t.TempDir()
	if _, err := VLLM(runs, out); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(out, VLLMDir, "serving_baseline_level*.json"))
	if len(files) < 2 {
		t.Fatalf("want a file per level: %v", files)
	}
	for i, f := range files {
		var res map[string]any
		b, _ := os.ReadFile(f)
		if err := json.Unmarshal(b, &res); err != nil {
			t.Fatal(err)
		}
		if res["request_rate"] != 3.25*float64(i+1) || res["trace_speedup"] != float64(i+1) {
			t.Errorf("%s: request_rate %v (want the offered %v), trace_speedup %v (want %d)", f, res["request_rate"], 3.25*float64(i+1), res["trace_speedup"], i+1)
		}
		var cmds VLLMCommands
		b, _ = os.ReadFile(strings.TrimSuffix(f, ".json") + ".commands")
		json.Unmarshal(b, &cmds)
		if want := fmt.Sprintf("--request-rate %.4f", 3.25*float64(i+1)); !strings.Contains(cmds.Client, want) {
			t.Errorf("%s: client_command %q lacks %q", f, cmds.Client, want)
		}
	}
}

// Speculative decoding's acceptance, measured from the server's counters,
// goes under vllm bench serve's keys (a percentage, and a length).
func TestVLLMSpecDecodeKeys(t *testing.T) {
	runs, err := report.LoadAll([]string{"../report/testdata/runs/baseline"})
	if err != nil {
		t.Fatal(err)
	}
	rate, length := 0.7, 3.1
	runs[0].Summary.Levels[0].Telemetry = &record.PhaseTelemetry{Measure: &record.TelemetrySummary{SpecAcceptanceRate: &rate, SpecAcceptanceLength: &length}}
	out := t.TempDir()
	if _, err := VLLM(runs, out); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(out, VLLMDir, "serving_baseline_level*.json"))
	var res map[string]any
	b, _ := os.ReadFile(files[0])
	json.Unmarshal(b, &res)
	if res["spec_decode_acceptance_rate"] != 70.0 || res["spec_decode_acceptance_length"] != 3.1 {
		t.Errorf("spec-decode keys: %v, %v", res["spec_decode_acceptance_rate"], res["spec_decode_acceptance_length"])
	}
	b, _ = os.ReadFile(files[1])
	res = nil
	json.Unmarshal(b, &res)
	if _, ok := res["spec_decode_acceptance_rate"]; ok {
		t.Error("a level without spec-decode counters has no acceptance key")
	}
}
