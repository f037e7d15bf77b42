// Package export writes run folders as other tools' files: `vllm bench
// serve --save-result` results, which vLLM's own scripts read
// (docs/metrics.md). The importer package reads them back.
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

	"github.com/perfgate/perfgate/internal/metric"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/report"
	"github.com/perfgate/perfgate/internal/scenario"
)

// VLLMDir is the folder under a report's --out that --format vllm writes.
const VLLMDir = "vllm"

// VLLMSweepFile is the list of every level's result in VLLMDir: the name
// and shape `vllm bench sweep plot` globs for (**/summary.json, a list of
// result objects).
const VLLMSweepFile = "summary.json"

// vllmKeyOrder is the order `vllm bench serve --save-result` writes its
// scalar keys in; the latency keys follow.
var vllmKeyOrder = []string{"date", "endpoint_type", "backend", "label", "model_id", "tokenizer_id", "num_prompts",
	"request_rate", "burstiness", "max_concurrency", "duration", "completed", "failed", "total_input_tokens",
	"total_output_tokens", "request_throughput", "request_goodput", "output_throughput", "total_token_throughput",
	"max_output_tokens_per_s", "max_concurrent_requests", "rtfx"}

// VLLMResult is one level as `vllm bench serve --save-result` writes a run:
// the same keys with the same meanings (docs/metrics.md lists them side by
// side), so vLLM's own scripts read it. perfgate_* keys say where it came from.
type VLLMResult map[string]any

// MarshalJSON writes vLLM's keys in vLLM's order, then the latency keys
// sorted, then perfgate's.
func (v VLLMResult) MarshalJSON() ([]byte, error) {
	keys := slices.Clone(vllmKeyOrder)
	var rest []string
	for k := range v {
		if !slices.Contains(keys, k) {
			rest = append(rest, k)
		}
	}
	slices.SortFunc(rest, func(a, b string) int {
		pa, pb := strings.HasPrefix(a, "perfgate_"), strings.HasPrefix(b, "perfgate_")
		if pa != pb {
			if pa {
				return 1
			}
			return -1
		}
		return strings.Compare(a, b)
	})
	var b strings.Builder
	b.WriteByte('{')
	first := true
	for _, k := range append(keys, rest...) {
		val, ok := v[k]
		if !ok {
			continue
		}
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(val)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		if !first {
			b.WriteString(", ")
		}
		first = false
		b.Write(kb)
		b.WriteString(": ")
		b.Write(vb)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

// VLLMCommands is the .commands file vLLM's performance CI keeps beside each
// result, which convert-results-json-to-markdown.py reads for the model's
// parallelism (server) and the dataset, lengths and rate (client).
type VLLMCommands struct {
	Server string `json:"server_command"`
	Client string `json:"client_command"`
	Note   string `json:"note"`
}

const vllmCommandsNote = "written by perfgate report --format vllm: client_command describes the level in vllm bench serve's flag names; perfgate ran it from the scenario file named there, not with these flags"

func vllmResult(r *report.Run, l record.Level) VLLMResult {
	m := r.Meta
	backend := "openai"
	if m.Engine.API == "chat" {
		backend = "openai-chat"
	}
	v := VLLMResult{
		"date":          m.StartWall.UTC().Format("20060102-150405"),
		"endpoint_type": backend,
		"backend":       backend,
		"label":         r.Name,
		"model_id":      m.Engine.Model,
		"tokenizer_id":  m.Engine.Model,
		"num_prompts":   l.NumRequests,
		"request_rate":  "inf",
		"burstiness":    1.0,
		// vLLM's --max-concurrency: a closed loop's concurrency, an open
		// loop's max_in_flight cap; null without a cap, as vLLM writes it.
		"max_concurrency":         nil,
		"duration":                l.Duration,
		"completed":               l.Completed,
		"failed":                  l.Failed,
		"total_input_tokens":      l.TotalInput,
		"total_output_tokens":     l.TotalOutput,
		"request_throughput":      l.RequestThrough,
		"request_goodput":         nil,
		"output_throughput":       l.OutputThrough,
		"total_token_throughput":  l.TotalThrough,
		"max_output_tokens_per_s": l.MaxOutputPerS,
		"max_concurrent_requests": l.MaxConcurrent,
		"rtfx":                    0.0, // audio seconds per second: perfgate sends no audio
		"gpu_type":                gpuType(r),
		"perfgate_run":            r.Dir,
		"perfgate_level":          l.Level + 1,
		"perfgate_status":         r.Summary.Status,
	}
	if l.RequestGoodput != nil {
		v["request_goodput"] = *l.RequestGoodput
	}
	// speculative decoding's acceptance, as vllm bench serve writes it
	// (a percentage, and 1 + accepted tokens per draft) from the server's
	// counters over the measurement
	if t := l.Telemetry; t != nil && t.Measure != nil && t.Measure.SpecAcceptanceRate != nil {
		v["spec_decode_acceptance_rate"] = 100 * *t.Measure.SpecAcceptanceRate
		if t.Measure.SpecAcceptanceLength != nil {
			v["spec_decode_acceptance_length"] = *t.Measure.SpecAcceptanceLength
		}
	}
	// --tag KEY=VALUE goes where vllm bench serve's --metadata KEY=VALUE
	// goes: a key of the result itself (one of vLLM's own is not
	// overwritten: it is perfgate_tag_KEY then).
	for k, x := range m.Tags {
		if _, taken := v[k]; taken || slices.Contains(vllmKeyOrder, k) {
			k = "perfgate_tag_" + k
		}
		v[k] = x
	}
	v["perfgate_lengths"] = "measured"
	if _, _, ok := configuredLengths(r.Scenario); ok {
		v["perfgate_lengths"] = "configured"
	}
	vllmLoad(v, r, l)
	// vLLM writes mean, median, std and every asked-for percentile of each
	// latency, and 0 (np.mean of an empty list, as it computes it) where
	// there are no samples; perfgate's NaN becomes that 0 here.
	// A metric in the catalogue goes under vLLM's key for it (E2EL from the
	// scheduled time is vLLM's e2el_including_client_queue); perfgate's own
	// latencies (schedule delay, queue wait) keep their names.
	for k, x := range l.Latency {
		key := k
		if info, ok := metric.Lookup(k); ok && info.VLLMKey != "" {
			key = info.VLLMKey
		} else if !strings.HasSuffix(k, "_ms") {
			continue
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			x = 0
		}
		v[key] = x
	}
	return v
}

// gpuType is what vLLM's CI puts in gpu_type: the GPUs' names, one per
// line (its markdown shows "8xH100").
func gpuType(r *report.Run) string {
	if g := r.Meta.GPU; g != nil && len(g.GPUs) > 0 {
		names := make([]string, len(g.GPUs))
		for i, x := range g.GPUs {
			names[i] = x.Name
		}
		return strings.Join(names, "\n")
	}
	if r.Meta.Engine.Kind == scenario.EngineSim {
		p := "simulated"
		if r.Scenario != nil && r.Scenario.Engine.Sim.Profile != "" {
			p = r.Scenario.Engine.Sim.Profile + " (simulated)"
		}
		return p
	}
	return "unknown"
}

func vllmCommands(r *report.Run, l record.Level) VLLMCommands {
	s := r.Scenario
	model := r.Meta.Engine.Model
	server := "endpoint " + shellQuote(r.Meta.Engine.URL)
	client := []string{"perfgate", "run", shellQuote(filepath.Join(r.Dir, record.ScenarioFile))}
	dataset := "random"
	if s != nil {
		switch s.Engine.Kind {
		case scenario.EngineVLLM:
			server = "vllm serve " + shellQuote(model)
			for _, a := range s.Engine.Args {
				server += " " + shellQuote(a)
			}
		case scenario.EngineSim:
			server = "perfgate sim serve --model " + shellQuote(model)
			if p := s.Engine.Sim.Profile; p != "" {
				server += " --profile " + shellQuote(p)
			}
			if tp := s.Engine.Sim.TensorParallelSize; tp > 0 {
				server += " --tensor-parallel-size " + strconv.Itoa(tp)
			}
		}
		var names []string
		for _, c := range s.Workload.Classes {
			n := "random"
			switch c.Dataset.Format {
			case scenario.DatasetShareGPT:
				n = "sharegpt"
			case scenario.DatasetJSONL:
				n = "custom"
			}
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
		if s.Load.Arrival == scenario.ArrivalTrace {
			names = []string{s.Load.Trace.Format + "_trace"}
		}
		if len(names) > 0 {
			dataset = strings.Join(names, "+")
		}
	}
	client = append(client, "--level", strconv.Itoa(l.Level+1), "--dataset-name", dataset)
	if in, out, ok := configuredLengths(s); ok {
		// what the scenario asks for: vLLM's compare script pairs rows on
		// these, so two runs of one scenario must say the same (measured
		// means moved with random draws, failed requests and chat templates)
		client = append(client, "--random-input-len", strconv.Itoa(int(math.Round(in))), "--random-output-len", strconv.Itoa(int(math.Round(out))))
	} else if l.Completed > 0 {
		// a dataset's or a trace's lengths: what was measured
		client = append(client,
			"--random-input-len", strconv.Itoa(int(math.Round(float64(l.TotalInput)/float64(l.Completed)))),
			"--random-output-len", strconv.Itoa(int(math.Round(float64(l.TotalOutput)/float64(l.Completed)))))
	}
	rate := "inf"
	switch {
	case l.Mode == scenario.ModeClosed:
	case l.Arrival != scenario.ArrivalTrace:
		rate = strconv.FormatFloat(l.RequestedRate, 'f', -1, 64)
	case l.OfferedRate > 0:
		rate = strconv.FormatFloat(l.OfferedRate, 'f', 4, 64)
	}
	client = append(client, "--request-rate", rate, "--num-prompts", strconv.Itoa(l.NumRequests))
	if l.Mode == scenario.ModeClosed {
		client = append(client, "--max-concurrency", strconv.Itoa(l.RequestedConcurrency))
	}
	return VLLMCommands{Server: server, Client: strings.Join(client, " "), Note: vllmCommandsNote}
}

// vllmLoad sets the keys of a level's load: the rate (a trace's offered
// one, with its speed-up), the burstiness and vLLM's max_concurrency.
func vllmLoad(v VLLMResult, r *report.Run, l record.Level) {
	switch {
	case l.Mode == scenario.ModeClosed:
		v["max_concurrency"] = l.RequestedConcurrency
	case l.Arrival == scenario.ArrivalTrace:
		v["burstiness"] = nil // vLLM's timed_trace replays the trace's own times
		// the rate the replay offered (requests over the trace's window
		// divided by the speed-up), so that vLLM's compare keeps speed-ups
		// apart; the speed-up is its own key
		v["trace_speedup"] = l.RequestedRate
		if l.OfferedRate > 0 {
			v["request_rate"] = l.OfferedRate
		}
	default:
		v["request_rate"] = l.RequestedRate
		if s := r.Scenario; s != nil {
			switch s.Load.Arrival {
			case scenario.ArrivalGamma:
				v["burstiness"] = s.Load.Burstiness
			case scenario.ArrivalConstant:
				v["burstiness"] = nil // no gamma shape gives evenly spaced arrivals
			}
			if s.Load.MaxInFlight > 0 {
				v["max_concurrency"] = s.Load.MaxInFlight
			}
		}
	}
}

// configuredLengths are the mean input and output lengths a scenario asks
// for, its classes weighted — not what a run measured. ok is false where the
// lengths come from data (a dataset, a trace, multi-turn sessions) or the
// scenario is unknown.
func configuredLengths(s *scenario.Scenario) (in, out float64, ok bool) {
	if s == nil || s.Load.Arrival == scenario.ArrivalTrace || s.Workload.Sessions.Enabled() || len(s.Workload.Classes) == 0 {
		return 0, 0, false
	}
	var w float64
	for _, c := range s.Workload.Classes {
		if c.Dataset.Format != "" {
			return 0, 0, false
		}
		ci, iok := c.InputTokens.Expected()
		co, ook := c.OutputTokens.Expected()
		if !iok || !ook {
			return 0, 0, false
		}
		in, out, w = in+c.Weight*ci, out+c.Weight*co, w+c.Weight // loaded scenarios weigh every class (default 1)
	}
	return in / w, out / w, true
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// shellQuote quotes s for a POSIX shell (and Python's shlex.split).
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// vllmFileName names a level's result so that vLLM's CI script takes it for
// a serving result ("serving" in the name) and tells levels apart.
func vllmFileName(r *report.Run, l record.Level) string {
	load := "qps" + strconv.FormatFloat(l.RequestedRate, 'f', -1, 64)
	switch {
	case l.Mode == scenario.ModeClosed:
		load = "concurrency" + strconv.Itoa(l.RequestedConcurrency)
	case l.Arrival == scenario.ArrivalTrace:
		load = "trace" + strconv.FormatFloat(l.RequestedRate, 'f', -1, 64) + "x"
	}
	name := fmt.Sprintf("serving_%s_level%02d_%s", r.Name, l.Level+1, load)
	return strings.Trim(unsafeName.ReplaceAllString(name, "-"), "-.")
}

// VLLM writes, under dir/vllm: per run and level a result file and its
// .commands, and summary.json, the list of them all for vllm bench sweep
// plot. It returns the files written, relative to dir.
func VLLM(runs []*report.Run, dir string) ([]string, error) {
	out := filepath.Join(dir, VLLMDir)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	var files []string
	var all []VLLMResult
	seen := map[string]int{}
	for _, r := range runs {
		for _, l := range report.SortedLevels(r) {
			v := vllmResult(r, l)
			name := vllmFileName(r, l)
			if n := seen[name]; n > 0 { // two runs with one label
				seen[name]++
				name = fmt.Sprintf("%s_%d", name, n+1)
			} else {
				seen[name] = 1
			}
			for _, f := range []struct {
				ext string
				v   any
			}{{".json", v}, {".commands", vllmCommands(r, l)}} {
				b, err := json.Marshal(f.v)
				if err != nil {
					return files, err
				}
				if err := record.WriteFileAtomic(filepath.Join(out, name+f.ext), append(b, '\n')); err != nil {
					return files, err
				}
				files = append(files, filepath.Join(VLLMDir, name+f.ext))
			}
			all = append(all, v)
		}
	}
	b, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return files, err
	}
	if err := record.WriteFileAtomic(filepath.Join(out, VLLMSweepFile), append(b, '\n')); err != nil {
		return files, err
	}
	return append(files, filepath.Join(VLLMDir, VLLMSweepFile)), nil
}
