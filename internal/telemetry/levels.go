package telemetry

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/perfgate/perfgate/internal/record"
)

// warnClientCPUFrac: perfgate's CPU above this share of all cores may make
// the client the bottleneck.
const warnClientCPUFrac = 0.85

// SummarizeLevels adds each level's telemetry summary (warm-up and
// measurement) from the run folder's telemetry.jsonl, and the warnings it
// gives (perfgate's CPU, a throttled GPU) after the level's own.
func SummarizeLevels(dir string, levels []record.Level, inProcessEngine bool, cores int) error {
	samples, err := ReadAll(filepath.Join(dir, File))
	if err != nil {
		return err
	}
	SummarizeLevelSamples(samples, levels, inProcessEngine, cores)
	return nil
}

// SummarizeLevelSamples is SummarizeLevels for samples already read.
func SummarizeLevelSamples(samples []Sample, levels []record.Level, inProcessEngine bool, cores int) {
	for i := range levels {
		l := &levels[i]
		pt := &record.PhaseTelemetry{
			Measure: Summarize(samples, Window{StartUS: l.MeasureStartUS, EndUS: max(l.LastEndUS, l.MeasureEndUS)}, l.TotalOutput),
		}
		if l.StartUS < l.MeasureStartUS {
			pt.Warmup = Summarize(samples, Window{StartUS: l.StartUS, EndUS: l.MeasureStartUS - 1}, 0)
		}
		if pt.Measure.Samples > 0 || pt.Warmup != nil {
			l.Telemetry = pt
		}
		l.Warnings = append(l.Warnings, levelWarnings(*l, inProcessEngine, cores)...)
	}
}

func levelWarnings(l record.Level, inProcessEngine bool, cores int) []string {
	if l.Telemetry == nil || l.Telemetry.Measure == nil {
		return nil
	}
	var w []string
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
