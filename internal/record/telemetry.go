package record

// HostEnv describes the machine perfgate ran on.
type HostEnv struct {
	Kernel        string `json:"kernel,omitempty"`
	Platform      string `json:"platform,omitempty"` // distribution and version
	CPUModel      string `json:"cpu_model,omitempty"`
	CPUCores      int    `json:"cpu_cores,omitempty"` // logical
	MemTotalBytes uint64 `json:"mem_total_bytes,omitempty"`
}

// GPUEnv is what NVML reports of the GPUs sampled.
type GPUEnv struct {
	DriverVersion     string `json:"driver_version,omitempty"`
	NVMLVersion       string `json:"nvml_version,omitempty"`
	CUDADriverVersion string `json:"cuda_driver_version,omitempty"` // e.g. 12.4
	GPUs              []GPU  `json:"gpus"`
}

// GPU is what meta.json records of one GPU: facts that do not change during a run.
type GPU struct {
	Index            int     `json:"index"`
	Name             string  `json:"name"`
	UUID             string  `json:"uuid"`
	MemoryTotalBytes uint64  `json:"memory_total_bytes,omitempty"`
	PowerLimitW      float64 `json:"power_limit_w,omitempty"`
	ECC              string  `json:"ecc_mode,omitempty"`         // enabled or disabled; absent when not supported
	Persistence      string  `json:"persistence_mode,omitempty"` // enabled or disabled
	AppSMClockMHz    uint32  `json:"applications_sm_clock_mhz,omitempty"`
	AppMemClockMHz   uint32  `json:"applications_mem_clock_mhz,omitempty"`
	ComputeCap       string  `json:"cuda_compute_capability,omitempty"`
}

// PhaseTelemetry is a level's telemetry summary per phase.
type PhaseTelemetry struct {
	Warmup  *TelemetrySummary `json:"warmup,omitempty"`
	Measure *TelemetrySummary `json:"measure,omitempty"`
}

// TelemetrySummary sums up telemetry.jsonl over one window. A value is absent
// when no probe measured it (no GPU, a server without that metric).
type TelemetrySummary struct {
	Samples int `json:"samples"`
	Gaps    int `json:"gaps"`   // ticks a probe was still busy with an earlier one
	Errors  int `json:"errors"` // reads that failed

	// GPUSource is "dcgm" when the GPU figures come from a DCGM exporter's
	// page (a prometheus probe) because NVML was not there; "" for NVML.
	GPUSource             string   `json:"gpu_source,omitempty"`
	GPUUtilMeanPct        *float64 `json:"gpu_util_mean_pct,omitempty"` // mean over GPUs and time
	GPUUtilPeakPct        *float64 `json:"gpu_util_peak_pct,omitempty"`
	PowerMeanW            *float64 `json:"power_mean_w,omitempty"` // all sampled GPUs together
	EnergyJ               *float64 `json:"energy_j,omitempty"`     // from the energy counters
	EnergyPerOutputTokenJ *float64 `json:"energy_per_output_token_j,omitempty"`
	SMClockMinMHz         *float64 `json:"sm_clock_min_mhz,omitempty"`
	SMClockMeanMHz        *float64 `json:"sm_clock_mean_mhz,omitempty"`
	Throttled             *bool    `json:"throttled,omitempty"` // power, thermal or hardware slowdown seen
	ThrottleReasons       []string `json:"throttle_reasons,omitempty"`
	GPUMemPeakBytes       *float64 `json:"gpu_mem_peak_bytes,omitempty"` // the fullest GPU

	KVCachePeakPct     *float64 `json:"kv_cache_peak_pct,omitempty"`
	Preemptions        *float64 `json:"preemptions,omitempty"`
	PrefixCacheHitRate *float64 `json:"prefix_cache_hit_rate,omitempty"` // hits / queries, in tokens
	RunningMean        *float64 `json:"running_mean,omitempty"`
	WaitingMean        *float64 `json:"waiting_mean,omitempty"`
	QueueTimeMeanMs    *float64 `json:"server_queue_time_mean_ms,omitempty"` // from the server's histograms
	PrefillTimeMeanMs  *float64 `json:"server_prefill_time_mean_ms,omitempty"`
	DecodeTimeMeanMs   *float64 `json:"server_decode_time_mean_ms,omitempty"`
	// The server's own percentiles over the window, rebuilt from its
	// histograms' buckets (linear within a bucket, as Prometheus's
	// histogram_quantile): as coarse as the buckets.
	ServerTTFTP50Ms *float64 `json:"server_ttft_p50_ms,omitempty"`
	ServerTTFTP99Ms *float64 `json:"server_ttft_p99_ms,omitempty"`
	ServerITLP50Ms  *float64 `json:"server_itl_p50_ms,omitempty"`
	ServerITLP99Ms  *float64 `json:"server_itl_p99_ms,omitempty"`
	ServerE2ELP50Ms *float64 `json:"server_e2el_p50_ms,omitempty"`
	ServerE2ELP99Ms *float64 `json:"server_e2el_p99_ms,omitempty"`
	// Speculative decoding, from vLLM's spec_decode counters: accepted
	// draft tokens over draft tokens (0–1), and 1 + accepted tokens per
	// draft (vllm bench serve's acceptance_length).
	SpecAcceptanceRate   *float64 `json:"spec_decode_acceptance_rate,omitempty"`
	SpecAcceptanceLength *float64 `json:"spec_decode_acceptance_length,omitempty"`

	HostCPUMeanPct   *float64 `json:"host_cpu_mean_pct,omitempty"`   // all cores, 0–100
	ClientCPUPeakPct *float64 `json:"client_cpu_peak_pct,omitempty"` // perfgate itself; 100 = one core
	ClientCPUMeanPct *float64 `json:"client_cpu_mean_pct,omitempty"`
	EngineCPUMeanPct *float64 `json:"engine_cpu_mean_pct,omitempty"` // a started engine's process tree

	Warnings []string `json:"warnings,omitempty"`
}
