package analysis

import (
	"math"
	"testing"

	"github.com/perfgate/perfgate/internal/record"
)

func lvl(rate, thru, good, out float64) record.Level {
	return record.Level{Mode: "open", RequestedRate: rate, RequestThrough: thru, RequestGoodput: &good, OutputThrough: out}
}

func TestSaturationPoint(t *testing.T) {
	levels := []record.Level{lvl(2, 2, 2, 200), lvl(4, 4, 3.9, 400), lvl(6, 5.5, 3.3, 550)}
	s := SaturationPoint(levels)
	// attainment 0.975 at 4, 0.6 at 6: 0.9 is at 4 + 2·(0.075/0.375) = 4.4
	if !s.Found || math.Abs(s.Load-4.4) > 1e-9 || math.Abs(s.Output-430) > 1e-9 || s.Unit != "req/s" {
		t.Errorf("%+v", s)
	}
	if s := SaturationPoint(levels[:2]); !s.AllMeet || s.Load != 4 {
		t.Errorf("all meet: %+v", s)
	}
	if s := SaturationPoint([]record.Level{lvl(1, 1, 0.5, 10)}); s.Found || s.Reason == "" {
		t.Errorf("none meet: %+v", s)
	}
	if s := SaturationPoint([]record.Level{{RequestedRate: 1, RequestThrough: 1}}); s.Found || s.Reason == "" {
		t.Errorf("no SLO: %+v", s)
	}
}

func TestKneeOnSyntheticCurves(t *testing.T) {
	// A hockey stick: latency 1/(c − x) as throughput nears capacity c = 10.
	var x, y []float64
	for _, v := range []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 9.5} {
		x = append(x, v)
		y = append(y, 1/(10-v))
	}
	if k := Knee(x, y); k != 7 && k != 8 {
		t.Errorf("hockey stick knee at index %d (x=%v)", k, x[k])
	}
	// A straight line has no knee; a curve bending the other way neither.
	if k := Knee([]float64{1, 2, 3, 4}, []float64{1, 2, 3, 4}); k != -1 {
		t.Errorf("line: %d", k)
	}
	if k := Knee([]float64{1, 2, 3, 4}, []float64{0, 3, 3.5, 3.8}); k != -1 {
		t.Errorf("concave: %d", k)
	}
	if Knee([]float64{1, 2}, []float64{1, 2}) != -1 {
		t.Error("two points")
	}
}
