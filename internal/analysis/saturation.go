package analysis

import (
	"math"

	"github.com/perfgate/perfgate/internal/record"
)

// AttainmentTarget is the share of completed requests that must meet every
// SLO for a level to count as meeting the SLOs.
const AttainmentTarget = 0.9

// Saturation is the highest load that still meets the SLOs.
type Saturation struct {
	Found  bool    `json:"found"`
	Reason string  `json:"reason,omitempty"` // why not found
	Load   float64 `json:"load"`             // requests/s or concurrency, interpolated between levels
	Unit   string  `json:"unit"`             // "req/s" or "concurrency"
	Output float64 `json:"output_throughput"`
	// AllMeet is true when even the highest level met the SLOs: the
	// saturation point lies beyond the sweep.
	AllMeet bool `json:"all_levels_meet"`
}

func offered(l record.Level) (float64, string) {
	if l.Mode == "closed" {
		return float64(l.RequestedConcurrency), "concurrency"
	}
	return l.RequestedRate, "req/s"
}

// Attainment is the share of a level's completed requests that met every SLO
// (goodput over throughput); false when the run has no SLOs.
func Attainment(l record.Level) (float64, bool) {
	if l.RequestGoodput == nil || l.RequestThrough <= 0 {
		return 0, false
	}
	return *l.RequestGoodput / l.RequestThrough, true
}

// SaturationPoint finds, over levels sorted by offered load, the highest load
// whose SLO attainment is at least AttainmentTarget, interpolating linearly
// between the last level that meets it and the first that does not.
func SaturationPoint(levels []record.Level) Saturation {
	var s Saturation
	if len(levels) == 0 {
		s.Reason = "no levels"
		return s
	}
	_, s.Unit = offered(levels[0])
	if _, ok := Attainment(levels[0]); !ok {
		s.Reason = "the scenario sets no SLO (slo: ttft_ms, tpot_ms, e2el_ms)"
		return s
	}
	prev := -1
	for i, l := range levels {
		a, _ := Attainment(l)
		if a >= AttainmentTarget {
			prev = i
			continue
		}
		if prev < 0 {
			s.Reason = "even the lowest level misses the SLOs"
			return s
		}
		p := levels[prev]
		pa, _ := Attainment(p)
		f := (pa - AttainmentTarget) / (pa - a)
		x0, _ := offered(p)
		x1, _ := offered(l)
		s.Found = true
		s.Load = x0 + f*(x1-x0)
		s.Output = p.OutputThrough + f*(l.OutputThrough-p.OutputThrough)
		return s
	}
	last := levels[len(levels)-1]
	s.Found, s.AllMeet = true, true
	s.Load, _ = offered(last)
	s.Output = last.OutputThrough
	return s
}

// Knee finds the knee of a rising curve (latency against throughput) with
// the Kneedle method: after scaling both axes to [0, 1], the point farthest
// below the line from the first point to the last. It returns -1 when there
// are fewer than three points or the curve does not bend upwards.
func Knee(x, y []float64) int {
	n := len(x)
	if n < 3 || len(y) != n {
		return -1
	}
	x0, x1 := x[0], x[n-1]
	y0, y1 := math.Inf(1), math.Inf(-1)
	for _, v := range y {
		y0, y1 = min(y0, v), max(y1, v)
	}
	if x1 == x0 || y1 == y0 {
		return -1
	}
	best, bestD := -1, 0.0
	for i := range n {
		xn := (x[i] - x0) / (x1 - x0)
		yn := (y[i] - y0) / (y1 - y0)
		if d := xn - yn; d > bestD+1e-12 {
			best, bestD = i, d
		}
	}
	return best
}
