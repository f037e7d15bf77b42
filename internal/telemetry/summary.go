package telemetry

import (
	"math"
	"regexp"
	"slices"
	"sort"

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

// ReasonNames names the bits of a clock-event mask and says whether any is a
// power, thermal or hardware slowdown.
func ReasonNames(mask uint64) (names []string, throttle bool) {
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
	byKey := map[string]series{}
	before := map[string]point{} // the last value before the window: the baseline of counters
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
		for k, v := range s.Values {
			if math.IsNaN(v) {
				continue
			}
			if inWindow {
				byKey[k] = append(byKey[k], point{s.T, v})
			} else if p, ok := before[k]; !ok || s.T > p.t {
				before[k] = point{s.T, v}
			}
		}
	}
	for k := range byKey {
		sort.SliceStable(byKey[k], func(i, j int) bool { return byKey[k][i].t < byKey[k][j].t })
	}
	// counter is the increase of a counter over the window; a value that goes
	// down means the server restarted, and counting starts again from 0.
	counter := func(k string) (float64, bool) {
		s := byKey[k]
		if len(s) == 0 {
			return 0, false
		}
		prev, ok := before[k]
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
	mean := func(k string) (float64, bool) {
		s := byKey[k]
		if len(s) == 0 {
			return 0, false
		}
		var t float64
		for _, p := range s {
			t += p.v
		}
		return t / float64(len(s)), true
	}
	peak := func(k string) (float64, bool) {
		s := byKey[k]
		if len(s) == 0 {
			return 0, false
		}
		m := math.Inf(-1)
		for _, p := range s {
			m = max(m, p.v)
		}
		return m, true
	}
	ptr := func(v float64) *float64 { return &v }

	// GPUs.
	gpus := map[string]bool{}
	for k := range byKey {
		if m := gpuKey.FindStringSubmatch(k); m != nil {
			gpus[m[1]] = true
		}
	}
	ids := make([]string, 0, len(gpus))
	for id := range gpus {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var utilMeans, utilPeaks, clockMins, clockMeans, memPeaks []float64
	var powerSum, energySum float64
	var havePower, haveEnergy, haveReasons bool
	var mask uint64
	for _, id := range ids {
		g := "gpu" + id + "."
		if v, ok := mean(g + "util_pct"); ok {
			utilMeans = append(utilMeans, v)
			p, _ := peak(g + "util_pct")
			utilPeaks = append(utilPeaks, p)
		}
		if v, ok := mean(g + "power_w"); ok {
			powerSum += v
			havePower = true
		}
		if v, ok := counter(g + "energy_j"); ok {
			energySum += v
			haveEnergy = true
		}
		if s := byKey[g+"sm_clock_mhz"]; len(s) > 0 {
			lo := math.Inf(1)
			for _, p := range s {
				lo = min(lo, p.v)
			}
			m, _ := mean(g + "sm_clock_mhz")
			clockMins, clockMeans = append(clockMins, lo), append(clockMeans, m)
		}
		if v, ok := peak(g + "mem_used_bytes"); ok {
			memPeaks = append(memPeaks, v)
		}
		for _, p := range byKey[g+"clock_event_reasons"] {
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
		names, throttled := ReasonNames(mask)
		sum.Throttled = &throttled
		if throttled {
			sum.ThrottleReasons = names
		}
	}

	// The server's /metrics (vLLM's names).
	if v, ok := peak("vllm:kv_cache_usage_perc"); ok {
		sum.KVCachePeakPct = ptr(100 * v)
	} else if v, ok := peak("vllm:gpu_cache_usage_perc"); ok { // vLLM before v1
		sum.KVCachePeakPct = ptr(100 * v)
	}
	if v, ok := counter("vllm:num_preemptions_total"); ok {
		sum.Preemptions = ptr(v)
	}
	if q, ok := counter("vllm:prefix_cache_queries_total"); ok && q > 0 {
		h, _ := counter("vllm:prefix_cache_hits_total")
		sum.PrefixCacheHitRate = ptr(h / q)
	} else if q, ok := counter("vllm:gpu_prefix_cache_queries_total"); ok && q > 0 { // vLLM 0.7 to 0.10
		h, _ := counter("vllm:gpu_prefix_cache_hits_total")
		sum.PrefixCacheHitRate = ptr(h / q)
	}
	if v, ok := mean("vllm:num_requests_running"); ok {
		sum.RunningMean = ptr(v)
	}
	if v, ok := mean("vllm:num_requests_waiting"); ok {
		sum.WaitingMean = ptr(v)
	}
	histMean := func(name string) *float64 {
		s, ok1 := counter(name + "_sum")
		c, ok2 := counter(name + "_count")
		if !ok1 || !ok2 || c <= 0 {
			return nil
		}
		return ptr(1000 * s / c)
	}
	sum.QueueTimeMeanMs = histMean("vllm:request_queue_time_seconds")
	sum.PrefillTimeMeanMs = histMean("vllm:request_prefill_time_seconds")
	sum.DecodeTimeMeanMs = histMean("vllm:request_decode_time_seconds")

	// The host.
	if v, ok := mean("host.cpu_pct"); ok {
		sum.HostCPUMeanPct = ptr(v)
	}
	if v, ok := peak("self.cpu_pct"); ok {
		sum.ClientCPUPeakPct = ptr(v)
		m, _ := mean("self.cpu_pct")
		sum.ClientCPUMeanPct = ptr(m)
	}
	if v, ok := mean("engine.cpu_pct"); ok {
		sum.EngineCPUMeanPct = ptr(v)
	}
	return sum
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
