package telemetry

import (
	"maps"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"

	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/stats"
)

// Clock-event (throttle) reason bits, as NVML defines them.
var reasonBits = []struct {
	bit      uint64
	name     string
	throttle bool // a slowdown perfgate warns about (idle and clock settings are not)
}{
	{1, "gpu_idle", false},
	{2, "applications_clocks_setting", false},
	{4, "sw_power_cap", true},
	{8, "hw_slowdown", true},
	{16, "sync_boost", false},
	{32, "sw_thermal_slowdown", true},
	{64, "hw_thermal_slowdown", true},
	{128, "hw_power_brake_slowdown", true},
	{256, "display_clock_setting", false},
}

// reasonNames names the bits of a clock-event mask and says whether any is a
// power, thermal or hardware slowdown.
func reasonNames(mask uint64) (names []string, throttle bool) {
	for _, r := range reasonBits {
		if mask&r.bit != 0 {
			names = append(names, r.name)
			throttle = throttle || r.throttle
		}
	}
	return names, throttle
}

// Window is a span of the run clock, in µs, both ends included.
type Window struct{ StartUS, EndUS int64 }

var gpuKey = regexp.MustCompile(`^gpu(\d+)\.(.+)$`)

// series holds one value's samples in time order.
type series []point

type point struct {
	t int64
	v float64
}

// Summarize sums up the samples (in any order) over w. outputTokens, when
// positive, gives the energy per output token.
func Summarize(samples []Sample, w Window, outputTokens int) *record.TelemetrySummary {
	sum := &record.TelemetrySummary{}
	v := collect(samples, w, sum)
	if v.dcgmAsGPUs() {
		sum.GPUSource = "dcgm"
	}
	v.gpus(sum, outputTokens)
	v.server(sum)
	v.host(sum)
	return sum
}

// windowValues are a window's values by key, in time order, and each key's
// last value before the window (the baseline of counters).
type windowValues struct {
	byKey  map[string]series
	before map[string]point
}

// collect sorts the samples' values into the window (counting samples, gaps
// and errors into sum) and before it.
func collect(samples []Sample, w Window, sum *record.TelemetrySummary) windowValues {
	v := windowValues{byKey: map[string]series{}, before: map[string]point{}}
	for _, s := range samples {
		if s.T > w.EndUS {
			continue
		}
		inWindow := s.T >= w.StartUS
		if inWindow {
			sum.Samples++
			if s.Gap {
				sum.Gaps++
			}
			if s.Err != "" {
				sum.Errors++
			}
		}
		for k, x := range s.Values {
			if math.IsNaN(x) {
				continue
			}
			if inWindow {
				v.byKey[k] = append(v.byKey[k], point{s.T, x})
			} else if p, ok := v.before[k]; !ok || s.T > p.t {
				v.before[k] = point{s.T, x}
			}
		}
	}
	for k := range v.byKey {
		sort.SliceStable(v.byKey[k], func(i, j int) bool { return v.byKey[k][i].t < v.byKey[k][j].t })
	}
	return v
}

// counter is the increase of a counter over the window; a value that goes
// down means the server restarted, and counting starts again from 0.
func (v windowValues) counter(k string) (float64, bool) {
	s := v.byKey[k]
	if len(s) == 0 {
		return 0, false
	}
	prev, ok := v.before[k]
	if !ok {
		prev = s[0]
	}
	var d float64
	for _, p := range s {
		if p.v >= prev.v {
			d += p.v - prev.v
		} else {
			d += p.v
		}
		prev = p
	}
	return d, true
}

func (v windowValues) mean(k string) (float64, bool) {
	s := v.byKey[k]
	if len(s) == 0 {
		return 0, false
	}
	var t float64
	for _, p := range s {
		t += p.v
	}
	return t / float64(len(s)), true
}

func (v windowValues) peak(k string) (float64, bool) {
	s := v.byKey[k]
	if len(s) == 0 {
		return 0, false
	}
	m := math.Inf(-1)
	for _, p := range s {
		m = max(m, p.v)
	}
	return m, true
}

func (v windowValues) low(k string) (float64, bool) {
	s := v.byKey[k]
	if len(s) == 0 {
		return 0, false
	}
	m := math.Inf(1)
	for _, p := range s {
		m = min(m, p.v)
	}
	return m, true
}

// histMean is a Prometheus histogram's mean over the window, in ms (nil
// without observations).
func (v windowValues) histMean(name string) *float64 {
	s, ok1 := v.counter(name + "_sum")
	c, ok2 := v.counter(name + "_count")
	if !ok1 || !ok2 || c <= 0 {
		return nil
	}
	return ptr(1000 * s / c)
}

func ptr(x float64) *float64 { return &x }

// gpus summarizes NVML's gpuN.* values: utilization (mean over GPUs of each
// one's mean, peak), power and energy (summed over GPUs), the SM clock, peak
// memory and the clock event reasons seen.
func (v windowValues) gpus(sum *record.TelemetrySummary, outputTokens int) {
	ids := map[string]bool{}
	for k := range v.byKey {
		if m := gpuKey.FindStringSubmatch(k); m != nil {
			ids[m[1]] = true
		}
	}
	var utilMeans, utilPeaks, clockMins, clockMeans, memPeaks []float64
	var powerSum, energySum float64
	var havePower, haveEnergy, haveReasons bool
	var mask uint64
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		g := "gpu" + id + "."
		if x, ok := v.mean(g + "util_pct"); ok {
			p, _ := v.peak(g + "util_pct")
			utilMeans, utilPeaks = append(utilMeans, x), append(utilPeaks, p)
		}
		if x, ok := v.mean(g + "power_w"); ok {
			powerSum, havePower = powerSum+x, true
		}
		if x, ok := v.counter(g + "energy_j"); ok {
			energySum, haveEnergy = energySum+x, true
		}
		if lo, ok := v.low(g + "sm_clock_mhz"); ok {
			m, _ := v.mean(g + "sm_clock_mhz")
			clockMins, clockMeans = append(clockMins, lo), append(clockMeans, m)
		}
		if x, ok := v.peak(g + "mem_used_bytes"); ok {
			memPeaks = append(memPeaks, x)
		}
		for _, p := range v.byKey[g+"clock_event_reasons"] {
			mask |= uint64(p.v)
			haveReasons = true
		}
	}
	if len(utilMeans) > 0 {
		sum.GPUUtilMeanPct = ptr(meanOf(utilMeans))
		sum.GPUUtilPeakPct = ptr(slices.Max(utilPeaks))
	}
	if havePower {
		sum.PowerMeanW = ptr(powerSum)
	}
	if haveEnergy {
		sum.EnergyJ = ptr(energySum)
		if outputTokens > 0 {
			sum.EnergyPerOutputTokenJ = ptr(energySum / float64(outputTokens))
		}
	}
	if len(clockMins) > 0 {
		sum.SMClockMinMHz = ptr(slices.Min(clockMins))
		sum.SMClockMeanMHz = ptr(meanOf(clockMeans))
	}
	if len(memPeaks) > 0 {
		sum.GPUMemPeakBytes = ptr(slices.Max(memPeaks))
	}
	if haveReasons {
		names, throttled := reasonNames(mask)
		sum.Throttled = &throttled
		if throttled {
			sum.ThrottleReasons = names
		}
	}
}

// server summarizes the server's /metrics (vLLM's names, and older vLLM's
// where they differ).
func (v windowValues) server(sum *record.TelemetrySummary) {
	if x, ok := v.peak("vllm:kv_cache_usage_perc"); ok {
		sum.KVCachePeakPct = ptr(100 * x)
	} else if x, ok := v.peak("vllm:gpu_cache_usage_perc"); ok { // vLLM before v1
		sum.KVCachePeakPct = ptr(100 * x)
	}
	if x, ok := v.counter("vllm:num_preemptions_total"); ok {
		sum.Preemptions = ptr(x)
	}
	if q, ok := v.counter("vllm:prefix_cache_queries_total"); ok && q > 0 {
		h, _ := v.counter("vllm:prefix_cache_hits_total")
		sum.PrefixCacheHitRate = ptr(h / q)
	} else if q, ok := v.counter("vllm:gpu_prefix_cache_queries_total"); ok && q > 0 { // vLLM 0.7 to 0.10
		h, _ := v.counter("vllm:gpu_prefix_cache_hits_total")
		sum.PrefixCacheHitRate = ptr(h / q)
	}
	if x, ok := v.mean("vllm:num_requests_running"); ok {
		sum.RunningMean = ptr(x)
	}
	if x, ok := v.mean("vllm:num_requests_waiting"); ok {
		sum.WaitingMean = ptr(x)
	}
	sum.QueueTimeMeanMs = v.histMean("vllm:request_queue_time_seconds")
	sum.PrefillTimeMeanMs = v.histMean("vllm:request_prefill_time_seconds")
	sum.DecodeTimeMeanMs = v.histMean("vllm:request_decode_time_seconds")
	sum.ServerTTFTP50Ms, sum.ServerTTFTP99Ms = v.histQuantile("vllm:time_to_first_token_seconds", 0.5), v.histQuantile("vllm:time_to_first_token_seconds", 0.99)
	itl := "vllm:inter_token_latency_seconds"
	if _, ok := v.byKey[itl+"_count"]; !ok {
		itl = "vllm:time_per_output_token_seconds" // vLLM before 0.11
	}
	sum.ServerITLP50Ms, sum.ServerITLP99Ms = v.histQuantile(itl, 0.5), v.histQuantile(itl, 0.99)
	sum.ServerE2ELP50Ms, sum.ServerE2ELP99Ms = v.histQuantile("vllm:e2e_request_latency_seconds", 0.5), v.histQuantile("vllm:e2e_request_latency_seconds", 0.99)
	if d, ok := v.counter("vllm:spec_decode_num_draft_tokens_total"); ok && d > 0 {
		a, _ := v.counter("vllm:spec_decode_num_accepted_tokens_total")
		sum.SpecAcceptanceRate = ptr(a / d)
		if n, ok := v.counter("vllm:spec_decode_num_drafts_total"); ok && n > 0 {
			sum.SpecAcceptanceLength = ptr(1 + a/n)
		}
	}
}

var bucketKey = regexp.MustCompile(`^(.+)_bucket\{le="([^"]+)"\}$`)

// histQuantile is the q-quantile of a Prometheus histogram's observations
// in the window, in ms, from the increase of its buckets: linear within the
// bucket that holds it, as Prometheus's histogram_quantile; past the last
// finite bucket, that bucket's bound. nil without observations or buckets.
func (v windowValues) histQuantile(name string, q float64) *float64 {
	total, ok := v.counter(name + "_count")
	if !ok || total <= 0 {
		return nil
	}
	type bucket struct{ le, n float64 }
	var bs []bucket
	for k := range v.byKey {
		m := bucketKey.FindStringSubmatch(k)
		if m == nil || m[1] != name {
			continue
		}
		le, err := strconv.ParseFloat(m[2], 64)
		if err != nil || math.IsInf(le, 0) {
			continue
		}
		n, _ := v.counter(k)
		bs = append(bs, bucket{le, n})
	}
	if len(bs) == 0 {
		return nil
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	rank := q * total
	lo, below := 0.0, 0.0
	for _, b := range bs {
		if b.n >= rank {
			x := b.le
			if b.n > below {
				x = lo + (b.le-lo)*(rank-below)/(b.n-below)
			}
			return ptr(1000 * x)
		}
		lo, below = b.le, b.n
	}
	return ptr(1000 * bs[len(bs)-1].le)
}

// dcgmFields maps a DCGM exporter's fields to the NVML values perfgate
// summarizes, with the factor from DCGM's unit to perfgate's.
var dcgmFields = map[string]struct {
	key   string
	scale float64
}{
	"DCGM_FI_DEV_GPU_UTIL":                 {"util_pct", 1},
	"DCGM_FI_DEV_MEM_COPY_UTIL":            {"mem_util_pct", 1},
	"DCGM_FI_DEV_POWER_USAGE":              {"power_w", 1},
	"DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": {"energy_j", 1e-3}, // mJ
	"DCGM_FI_DEV_SM_CLOCK":                 {"sm_clock_mhz", 1},
	"DCGM_FI_DEV_MEM_CLOCK":                {"mem_clock_mhz", 1},
	"DCGM_FI_DEV_FB_USED":                  {"mem_used_bytes", 1 << 20}, // MiB
	"DCGM_FI_DEV_GPU_TEMP":                 {"temp_c", 1},
	"DCGM_FI_DEV_CLOCK_THROTTLE_REASONS":   {"clock_event_reasons", 1},
	"DCGM_FI_DEV_CLOCKS_EVENT_REASONS":     {"clock_event_reasons", 1},
}

var dcgmKey = regexp.MustCompile(`^(DCGM_FI_[A-Z_]+)\{gpu="([0-9]+)"\}$`)

// dcgmAsGPUs gives a DCGM exporter's per-GPU fields (a prometheus probe's
// NAME{gpu="N"}) NVML's names, gpuN.*, when no NVML value is there — the
// usual layout of a benchmark pod on Kubernetes, which reads its node's
// exporter but has no NVML of its own. It says whether it did.
func (v windowValues) dcgmAsGPUs() bool {
	for k := range v.byKey {
		if gpuKey.MatchString(k) {
			return false
		}
	}
	added := map[string]series{} // not written into byKey while it is ranged over
	for k, s := range v.byKey {
		m := dcgmKey.FindStringSubmatch(k)
		if m == nil {
			continue
		}
		f, ok := dcgmFields[m[1]]
		if !ok {
			continue
		}
		to := "gpu" + m[2] + "." + f.key
		conv := func(p point) point { return point{p.t, p.v * f.scale} }
		out := make(series, len(s))
		for i, p := range s {
			out[i] = conv(p)
		}
		added[to] = out
		if p, ok := v.before[k]; ok {
			v.before[to] = conv(p)
		}
	}
	maps.Copy(v.byKey, added)
	return len(added) > 0
}

// host summarizes the host's CPU, perfgate's own and the engine's.
func (v windowValues) host(sum *record.TelemetrySummary) {
	if x, ok := v.mean("host.cpu_pct"); ok {
		sum.HostCPUMeanPct = ptr(x)
	}
	if x, ok := v.peak("self.cpu_pct"); ok {
		sum.ClientCPUPeakPct = ptr(x)
		m, _ := v.mean("self.cpu_pct")
		sum.ClientCPUMeanPct = ptr(m)
	}
	if x, ok := v.mean("engine.cpu_pct"); ok {
		sum.EngineCPUMeanPct = ptr(x)
	}
}

func meanOf(xs []float64) float64 {
	m, _ := stats.MeanSD(xs)
	return m
}

// ReadAll reads a telemetry file whole (it is small: a few values per probe
// per interval).
func ReadAll(path string) ([]Sample, error) {
	var out []Sample
	err := Read(path, func(s *Sample) { out = append(out, *s) })
	return out, err
}
