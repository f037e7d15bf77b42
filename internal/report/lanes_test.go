package report

import (
	"slices"
	"testing"

	"github.com/perfgate/perfgate/internal/telemetry"
)

// A custom probe with six values, of which two move: its lane shows those
// two first (then two of the steady ones), not the alphabetically first four.
func TestCustomLanesShowWhatMoves(t *testing.T) {
	r := &Run{}
	for i := range 20 {
		r.samples = append(r.samples, telemetry.Sample{T: int64(i) * 250_000, Probe: "dcgm", Values: map[string]float64{
			"DCGM_A_CLOCK": 1980, "DCGM_B_ECC": 0, "DCGM_C_MEM_TEMP": 40, "DCGM_D_PCIE": 5,
			"DCGM_Y_POWER": 300 + 10*float64(i%5), "DCGM_Z_UTIL": float64(20 * (i % 5)), "telemetry.blank_values": 3,
		}})
	}
	lanes := customLanes(r)
	if len(lanes) != 1 || len(lanes[0].Series) != 4 {
		t.Fatalf("%d lanes", len(lanes))
	}
	var labels []string
	for _, s := range lanes[0].Series {
		labels = append(labels, s.Label)
	}
	if !slices.Equal(labels[:2], []string{"DCGM_Z_UTIL", "DCGM_Y_POWER"}) || slices.Contains(labels, "telemetry.blank_values") {
		t.Errorf("lane series %v", labels)
	}
}
