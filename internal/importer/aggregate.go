package importer

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"

	"github.com/perfgate/perfgate/internal/analysis"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/stats"
)

// vllmStatKey matches the latency statistics a vLLM result states: mean_,
// median_, std_ and pNN_ of TTFT, TPOT, ITL and E2EL, in ms.
var vllmStatKey = regexp.MustCompile(`^(mean|median|std|p[0-9]+(\.[0-9]+)?)_(ttft|tpot|itl|e2el)_ms$`)

// aggregateLacks is what a vLLM result saved without --save-detailed cannot
// give perfgate.
var aggregateLacks = []string{
	"per-request TTFT and token times: TTFT, TPOT and ITL are the file's own mean, median, std and the percentiles vllm bench serve was asked for (--metric-percentiles), no others",
	"send times: no schedule delay, no requests in flight over time, no distributions or timelines in the report",
	"error classes: failed requests are counted, not classified",
}

// vllmAggregate is a level from a result saved without --save-detailed:
// vLLM's own summary and statistics, and E2EL from its per-request
// latencies, which it keeps.
func vllmAggregate(src string, v *vllmResult) (Level, error) {
	l := vllmHeader(src, v)
	completed, failed := int(*v.Completed), 0
	if v.Failed != nil {
		failed = int(*v.Failed)
	}
	if completed < 0 || failed < 0 || float64(completed) != *v.Completed || completed+failed > maxTokens*64 {
		return Level{}, fmt.Errorf("%s: completed %v, failed %d: not counts of requests", src, *v.Completed, failed)
	}
	if l.Duration <= 0 {
		return Level{}, fmt.Errorf("%s: vLLM's summary without a duration and no per-request data (ttfts): nothing to import; a result saved by vllm bench serve --save-result has both", src)
	}
	vllmLoad(&l, v, completed+failed)
	a := &record.Level{Aggregate: true, Mode: l.Mode, NumRequests: completed + failed, Completed: completed, Failed: failed, Errors: failed,
		ErrorsByClass: map[string]int{}, Duration: l.Duration, Latency: map[string]float64{}}
	if a.NumRequests > 0 {
		a.ErrorRate = float64(failed) / float64(a.NumRequests)
	}
	num := func(p *float64) float64 {
		if p == nil || math.IsNaN(*p) || math.IsInf(*p, 0) || *p < 0 {
			return 0
		}
		return *p
	}
	a.TotalInput, a.TotalOutput = int(num(v.TotalInputTokens)), int(num(v.TotalOutputTokens))
	a.RequestThrough, a.OutputThrough = num(v.RequestThroughput), num(v.OutputThroughput)
	a.TotalThrough, a.DurationFrom = float64(a.TotalInput+a.TotalOutput)/a.Duration, l.Tool
	a.MaxConcurrent, a.MaxOutputPerS = int(num(v.MaxConcurrent)), num(v.MaxOutputPerS)
	if v.RequestGoodput != nil {
		g := num(v.RequestGoodput)
		a.RequestGoodput = &g
	}
	for k, x := range v.keys {
		if !vllmStatKey.MatchString(k) {
			continue
		}
		if f, ok := x.(float64); ok && !math.IsNaN(f) && !math.IsInf(f, 0) && f >= 0 {
			a.Latency[k] = f
		}
	}
	if err := aggregateE2EL(a, v, failed); err != nil {
		return Level{}, fmt.Errorf("%s: %w", src, err)
	}
	if len(a.Latency) == 0 && completed > 0 {
		return Level{}, fmt.Errorf("%s: vLLM's summary without latency statistics (mean_ttft_ms, …) or latencies: nothing to compare", src)
	}
	l.Aggregate, l.Lacks = a, aggregateLacks
	return l, nil
}

// aggregateE2EL computes E2EL's statistics from the file's latencies (every
// request's; a failed one's is 0 unless it failed late, so with failures
// the zeros are left out), with the percentiles the file states for the
// other latencies and 99.
func aggregateE2EL(a *record.Level, v *vllmResult, failed int) error {
	var e2el []float64
	for i, x := range v.Latencies {
		if m := checkSeconds("latencies", x); m != "" {
			return fmt.Errorf("request %d: %s", i+1, m)
		}
		if failed > 0 && x == 0 {
			continue
		}
		e2el = append(e2el, x*1000)
	}
	if len(e2el) == 0 {
		return nil // the file's own e2el keys, if any, stand
	}
	pcts := []float64{99}
	for k := range a.Latency {
		if m := vllmStatKey.FindStringSubmatch(k); m != nil && m[1][0] == 'p' {
			if p, err := strconv.ParseFloat(m[1][1:], 64); err == nil && p > 0 && p < 100 && !slices.Contains(pcts, p) {
				pcts = append(pcts, p)
			}
		}
	}
	d := stats.Describe(e2el, pcts)
	a.Latency["mean_e2el_ms"], a.Latency["median_e2el_ms"], a.Latency["std_e2el_ms"] = d.Mean, d.Pct[50], d.Std
	for _, p := range pcts {
		a.Latency[analysis.PercentileKey(p)+"_e2el_ms"] = d.Pct[p]
	}
	return nil
}
