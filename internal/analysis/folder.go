package analysis

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/telemetry"
)

// ReadLevels reads a run folder's requests.jsonl and computes the metrics of
// each level. windows gives each level's measurement window; a level missing
// from it (a folder without result.json) has its window inferred from the
// records. Levels come back in index order, one per level that has measured
// records or a window. each, when set, also sees every record (in the same
// single pass), for what a report draws.
func ReadLevels(dir string, windows map[int]Window, o Options, each func(*record.Record)) ([]record.Level, record.ReadStats, error) {
	accs := map[int]*Accumulator{}
	st, err := record.Read(filepath.Join(dir, record.RequestsFile), func(r *record.Record) error {
		if each != nil {
			each(r)
		}
		a := accs[r.Level]
		if a == nil {
			a = NewAccumulator(o)
			accs[r.Level] = a
		}
		a.Add(r)
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		return nil, st, err
	}
	maxLevel := -1
	for i := range accs {
		maxLevel = max(maxLevel, i)
	}
	for i := range windows {
		maxLevel = max(maxLevel, i)
	}
	var out []record.Level
	for i := 0; i <= maxLevel; i++ {
		a, w := accs[i], windows[i]
		_, haveWindow := windows[i]
		if a == nil {
			a = NewAccumulator(o)
		}
		if a.Len() == 0 && !haveWindow {
			continue
		}
		if !haveWindow {
			w = a.InferWindow()
		}
		l := a.Level(w)
		l.Level = i
		out = append(out, l)
	}
	return out, st, nil
}

// Thresholds of the warnings a run gives about itself.
const (
	warnSchedDelayMs  = 5.0  // p99 schedule delay above this: perfgate sent late
	warnClientCPUFrac = 0.85 // perfgate's CPU above this share of all cores
)

// AddTelemetry adds each level's telemetry summary (warm-up and
// measurement) and the warnings a reader should see.
func AddTelemetry(dir string, levels []record.Level, inProcessEngine bool, cores int) error {
	samples, err := telemetry.ReadAll(filepath.Join(dir, telemetry.File))
	if err != nil {
		return err
	}
	AddTelemetrySamples(samples, levels, inProcessEngine, cores)
	return nil
}

// AddTelemetrySamples is AddTelemetry for samples already read.
func AddTelemetrySamples(samples []telemetry.Sample, levels []record.Level, inProcessEngine bool, cores int) {
	for i := range levels {
		l := &levels[i]
		measureEnd := l.MeasureStartUS + int64(l.Duration*1e6)
		pt := &record.PhaseTelemetry{
			Measure: telemetry.Summarize(samples, telemetry.Window{StartUS: l.MeasureStartUS, EndUS: max(measureEnd, l.MeasureEndUS)}, l.TotalOutput),
		}
		if l.StartUS < l.MeasureStartUS {
			pt.Warmup = telemetry.Summarize(samples, telemetry.Window{StartUS: l.StartUS, EndUS: l.MeasureStartUS - 1}, 0)
		}
		if pt.Measure.Samples > 0 || pt.Warmup != nil {
			l.Telemetry = pt
		}
		l.Warnings = levelWarnings(*l, inProcessEngine, cores)
	}
}

func levelWarnings(l record.Level, inProcessEngine bool, cores int) []string {
	var w []string
	if l.P99SchedDelay > warnSchedDelayMs {
		w = append(w, fmt.Sprintf("perfgate sent late: p99 schedule delay %.1f ms (max %.1f ms); the client, not the server, may limit this level", l.P99SchedDelay, l.MaxSchedDelay))
	}
	if l.UsageMissing > 0 {
		w = append(w, fmt.Sprintf("%d of %d completed requests had no usage from the server: their prompt tokens count as 0 and their output tokens as the content chunks received", l.UsageMissing, l.Completed))
	}
	if l.UsageShort > 0 {
		w = append(w, fmt.Sprintf("%d of %d completed requests reported fewer completion_tokens than the content chunks received: the server's usage undercounts; output_tokens_from: chunks (or max) makes TPOT and throughput count the chunks", l.UsageShort, l.Completed))
	}
	if l.Telemetry == nil || l.Telemetry.Measure == nil {
		return w
	}
	m := l.Telemetry.Measure
	if m.ClientCPUPeakPct != nil && cores > 0 && *m.ClientCPUPeakPct > warnClientCPUFrac*100*float64(cores) {
		msg := fmt.Sprintf("perfgate's CPU peaked at %.0f%% of %d cores; the client may be the bottleneck", *m.ClientCPUPeakPct, cores)
		if inProcessEngine {
			msg += " (the in-process simulator runs in perfgate's process and counts here)"
		}
		w = append(w, msg)
	}
	if m.Throttled != nil && *m.Throttled {
		w = append(w, "the GPU throttled its clocks: "+strings.Join(m.ThrottleReasons, ", "))
	}
	return w
}
