// Package metric is the catalogue of the summary metrics a gate can use:
// each one's unit, its key in `vllm bench serve`'s results, which direction
// is better, whether it is compared by difference, and the gate's default
// thresholds. A leaf: it imports nothing of perfgate's, so the scenario
// checker, the gate, history and the reports all ask it.
package metric

import (
	"regexp"
	"strings"
)

// Info is what perfgate knows of one metric.
type Info struct {
	Name string
	// Unit of its values: "ms", "tokens/s", "requests/s" or "share" (0–1).
	Unit string
	// VLLMKey is the key under which `vllm bench serve --save-result` writes
	// the same quantity, or "" when vLLM has none.
	VLLMKey        string
	HigherIsBetter bool
	// Absolute metrics (rates) are compared by difference, in percentage
	// points, not by ratio.
	Absolute bool
}

var fixed = map[string]Info{
	"output_throughput":       {Unit: "tokens/s", VLLMKey: "output_throughput", HigherIsBetter: true},
	"total_token_throughput":  {Unit: "tokens/s", VLLMKey: "total_token_throughput", HigherIsBetter: true},
	"request_throughput":      {Unit: "requests/s", VLLMKey: "request_throughput", HigherIsBetter: true},
	"request_goodput":         {Unit: "requests/s", VLLMKey: "request_goodput", HigherIsBetter: true},
	"error_rate":              {Unit: "share", Absolute: true},
	"p99_schedule_delay_ms":   {Unit: "ms"},
	"mean_e2el_incl_queue_ms": {Unit: "ms", VLLMKey: "mean_e2el_including_client_queue_ms"},
	"p99_e2el_incl_queue_ms":  {Unit: "ms", VLLMKey: "p99_e2el_including_client_queue_ms"},
}

// latencyRe: mean_, median_, std_ and pNN_ of TTFT, TPOT, ITL and E2EL, in
// milliseconds, under vLLM's own names.
var latencyRe = regexp.MustCompile(`^(mean|median|std|p[0-9]+(\.[0-9]+)?)_(ttft|tpot|itl|e2el)_ms$`)

// Lookup is the catalogue's entry for a metric a gate can use.
func Lookup(name string) (Info, bool) {
	if i, ok := fixed[name]; ok {
		i.Name = name
		return i, true
	}
	if latencyRe.MatchString(name) {
		return Info{Name: name, Unit: "ms", VLLMKey: name}, true
	}
	return Info{}, false
}

// Gateable reports whether a gate can use the metric.
func Gateable(name string) bool {
	_, ok := Lookup(name)
	return ok
}

// HigherIsBetter reports whether a larger value of the metric is better:
// the throughputs and goodput. Latencies, error_rate and the rest are better
// lower. A name outside the catalogue is judged by its suffix.
func HigherIsBetter(name string) bool {
	if i, ok := Lookup(name); ok {
		return i.HigherIsBetter
	}
	return strings.HasSuffix(name, "throughput") || strings.HasSuffix(name, "goodput")
}

// Absolute reports whether the metric is a rate compared by difference
// (percentage points), not by ratio: error_rate.
func Absolute(name string) bool {
	i, ok := Lookup(name)
	return ok && i.Absolute
}

// Threshold is a gating metric and how much worse is too much: percent
// worse than the baseline (percentage points for an absolute metric).
type Threshold struct {
	Name             string
	WarnPct, FailPct float64
}

// Defaults are the gate's rules when a scenario names none
// (docs/statistics.md says how they were chosen).
var Defaults = []Threshold{
	{"output_throughput", 3, 5},
	{"median_ttft_ms", 3, 5},
	{"p99_ttft_ms", 5, 10},
	{"median_tpot_ms", 3, 5},
	{"median_e2el_ms", 3, 5},
	{"error_rate", 0.5, 1},
}
