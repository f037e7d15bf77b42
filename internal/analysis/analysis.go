// Package analysis computes a level's metrics from its request records, with
// the definitions of `vllm bench serve` (docs/metrics.md states each one).
package analysis

import (
	"fmt"
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
}

// Accumulator collects the measured records of one level.
type Accumulator struct {
	recs []record.Record
}

// Add takes one record; records of other phases are ignored.
func (a *Accumulator) Add(r *record.Record) {
	if r.Phase != record.PhaseMeasure {
		return
	}
	c := *r
	a.recs = append(a.recs, c)
}

// Len is the number of measured records added.
func (a *Accumulator) Len() int { return len(a.recs) }

// InferWindow guesses the measurement window from the records alone, for a
// run folder without summary.json: from the first measured request's
// scheduled time to the last one's.
func (a *Accumulator) InferWindow() Window {
	if len(a.recs) == 0 {
		return Window{}
	}
	w := Window{StartUS: math.MaxInt64}
	for i := range a.recs {
		w.StartUS = min(w.StartUS, a.recs[i].ScheduledUS)
		w.EndUS = max(w.EndUS, a.recs[i].ScheduledUS)
	}
	return w
}

// PercentileKey names a percentile the way `vllm bench serve` does: p99, p99.9.
func PercentileKey(p float64) string {
	return "p" + strconv.FormatFloat(p, 'f', -1, 64)
}

// Level computes the metrics of the accumulated records. The caller fills in
// the load it asked for (mode, requested rate or concurrency).
func (a *Accumulator) Level(w Window, o Options) record.Level {
	l := record.Level{FailedByClass: map[string]int{}, Latency: map[string]float64{}}
	var ttft, tpot, itl, e2el, sched, e2elQ []float64
	var queueSum float64
	var good int
	lastEnd := w.EndUS
	for i := range a.recs {
		r := &a.recs[i]
		l.NumRequests++
		sched = append(sched, float64(r.ScheduleDelayUS())/1000)
		queueSum += float64(r.QueueWaitUS) / 1000
		lastEnd = max(lastEnd, r.EndUS, r.DoneUS)
		switch {
		case r.OK():
		case r.Error == record.ErrCanceled:
			l.Canceled++
			continue
		default:
			l.Failed++
			l.FailedByClass[r.Error]++
			continue
		}
		l.Completed++
		if r.UsageMissing {
			l.UsageMissing++
		}
		l.TotalInput += r.PromptTokens
		l.TotalOutput += r.OutputTokens
		if len(r.ChunkUS) == 0 {
			continue // a success without content (max_tokens 0?) has no latencies
		}
		t := float64(r.TTFTUS()) / 1000
		e := float64(r.E2ELUS()) / 1000
		ttft = append(ttft, t)
		e2el = append(e2el, e)
		e2elQ = append(e2elQ, e+float64(r.QueueWaitUS)/1000)
		var tp float64
		if r.OutputTokens > 1 {
			tp = (e - t) / float64(r.OutputTokens-1)
			tpot = append(tpot, tp)
		}
		for j := 1; j < len(r.ChunkUS); j++ {
			itl = append(itl, float64(r.ChunkUS[j]-r.ChunkUS[j-1])/1000)
		}
		if o.SLO.TTFTMs > 0 && t > o.SLO.TTFTMs ||
			o.SLO.TPOTMs > 0 && tp > o.SLO.TPOTMs ||
			o.SLO.E2ELMs > 0 && e > o.SLO.E2ELMs {
			continue
		}
		good++
	}
	l.Duration = float64(lastEnd-w.StartUS) / 1e6
	if l.Duration > 0 {
		l.RequestThrough = float64(l.Completed) / l.Duration
		l.OutputThrough = float64(l.TotalOutput) / l.Duration
		l.TotalThrough = float64(l.TotalInput+l.TotalOutput) / l.Duration
		if o.SLO.TTFTMs > 0 || o.SLO.TPOTMs > 0 || o.SLO.E2ELMs > 0 {
			g := float64(good) / l.Duration
			l.RequestGoodput = &g
		}
	}
	l.MeasureStartUS, l.MeasureEndUS = w.StartUS, w.EndUS
	if win := float64(w.EndUS-w.StartUS) / 1e6; win > 0 {
		l.AchievedRate = float64(l.NumRequests) / win
	}
	if l.NumRequests > 0 {
		l.ErrorRate = float64(l.Failed) / float64(l.NumRequests)
		l.MeanQueueWaitMs = queueSum / float64(l.NumRequests)
	}
	for _, m := range []struct {
		name string
		xs   []float64
	}{{"ttft", ttft}, {"tpot", tpot}, {"itl", itl}, {"e2el", e2el}} {
		d := stats.Describe(m.xs, o.Percentiles)
		put := func(key string, v float64) {
			if d.Empty {
				v = math.NaN()
			}
			l.Latency[key] = v
		}
		put("mean_"+m.name+"_ms", d.Mean)
		put("median_"+m.name+"_ms", d.Pct[50])
		put("std_"+m.name+"_ms", d.Std)
		for _, p := range o.Percentiles {
			put(fmt.Sprintf("%s_%s_ms", PercentileKey(p), m.name), d.Pct[p])
		}
	}
	sd := stats.Describe(sched, []float64{99})
	l.MeanSchedDelay, l.P99SchedDelay, l.MaxSchedDelay = sd.Mean, sd.Pct[99], sd.Max
	qd := stats.Describe(e2elQ, []float64{99})
	l.Latency["mean_e2el_incl_queue_ms"], l.Latency["p99_e2el_incl_queue_ms"] = qd.Mean, qd.Pct[99]
	if qd.Empty {
		l.Latency["mean_e2el_incl_queue_ms"], l.Latency["p99_e2el_incl_queue_ms"] = math.NaN(), math.NaN()
	}
	l.MaxConcurrent = maxConcurrent(a.recs)
	return l
}

// maxConcurrent is the most measured requests in flight at one time.
func maxConcurrent(recs []record.Record) int {
	type ev struct {
		t     int64
		delta int
	}
	evs := make([]ev, 0, 2*len(recs))
	for i := range recs {
		end := max(recs[i].EndUS, recs[i].DoneUS)
		evs = append(evs, ev{recs[i].SentUS, 1}, ev{end, -1})
	}
	slices.SortFunc(evs, func(a, b ev) int {
		if a.t != b.t {
			return int(a.t - b.t)
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
