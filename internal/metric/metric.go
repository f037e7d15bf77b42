// Package metric holds the facts about summary metrics that every package
// asks the same question about: which direction is better, and which are
// compared by difference rather than ratio. A leaf: it imports nothing of
// perfgate's, so the gate, history and the reports all ask it.
package metric

import "strings"

// HigherIsBetter reports whether a larger value of the metric is better:
// every throughput (output_throughput, request_throughput,
// total_token_throughput) and request_goodput. Latencies, error_rate and the
// rest are better lower.
func HigherIsBetter(name string) bool {
	return strings.HasSuffix(name, "throughput") || name == "request_goodput"
}

// Absolute reports whether the metric is a rate compared by difference
// (percentage points), not by ratio: error_rate.
func Absolute(name string) bool { return name == "error_rate" }
