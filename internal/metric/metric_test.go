package metric

import "testing"

func TestDirections(t *testing.T) {
	for name, want := range map[string]bool{"output_throughput": true, "request_throughput": true, "total_token_throughput": true,
		"request_goodput": true, "median_ttft_ms": false, "p99_e2el_ms": false, "error_rate": false, "throughput_ms": false} {
		if HigherIsBetter(name) != want {
			t.Errorf("%s: higher is better %v", name, !want)
		}
	}
	if !Absolute("error_rate") || Absolute("p99_ttft_ms") {
		t.Error("only error_rate is absolute")
	}
}
