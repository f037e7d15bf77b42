package telemetry

import (
	"math"
	"slices"
	"testing"
)

// testdata/telemetry.jsonl is written by hand; each expectation below is
// worked out from it. Its window is 0.5 s to 3 s: the samples at 0 s are the
// counters' baseline, the one at 9 s is outside, the last line is torn.
func TestSummaryMaths(t *testing.T) {
	samples, err := ReadAll("testdata/telemetry.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 11 {
		t.Fatalf("read %d samples (the torn last line must be skipped)", len(samples))
	}
	s := Summarize(samples, Window{500_000, 3_000_000}, 1000)
	eq := func(name string, got *float64, want float64) {
		t.Helper()
		if got == nil || math.Abs(*got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", name, deref(got), want)
		}
	}
	if s.Samples != 8 || s.Gaps != 1 || s.Errors != 1 {
		t.Errorf("counts: %d samples, %d gaps, %d errors", s.Samples, s.Gaps, s.Errors)
	}
	eq("GPU util mean", s.GPUUtilMeanPct, (90+70)/2.0) // gpu0 (80,100), gpu1 (60,80)
	eq("GPU util peak", s.GPUUtilPeakPct, 100)
	eq("power", s.PowerMeanW, 450+300)
	// gpu0: baseline 1000 at 0 s → 1900; gpu1 has no baseline: 50 → 350.
	eq("energy", s.EnergyJ, 900+300)
	eq("energy per token", s.EnergyPerOutputTokenJ, 1.2)
	eq("SM clock min", s.SMClockMinMHz, 1700)
	eq("SM clock mean", s.SMClockMeanMHz, (1840+1800)/2.0)
	eq("GPU memory peak", s.GPUMemPeakBytes, 72e9)
	if s.Throttled == nil || !*s.Throttled || !slices.Equal(s.ThrottleReasons, []string{"sw_power_cap"}) {
		t.Errorf("throttling: %v %v", s.Throttled, s.ThrottleReasons)
	}
	eq("KV peak", s.KVCachePeakPct, 90)
	// 5 → 7 is +2; 7 → 2 is a restart: +2 more.
	eq("preemptions", s.Preemptions, 4)
	eq("prefix hit rate", s.PrefixCacheHitRate, 200.0/400)
	eq("running", s.RunningMean, 15)
	eq("waiting", s.WaitingMean, 2)
	eq("queue time", s.QueueTimeMeanMs, 1000*3.0/20)
	eq("host CPU", s.HostCPUMeanPct, 40)
	eq("client CPU peak", s.ClientCPUPeakPct, 90)
	eq("client CPU mean", s.ClientCPUMeanPct, 70)
	if s.PrefillTimeMeanMs != nil || s.EngineCPUMeanPct != nil {
		t.Error("values nobody measured must be absent")
	}
}

func TestSummaryWithoutTelemetry(t *testing.T) {
	s := Summarize(nil, Window{0, 1}, 10)
	if s.Samples != 0 || s.GPUUtilMeanPct != nil || s.Throttled != nil || s.EnergyJ != nil {
		t.Errorf("%+v", s)
	}
}

func TestReasonNames(t *testing.T) {
	names, thr := reasonNames(1 | 2)
	if thr || len(names) != 2 {
		t.Errorf("idle and clock settings are no throttling: %v %v", names, thr)
	}
	names, thr = reasonNames(64 | 16)
	if !thr || !slices.Equal(names, []string{"sync_boost", "hw_thermal_slowdown"}) {
		t.Errorf("%v %v", names, thr)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// vLLM 0.7 to 0.10 name the prefix cache counters gpu_prefix_cache_*: the
// hit rate is read from them when the newer names are absent.
func TestOldPrefixCacheNames(t *testing.T) {
	samples := []Sample{
		{T: 0, Probe: "metrics", Values: map[string]float64{"vllm:gpu_prefix_cache_queries_total": 100, "vllm:gpu_prefix_cache_hits_total": 10}},
		{T: 1_000_000, Probe: "metrics", Values: map[string]float64{"vllm:gpu_prefix_cache_queries_total": 500, "vllm:gpu_prefix_cache_hits_total": 210}},
	}
	s := Summarize(samples, Window{0, 2_000_000}, 0)
	if s.PrefixCacheHitRate == nil || math.Abs(*s.PrefixCacheHitRate-200.0/400) > 1e-9 {
		t.Errorf("hit rate %v, want 0.5", deref(s.PrefixCacheHitRate))
	}
}

// Without NVML, a DCGM exporter's page (kept per GPU by the prometheus
// probe) feeds the GPU summary: utilization, power, energy (mJ), clock and
// memory (MiB) under NVML's meanings. With NVML, NVML's values stand.
func TestDCGMFeedsTheGPUSummary(t *testing.T) {
	at := func(t int64, vals map[string]float64) Sample { return Sample{T: t, Probe: "dcgm", Values: vals} }
	samples := []Sample{
		at(0, map[string]float64{`DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{gpu="0"}`: 1_000_000, `DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{gpu="1"}`: 5_000_000}),
		at(1_000_000, map[string]float64{`DCGM_FI_DEV_GPU_UTIL{gpu="0"}`: 80, `DCGM_FI_DEV_GPU_UTIL{gpu="1"}`: 60,
			`DCGM_FI_DEV_POWER_USAGE{gpu="0"}`: 400, `DCGM_FI_DEV_POWER_USAGE{gpu="1"}`: 300,
			`DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{gpu="0"}`: 1_400_000, `DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{gpu="1"}`: 5_300_000,
			`DCGM_FI_DEV_SM_CLOCK{gpu="0"}`: 1980, `DCGM_FI_DEV_SM_CLOCK{gpu="1"}`: 1755, `DCGM_FI_DEV_FB_USED{gpu="1"}`: 70_000,
			`DCGM_FI_DEV_GPU_TEMP{gpu="0"}`: 55}),
		at(2_000_000, map[string]float64{`DCGM_FI_DEV_GPU_UTIL{gpu="0"}`: 100, `DCGM_FI_DEV_GPU_UTIL{gpu="1"}`: 80,
			`DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{gpu="0"}`: 1_800_000, `DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{gpu="1"}`: 5_600_000}),
	}
	s := Summarize(samples, Window{500_000, 2_000_000}, 700)
	eq := func(name string, got *float64, want float64) {
		t.Helper()
		if got == nil || math.Abs(*got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", name, deref(got), want)
		}
	}
	if s.GPUSource != "dcgm" {
		t.Errorf("gpu_source %q", s.GPUSource)
	}
	eq("GPU util mean", s.GPUUtilMeanPct, (90+70)/2.0)
	eq("power", s.PowerMeanW, 700)
	eq("energy (J)", s.EnergyJ, 800+600)
	eq("energy per token", s.EnergyPerOutputTokenJ, 2)
	eq("SM clock min", s.SMClockMinMHz, 1755)
	eq("GPU memory peak (bytes)", s.GPUMemPeakBytes, 70_000*(1<<20))

	samples = append(samples, Sample{T: 1_500_000, Probe: "gpu", Values: map[string]float64{"gpu0.util_pct": 10}})
	s = Summarize(samples, Window{500_000, 2_000_000}, 700)
	if s.GPUSource != "" || s.GPUUtilMeanPct == nil || *s.GPUUtilMeanPct != 10 {
		t.Errorf("NVML's values stand beside DCGM's: source %q, util %v", s.GPUSource, deref(s.GPUUtilMeanPct))
	}
}

// The server's own percentiles are rebuilt from its histograms' buckets the
// way Prometheus's histogram_quantile does; speculative decoding's
// acceptance from its counters, as vllm bench serve computes it.
func TestServerPercentilesAndSpecDecode(t *testing.T) {
	before := map[string]float64{
		`vllm:time_to_first_token_seconds_bucket{le="0.1"}`: 5, `vllm:time_to_first_token_seconds_bucket{le="0.5"}`: 5,
		`vllm:time_to_first_token_seconds_bucket{le="1"}`: 5, "vllm:time_to_first_token_seconds_count": 5,
		"vllm:spec_decode_num_drafts_total": 100, "vllm:spec_decode_num_draft_tokens_total": 300, "vllm:spec_decode_num_accepted_tokens_total": 150,
	}
	// in the window: 100 more observations, 60 under 0.1 s, 30 in (0.1, 0.5], 9 in (0.5, 1], 1 above
	after := map[string]float64{
		`vllm:time_to_first_token_seconds_bucket{le="0.1"}`: 65, `vllm:time_to_first_token_seconds_bucket{le="0.5"}`: 95,
		`vllm:time_to_first_token_seconds_bucket{le="1"}`: 104, "vllm:time_to_first_token_seconds_count": 105,
		"vllm:spec_decode_num_drafts_total": 300, "vllm:spec_decode_num_draft_tokens_total": 900, "vllm:spec_decode_num_accepted_tokens_total": 570,
	}
	s := Summarize([]Sample{{T: 0, Probe: "metrics", Values: before}, {T: 1_000_000, Probe: "metrics", Values: after}}, Window{500_000, 1_000_000}, 0)
	eq := func(name string, got *float64, want float64) {
		t.Helper()
		if got == nil || math.Abs(*got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", name, deref(got), want)
		}
	}
	eq("server TTFT p50 (ms)", s.ServerTTFTP50Ms, 1000*0.1*50/60)             // rank 50 of 100, in the first bucket
	eq("server TTFT p99 (ms)", s.ServerTTFTP99Ms, 1000*(0.5+0.5*(99-90)/9.0)) // rank 99: (0.5, 1] holds 91…99
	eq("acceptance rate", s.SpecAcceptanceRate, 420.0/600)
	eq("acceptance length", s.SpecAcceptanceLength, 1+420.0/200)
	if s.ServerE2ELP99Ms != nil {
		t.Errorf("no E2EL histogram, no E2EL percentile: %v", *s.ServerE2ELP99Ms)
	}
}
