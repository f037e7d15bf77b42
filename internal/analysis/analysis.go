// Package analysis computes a level's metrics from its request records, with
// the definitions of `vllm bench serve` (docs/metrics.md states each one).
package analysis

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"

	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/stats"
)

// Window is a level's measurement window on the run clock, in µs.
type Window struct {
	StartUS, EndUS int64
}

// Options say what to compute.
type Options struct {
	Percentiles []float64 // 0–100
	SLO         record.SLO
	OutputFrom  string // which output token count TPOT and throughput use (record.OutputFrom*)
	// ModelTime, above 1, is how many model seconds one wall-clock second
	// of the records holds (a simulator run faster than real time, stated
	// in model time): every time and rate is reported in model time.
	ModelTime float64
	// Client names what sent the requests when it was not perfgate (an
	// imported file's tool), for the warnings.
	Client string
}

// Accumulator collects the measured records of one level, one at a time:
// it keeps a few numbers per request (and the pooled inter-token gaps, which
// switch to a sketch past stats.DefaultExactLimit), never the records.
type Accumulator struct {
	o         Options
	n         int
	lv        record.Level
	ttft      []float64
	tpot      []float64
	e2el      []float64
	e2elQ     []float64
	sched     []float64
	itl       stats.Sample
	queueSum  float64
	good      int
	lastEnd   int64
	first     int64 // earliest scheduled time, for InferWindow
	firstSent int64
	last      int64
	spans     []span          // completed requests: send to last content chunk
	chunkMs   map[int64]int32 // completed requests' content chunks per millisecond of the run clock
	minSent   int64
	turns     map[int]*turnAcc
}

type turnAcc struct {
	ttft, e2el []float64
	input      int
}

type span struct{ start, end int64 }

// newAccumulator starts a level's accumulation.
func newAccumulator(o Options) *Accumulator {
	if !(o.ModelTime > 1) {
		o.ModelTime = 1
	}
	return &Accumulator{o: o, lv: record.Level{ErrorsByClass: map[string]int{}, Latency: map[string]float64{}}, first: math.MaxInt64, firstSent: math.MaxInt64, minSent: math.MaxInt64}
}

// Add takes one record; records of other phases are ignored.
func (a *Accumulator) Add(r *record.Record) {
	if r.Phase != record.PhaseMeasure {
		return
	}
	l := &a.lv
	a.n++
	l.NumRequests++
	a.first, a.last = min(a.first, r.ScheduledUS), max(a.last, r.ScheduledUS)
	a.firstSent = min(a.firstSent, r.SentUS)
	ms := a.o.ModelTime / 1000 // µs on the records' clock to ms of the reported time
	a.sched = append(a.sched, float64(r.ScheduleDelayUS())*ms)
	a.queueSum += float64(r.QueueWaitUS) * ms
	end := max(r.EndUS, r.DoneUS)
	a.lastEnd = max(a.lastEnd, end)
	switch {
	case r.OK():
	case r.Error == record.ErrCanceled:
		l.Canceled++
		return
	default:
		l.Errors++
		l.ErrorsByClass[r.Error]++
		return
	}
	l.Completed++
	if r.UsageMissing {
		l.UsageMissing++
	}
	if r.UsageShort() {
		l.UsageShort++
	}
	out := r.CountOutput(a.o.OutputFrom)
	l.TotalInput += r.PromptTokens
	l.TotalOutput += out
	a.spans = append(a.spans, span{r.SentUS, r.SentUS + r.E2ELUS()})
	if len(r.ChunkUS) == 0 {
		return // a success without content has no latencies
	}
	a.minSent = min(a.minSent, r.SentUS)
	if a.chunkMs == nil {
		a.chunkMs = map[int64]int32{}
	}
	for _, c := range r.ChunkUS {
		a.chunkMs[(r.SentUS+c)/1000]++
	}
	t := float64(r.TTFTUS()) * ms
	e := float64(r.E2ELUS()) * ms
	a.ttft = append(a.ttft, t)
	a.e2el = append(a.e2el, e)
	if r.Turn > 0 {
		if a.turns == nil {
			a.turns = map[int]*turnAcc{}
		}
		ta := a.turns[r.Turn]
		if ta == nil {
			ta = &turnAcc{}
			a.turns[r.Turn] = ta
		}
		ta.ttft, ta.e2el, ta.input = append(ta.ttft, t), append(ta.e2el, e), ta.input+r.PromptTokens
	}
	a.e2elQ = append(a.e2elQ, e+float64(r.QueueWaitUS)*ms)
	var tp float64
	if out > 1 {
		tp = (e - t) / float64(out-1)
		a.tpot = append(a.tpot, tp)
	}
	for j := 1; j < len(r.ChunkUS); j++ {
		a.itl.Add(float64(r.ChunkUS[j]-r.ChunkUS[j-1]) * ms)
	}
	slo := a.o.SLO
	if slo.TTFTMs > 0 && t > slo.TTFTMs || slo.TPOTMs > 0 && tp > slo.TPOTMs || slo.E2ELMs > 0 && e > slo.E2ELMs {
		return
	}
	a.good++
}

// Len is the number of measured records added.
func (a *Accumulator) Len() int { return a.n }

// InferWindow guesses the measurement window from the records alone, for a
// run folder without result.json: from the first measured request's
// scheduled time to the last one's.
func (a *Accumulator) InferWindow() Window {
	if a.n == 0 {
		return Window{}
	}
	return Window{StartUS: a.first, EndUS: a.last}
}

// PercentileKey names a percentile the way `vllm bench serve` does: p99, p99.9.
func PercentileKey(p float64) string {
	return "p" + strconv.FormatFloat(p, 'f', -1, 64)
}

// Level computes the metrics of the accumulated records. The caller fills in
// the load it asked for (mode, requested rate or concurrency).
func (a *Accumulator) Level(w Window) record.Level {
	l := a.lv
	l.ErrorsByClass = maps.Clone(a.lv.ErrorsByClass)
	l.Latency = map[string]float64{}
	l.Failed = l.NumRequests - l.Completed
	k := a.o.ModelTime
	l.Duration = float64(w.EndUS-w.StartUS) / 1e6 * k
	if a.n > 0 {
		// vLLM's: from the first request sent to the last one finished.
		l.Duration = float64(a.lastEnd-a.firstSent) / 1e6 * k
	}
	if l.Duration > 0 {
		l.RequestThrough = float64(l.Completed) / l.Duration
		l.OutputThrough = float64(l.TotalOutput) / l.Duration
		l.TotalThrough = float64(l.TotalInput+l.TotalOutput) / l.Duration
		if a.o.SLO.TTFTMs > 0 || a.o.SLO.TPOTMs > 0 || a.o.SLO.E2ELMs > 0 {
			g := float64(a.good) / l.Duration
			l.RequestGoodput = &g
		}
	}
	l.MeasureStartUS, l.MeasureEndUS = w.StartUS, w.EndUS
	if a.n > 0 {
		l.LastEndUS = a.lastEnd
	}
	if win := float64(w.EndUS-w.StartUS) / 1e6 * k; win > 0 {
		l.AchievedRate = float64(l.NumRequests) / win
	}
	if a.n > 1 && a.last > a.first {
		// n requests scheduled over their span: n-1 gaps
		l.OfferedRate = float64(a.n-1) / (float64(a.last-a.first) / 1e6 * k)
	}
	if l.NumRequests > 0 {
		l.ErrorRate = float64(l.Errors) / float64(l.NumRequests)
		l.MeanQueueWaitMs = a.queueSum / float64(l.NumRequests)
	}
	pcts := a.o.Percentiles
	if !slices.Contains(pcts, 99) {
		pcts = append(slices.Clone(pcts), 99) // the gating metrics' p99 keys are always there
	}
	itl := a.itl.Describe(pcts)
	for _, m := range []struct {
		name string
		d    stats.Summary
	}{
		{"ttft", stats.Describe(slices.Clone(a.ttft), pcts)},
		{"tpot", stats.Describe(slices.Clone(a.tpot), pcts)},
		{"itl", itl},
		{"e2el", stats.Describe(slices.Clone(a.e2el), pcts)},
	} {
		d := m.d
		put := func(key string, v float64) {
			if d.Empty || d.N == 0 {
				v = math.NaN()
			}
			l.Latency[key] = v
		}
		put("mean_"+m.name+"_ms", d.Mean)
		put("median_"+m.name+"_ms", d.Pct[50])
		put("std_"+m.name+"_ms", d.Std)
		for _, p := range pcts {
			put(fmt.Sprintf("%s_%s_ms", PercentileKey(p), m.name), d.Pct[p])
		}
	}
	sd := stats.Describe(slices.Clone(a.sched), []float64{99})
	l.MeanSchedDelay, l.P99SchedDelay, l.MaxSchedDelay = sd.Mean, sd.Pct[99], sd.Max
	qd := stats.Describe(slices.Clone(a.e2elQ), []float64{99})
	l.Latency["mean_e2el_incl_queue_ms"], l.Latency["p99_e2el_incl_queue_ms"] = qd.Mean, qd.Pct[99]
	if qd.Empty {
		l.Latency["mean_e2el_incl_queue_ms"], l.Latency["p99_e2el_incl_queue_ms"] = math.NaN(), math.NaN()
	}
	l.MaxConcurrent = maxConcurrent(a.spans)
	l.MaxOutputPerS = maxPerSecond(a.chunkMs, a.minSent, k)
	for _, turn := range slices.Sorted(maps.Keys(a.turns)) {
		ta := a.turns[turn]
		td := stats.Describe(slices.Clone(ta.ttft), []float64{50, 99})
		ed := stats.Describe(slices.Clone(ta.e2el), []float64{50})
		l.ByTurn = append(l.ByTurn, record.TurnStats{Turn: turn, Completed: len(ta.ttft), MeanInput: float64(ta.input) / float64(len(ta.ttft)),
			MedianTTFTMs: td.Pct[50], P99TTFTMs: td.Pct[99], MedianE2ELMs: ed.Pct[50]})
	}
	l.Warnings = clientWarnings(l, a.o.Client)
	return l
}

// maxPerSecond is the most chunks in one 1-second bucket counted from start
// (µs), as vLLM's max_output_tokens_per_s counts one token per streamed
// chunk. Chunks are kept per millisecond, not one by one (a long level
// streams millions), so a chunk within a millisecond of a bucket's edge may
// be counted in its neighbour.
func maxPerSecond(perMs map[int64]int32, start int64, modelTime float64) float64 {
	per := map[int64]int{}
	best := 0
	for ms, n := range perMs {
		b := int64(float64(max(ms*1000-start, 0)) * modelTime / 1e6) // 1-s buckets of the reported time
		per[b] += int(n)
		best = max(best, per[b])
	}
	return float64(best)
}

// maxConcurrent is the most completed requests in flight at one instant,
// as vLLM computes it: a sweep over half-open [send, last chunk) intervals.
func maxConcurrent(spans []span) int {
	type ev struct {
		t     int64
		delta int
	}
	evs := make([]ev, 0, 2*len(spans))
	for _, s := range spans {
		evs = append(evs, ev{s.start, 1}, ev{s.end, -1})
	}
	slices.SortFunc(evs, func(a, b ev) int {
		if a.t != b.t {
			return cmp.Compare(a.t, b.t)
		}
		return a.delta - b.delta // ends before starts at the same instant
	})
	cur, best := 0, 0
	for _, e := range evs {
		cur += e.delta
		best = max(best, cur)
	}
	return best
}
