package probe

import (
	"math"
	"testing"
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
	if v["DCGM_FI_DEV_GPU_TEMP"] != 41 || v["telemetry.blank_values"] != 2 {
		t.Errorf("temperature %v, blanks %v", v["DCGM_FI_DEV_GPU_TEMP"], v["telemetry.blank_values"])
	}
	if _, ok := v["DCGM_FI_DEV_MEMORY_TEMP"]; ok {
		t.Error("an all-blank field got a value")
	}
	if v["DCGM_FI_DEV_GPU_UTIL"] != 80 || v["DCGM_FI_DEV_GPU_UTIL:mean"] != 50 {
		t.Errorf("utilization %v (mean %v): the max across GPUs, not the sum", v["DCGM_FI_DEV_GPU_UTIL"], v["DCGM_FI_DEV_GPU_UTIL:mean"])
	}
	// Only DCGM's fields can be blank: a vLLM counter in the int32 blank range is a count.
	if v["vllm:generation_tokens_total"] != 2147483640 {
		t.Errorf("a counter was taken for a blank: %v", v["vllm:generation_tokens_total"])
	}
}
