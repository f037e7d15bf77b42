package probe

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// A data-parallel vLLM (two engines, one series each), trimmed to the
// metrics that matter: usage gauges are the max (and the mean as :mean),
// never the sum; queue gauges and counters are summed; _created series are
// left out.
func TestDataParallelAggregation(t *testing.T) {
	page := `# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.7
vllm:kv_cache_usage_perc{engine="1",model_name="m"} 0.6
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 12
vllm:num_requests_running{engine="1",model_name="m"} 10
# HELP vllm:prompt_tokens_total Number of prefill tokens processed.
# TYPE vllm:prompt_tokens_total counter
vllm:prompt_tokens_total{engine="0",model_name="m"} 1000
vllm:prompt_tokens_total{engine="1",model_name="m"} 500
# HELP vllm:prompt_tokens_created Number of prefill tokens processed.
# TYPE vllm:prompt_tokens_created gauge
vllm:prompt_tokens_created{engine="0",model_name="m"} 1.7645e+09
vllm:prompt_tokens_created{engine="1",model_name="m"} 1.7645e+09
`
	fams, skipped, err := ParseMetrics([]byte(page))
	if err != nil || skipped != 0 {
		t.Fatal(skipped, err)
	}
	v := flatten(fams, "")
	want := map[string]float64{"vllm:kv_cache_usage_perc": 0.7, "vllm:kv_cache_usage_perc:mean": 0.65, "vllm:num_requests_running": 22, "vllm:prompt_tokens_total": 1500}
	for k, w := range want {
		if math.Abs(v[k]-w) > 1e-9 {
			t.Errorf("%s = %v, want %v", k, v[k], w)
		}
	}
	if _, ok := v["vllm:prompt_tokens_created"]; ok {
		t.Error("a _created series was kept as a value")
	}
}

// A DCGM exporter page, trimmed: a field the GPU does not support reports
// DCGM's blank sentinel, which is skipped and counted, not recorded as a
// 9.2e18 °C temperature.
func TestDCGMBlanksAreSkipped(t *testing.T) {
	page := `# HELP DCGM_FI_DEV_GPU_TEMP GPU temperature (in C).
# TYPE DCGM_FI_DEV_GPU_TEMP gauge
DCGM_FI_DEV_GPU_TEMP{gpu="0",UUID="GPU-1"} 41
DCGM_FI_DEV_GPU_TEMP{gpu="1",UUID="GPU-2"} 9223372036854775794
# HELP DCGM_FI_DEV_MEMORY_TEMP Memory temperature (in C).
# TYPE DCGM_FI_DEV_MEMORY_TEMP gauge
DCGM_FI_DEV_MEMORY_TEMP{gpu="0",UUID="GPU-1"} 2147483632
# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-1"} 80
DCGM_FI_DEV_GPU_UTIL{gpu="1",UUID="GPU-2"} 20
# HELP vllm:generation_tokens_total Number of generation tokens processed.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total 2147483640
`
	fams, _, err := ParseMetrics([]byte(page))
	if err != nil {
		t.Fatal(err)
	}
	v := flattenBy(fams, "", "")
	if v[`DCGM_FI_DEV_GPU_TEMP{gpu="0"}`] != 41 || v["telemetry.blank_values"] != 2 {
		t.Errorf("temperature %v, blanks %v", v[`DCGM_FI_DEV_GPU_TEMP{gpu="0"}`], v["telemetry.blank_values"])
	}
	for k := range v {
		if strings.HasPrefix(k, "DCGM_FI_DEV_MEMORY_TEMP") || k == `DCGM_FI_DEV_GPU_TEMP{gpu="1"}` {
			t.Errorf("a blank field got a value: %s", k)
		}
	}
	if v[`DCGM_FI_DEV_GPU_UTIL{gpu="0"}`] != 80 || v[`DCGM_FI_DEV_GPU_UTIL{gpu="1"}`] != 20 {
		t.Errorf("utilization per GPU: %v", v)
	}
	// Only DCGM's fields can be blank: a vLLM counter in the int32 blank range is a count.
	if v["vllm:generation_tokens_total"] != 2147483640 {
		t.Errorf("a counter was taken for a blank: %v", v["vllm:generation_tokens_total"])
	}
}

// A DCGM exporter page as some exporters serve it — no # TYPE lines, eight
// GPUs — reads per GPU (summed, the temperatures read 222 °C), and untyped
// families are read by name: counters corrected for resets, usage gauges
// the maximum.
func TestUntypedPagesReadByName(t *testing.T) {
	temps := []int{27, 28, 26, 29, 27, 28, 29, 28} // 222 in all
	var b strings.Builder
	for i, c := range temps {
		fmt.Fprintf(&b, "DCGM_FI_DEV_GPU_TEMP{gpu=\"%d\",UUID=\"GPU-%d\",modelName=\"NVIDIA H100 80GB HBM3\"} %d\n", i, i, c)
		fmt.Fprintf(&b, "DCGM_FI_DEV_GPU_UTIL{gpu=\"%d\",UUID=\"GPU-%d\"} %d\n", i, i, 90+i)
	}
	page := func(energy0, tokens1 int) []byte {
		p := b.String() + fmt.Sprintf("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{gpu=\"0\"} %d\n", energy0) +
			"vllm:kv_cache_usage_perc{engine=\"0\"} 0.6\nvllm:kv_cache_usage_perc{engine=\"1\"} 0.7\n" +
			"vllm:prompt_tokens_total{engine=\"0\"} 100\n" + fmt.Sprintf("vllm:prompt_tokens_total{engine=\"1\"} %d\n", tokens1) +
			"vllm:e2e_request_latency_seconds_bucket{engine=\"0\",le=\"1\"} 4\nvllm:e2e_request_latency_seconds_bucket{engine=\"0\",le=\"+Inf\"} 5\n"
		return []byte(p)
	}
	m := &Metrics{}
	read := func(p []byte) map[string]float64 {
		fams, skipped, err := ParseMetrics(p)
		if err != nil || skipped > 0 {
			t.Fatal(err, skipped)
		}
		for _, f := range fams {
			if f.GetType() != dto.MetricType_UNTYPED {
				t.Fatalf("%s is %v: the page has no # TYPE lines", f.GetName(), f.GetType())
			}
		}
		return flattenCorrected(fams, "", "", m.correct)
	}
	v := read(page(5000, 300))
	for i, c := range temps {
		if got := v[fmt.Sprintf(`DCGM_FI_DEV_GPU_TEMP{gpu="%d"}`, i)]; got != float64(c) {
			t.Errorf("GPU %d temperature %v, want %d", i, got, c)
		}
	}
	if _, ok := v["DCGM_FI_DEV_GPU_TEMP"]; ok {
		t.Error("a DCGM field summed over GPUs")
	}
	if v["vllm:kv_cache_usage_perc"] != 0.7 {
		t.Errorf("an untyped usage gauge is the maximum over engines: %v", v["vllm:kv_cache_usage_perc"])
	}
	if v[`vllm:e2e_request_latency_seconds_bucket{le="1"}`] != 4 {
		t.Errorf("an untyped bucket: %v", v)
	}
	// engine 1 restarts, and GPU 0's energy counter resets: counting goes on
	v = read(page(200, 20))
	if v["vllm:prompt_tokens_total"] != 420 || v[`DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{gpu="0"}`] != 5200 {
		t.Errorf("untyped counters corrected per series: prompt tokens %v (want 100 + 300 + 20), energy %v (want 5200)",
			v["vllm:prompt_tokens_total"], v[`DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{gpu="0"}`])
	}
}

// Histogram buckets are kept, summed over engines and corrected for resets
// per series, so that a server-side percentile can be rebuilt.
func TestHistogramBucketsKept(t *testing.T) {
	page := func(b0 int) []byte {
		return []byte(fmt.Sprintf(`# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.1"} %d
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.5"} %d
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf"} %d
vllm:time_to_first_token_seconds_sum{engine="0"} 1
vllm:time_to_first_token_seconds_count{engine="0"} %d
vllm:time_to_first_token_seconds_bucket{engine="1",le="0.1"} 1
vllm:time_to_first_token_seconds_bucket{engine="1",le="0.5"} 3
vllm:time_to_first_token_seconds_bucket{engine="1",le="+Inf"} 3
vllm:time_to_first_token_seconds_sum{engine="1"} 0.5
vllm:time_to_first_token_seconds_count{engine="1"} 3
`, b0, b0+2, b0+2, b0+2))
	}
	m := &Metrics{}
	read := func(p []byte) map[string]float64 {
		fams, _, err := ParseMetrics(p)
		if err != nil {
			t.Fatal(err)
		}
		return flattenCorrected(fams, "", "", m.correct)
	}
	v := read(page(10))
	if v[`vllm:time_to_first_token_seconds_bucket{le="0.1"}`] != 11 || v[`vllm:time_to_first_token_seconds_bucket{le="0.5"}`] != 15 {
		t.Errorf("buckets summed over engines: %v", v)
	}
	v = read(page(1)) // engine 0 restarted
	if v[`vllm:time_to_first_token_seconds_bucket{le="0.1"}`] != 12 {
		t.Errorf("a bucket corrected for engine 0's reset: %v (want 10 + 1 + 1)", v[`vllm:time_to_first_token_seconds_bucket{le="0.1"}`])
	}
}

// The engine's metrics probe keeps the buckets of the latencies it rebuilds
// percentiles of, not of every histogram (token counts, queue time).
func TestEngineBucketsOnly(t *testing.T) {
	page := `# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{le="0.1"} 1
vllm:time_to_first_token_seconds_bucket{le="+Inf"} 2
vllm:time_to_first_token_seconds_sum 0.3
vllm:time_to_first_token_seconds_count 2
# TYPE vllm:request_prompt_tokens histogram
vllm:request_prompt_tokens_bucket{le="10"} 1
vllm:request_prompt_tokens_bucket{le="+Inf"} 2
vllm:request_prompt_tokens_sum 30
vllm:request_prompt_tokens_count 2
`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, page) }))
	defer srv.Close()
	v, err := (&Metrics{URL: srv.URL, Buckets: EngineBuckets}).Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v[`vllm:time_to_first_token_seconds_bucket{le="0.1"}`] != 1 || v["vllm:request_prompt_tokens_count"] != 2 {
		t.Errorf("values: %v", v)
	}
	for k := range v {
		if strings.HasPrefix(k, "vllm:request_prompt_tokens_bucket") {
			t.Errorf("kept %s", k)
		}
	}
}
