package probe

import "testing"

// The /metrics parser never panics, and what it returns flattens.
func FuzzParseMetrics(f *testing.F) {
	f.Add([]byte("# TYPE vllm:x counter\nvllm:x{model_name=\"m\"} 3\n"))
	f.Add([]byte("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n"))
	f.Add([]byte("garbage\nx 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fams, _, err := ParseMetrics(data)
		if err == nil {
			flatten(fams, "")
		}
	})
}
