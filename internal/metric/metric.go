// Package metric is the catalogue of the summary metrics a gate can use:
// each one's unit, its key in `vllm bench serve`'s results, which direction
// is better, whether it is compared by difference, the gate's default
// thresholds, and where a summary's level holds its value (Value). It
// imports only record, so the scenario checker, the gate, history, the
// comparison and the vLLM export all ask it.
package metric

import (
	"regexp"
	"strings"

	"github.com/perfgate/perfgate/internal/record"
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

// Value is a level's value of a metric in the catalogue: false when the
// level has none (no goodput without SLOs, a percentile not computed).
func Value(l record.Level, name string) (float64, bool) {
	switch name {
	case "output_throughput":
		return l.OutputThrough, true
	case "request_throughput":
		return l.RequestThrough, true
	case "total_token_throughput":
		return l.TotalThrough, true
	case "request_goodput":
		if l.RequestGoodput == nil {
			return 0, false
		}
		return *l.RequestGoodput, true
	case "error_rate":
		return l.ErrorRate, true
	case "p99_schedule_delay_ms":
		return l.P99SchedDelay, true
	}
	v, ok := l.Latency[name]
	return v, ok
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

// Verdict is a gate's answer. Verdicts are ordered from best to worst:
// pass < warn < fail < error; a combined answer is the worst of its parts.
type Verdict string

// The verdicts, from best to worst.
const (
	Pass  Verdict = "pass"
	Warn  Verdict = "warn"
	Fail  Verdict = "fail"
	Error Verdict = "error" // the comparison could not be made (a side did not run)
)

// Rank orders verdicts from best (0) to worst (3); an unknown or empty
// verdict ranks as pass.
func (v Verdict) Rank() int {
	switch v {
	case Warn:
		return 1
	case Fail:
		return 2
	case Error:
		return 3
	}
	return 0
}

// Known reports whether v is one of the four verdicts.
func (v Verdict) Known() bool {
	switch v {
	case Pass, Warn, Fail, Error:
		return true
	}
	return false
}

// Worst is the worst of verdicts; pass when there are none.
func Worst(vs ...Verdict) Verdict {
	w := Pass
	for _, v := range vs {
		if v.Rank() > w.Rank() {
			w = v
		}
	}
	return w
}

// Mark is the verdict's sign in Markdown and HTML: ✅ ⚠️ ❌ 💥 (empty for
// an unknown verdict). Every report uses it, so a verdict looks the same in
// the terminal's Markdown, the PR comment and the HTML pages.
func (v Verdict) Mark() string {
	switch v {
	case Pass:
		return "✅"
	case Warn:
		return "⚠️"
	case Fail:
		return "❌"
	case Error:
		return "💥"
	}
	return ""
}
