package simfit

import (
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/report"
)

// Figure is one compared quantity of a level: real against simulated, and
// the target it is held to.
type Figure struct {
	Name      string
	Real, Sim float64
	Have      bool    // both sides measured it
	RelTol    float64 // relative target (0.1: ±10 %); 0 with an absolute one
	AbsTol    float64 // absolute target (rates: 0.1 is ±10 points)
	// Floor is the least difference a relative target allows: below it a
	// figure near 0 (a queue time of microseconds) is not a miss.
	Floor     float64
	BelowKnee bool // held to its target only below the knee
}

// Met says whether the figure is within its target.
func (f Figure) Met() bool {
	if !f.Have {
		return true
	}
	if f.AbsTol > 0 {
		return math.Abs(f.Sim-f.Real) <= f.AbsTol
	}
	return math.Abs(f.Sim-f.Real) <= max(f.RelTol*math.Abs(f.Real), f.Floor)
}

// Level is one load level's figures.
type Level struct {
	Load    string
	Figures []Figure
}

// Shape is one held-out traffic shape: its levels and both knees.
type Shape struct {
	Name                string
	Levels              []Level
	RealKnee, SimKnee   string // the throughput–latency knee's load, "" without one
	RealKneeX, SimKneeX float64
}

// CompareRuns compares one shape's real and simulated run folders.
func CompareRuns(name, realDir, simDir string) (Shape, error) {
	r, err := report.Load(realDir)
	if err != nil {
		return Shape{}, err
	}
	s, err := report.Load(simDir)
	if err != nil {
		return Shape{}, err
	}
	sh := Shape{Name: name}
	n := min(len(r.Summary.Levels), len(s.Summary.Levels))
	kneeR, kneeS := r.Knee, s.Knee
	if kneeR >= 0 {
		sh.RealKnee, sh.RealKneeX = loadName(r.Summary.Levels[kneeR]), loadValue(r.Summary.Levels[kneeR])
	}
	if kneeS >= 0 {
		sh.SimKnee, sh.SimKneeX = loadName(s.Summary.Levels[kneeS]), loadValue(s.Summary.Levels[kneeS])
	}
	for i := range n {
		lr, ls := r.Summary.Levels[i], s.Summary.Levels[i]
		below := kneeR < 0 || i <= kneeR
		sh.Levels = append(sh.Levels, Level{Load: loadName(lr), Figures: figures(lr, ls, below)})
	}
	return sh, nil
}

func loadName(l record.Level) string {
	if l.Mode == "closed" {
		return fmt.Sprintf("%d conc", l.RequestedConcurrency)
	}
	return fmt.Sprintf("%g req/s", l.RequestedRate)
}

func loadValue(l record.Level) float64 {
	if l.Mode == "closed" {
		return float64(l.RequestedConcurrency)
	}
	return l.RequestedRate
}

func figures(r, s record.Level, below bool) []Figure {
	lat := func(name, key string, tol float64, knee bool) Figure {
		a, b := r.Latency[key], s.Latency[key]
		return Figure{Name: name, Real: a, Sim: b, Have: !math.IsNaN(a) && !math.IsNaN(b) && a > 0, RelTol: tol, BelowKnee: knee}
	}
	out := []Figure{
		{Name: "throughput req/s", Real: r.RequestThrough, Sim: s.RequestThrough, Have: r.RequestThrough > 0, RelTol: 0.1},
		lat("TTFT p50 ms", "median_ttft_ms", 0.1, true), lat("TTFT p99 ms", "p99_ttft_ms", 0.2, true),
		lat("TPOT p50 ms", "median_tpot_ms", 0.1, true), lat("TPOT p99 ms", "p99_tpot_ms", 0.2, true),
	}
	tel := func(name string, get func(*record.TelemetrySummary) *float64, rel, abs float64) Figure {
		a, b := server(r, get), server(s, get)
		return Figure{Name: name, Real: deref(a), Sim: deref(b), Have: a != nil && b != nil, RelTol: rel, AbsTol: abs}
	}
	queue := tel("queue time ms", func(t *record.TelemetrySummary) *float64 { return t.QueueTimeMeanMs }, 0.1, 0)
	queue.Floor = 1 // well under one step (2.3 ms on the CPU engine)
	out = append(out, queue,
		tel("running", func(t *record.TelemetrySummary) *float64 { return t.RunningMean }, 0.1, 0),
		tel("waiting", func(t *record.TelemetrySummary) *float64 { return t.WaitingMean }, 0, 0.5),
		tel("KV peak %", func(t *record.TelemetrySummary) *float64 { return t.KVCachePeakPct }, 0, 10),
		tel("preemptions", func(t *record.TelemetrySummary) *float64 { return t.Preemptions }, 0.1, 0),
		tel("prefix hit rate", func(t *record.TelemetrySummary) *float64 { return t.PrefixCacheHitRate }, 0, 0.1),
	)
	for i := range out {
		if out[i].BelowKnee && !below {
			out[i].RelTol = math.Inf(1) // past the knee: shown, not held
		}
	}
	return out
}

func server(l record.Level, get func(*record.TelemetrySummary) *float64) *float64 {
	if l.Telemetry == nil || l.Telemetry.Measure == nil {
		return nil
	}
	return get(l.Telemetry.Measure)
}

func deref(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// Write prints the shapes as markdown: a table per shape, each figure
// real → simulated with its difference, a miss in bold.
func Write(w io.Writer, shapes []Shape) (misses int) {
	for _, sh := range shapes {
		fmt.Fprintf(w, "**%s**", sh.Name)
		if sh.RealKnee != "" || sh.SimKnee != "" {
			mark := ""
			if sh.RealKneeX > 0 && math.Abs(sh.SimKneeX-sh.RealKneeX) > 0.1*sh.RealKneeX {
				mark, misses = " (**miss**)", misses+1
			}
			fmt.Fprintf(w, " — knee: real %s, simulated %s%s", or(sh.RealKnee), or(sh.SimKnee), mark)
		}
		fmt.Fprintln(w)
		fmt.Fprintln(w)
		if len(sh.Levels) == 0 {
			continue
		}
		head := []string{"level"}
		for _, f := range sh.Levels[0].Figures {
			head = append(head, f.Name)
		}
		fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat(" --- |", len(head)))
		for _, l := range sh.Levels {
			cells := []string{l.Load}
			for _, f := range l.Figures {
				c := cell(f)
				if !f.Met() {
					c, misses = "**"+c+"**", misses+1
				}
				cells = append(cells, c)
			}
			fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
		}
		fmt.Fprintln(w)
	}
	return misses
}

func or(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func cell(f Figure) string {
	if !f.Have {
		return "–"
	}
	d := ""
	switch {
	case f.AbsTol > 0:
		d = fmt.Sprintf(" (%+.2g)", f.Sim-f.Real)
	case f.Real != 0:
		d = fmt.Sprintf(" (%+.0f %%)", 100*(f.Sim-f.Real)/f.Real)
	}
	return fmt.Sprintf("%.3g → %.3g%s", f.Real, f.Sim, d)
}
