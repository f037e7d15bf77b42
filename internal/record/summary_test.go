package record

import (
	"encoding/json"
	"testing"
)

// Issue 16: a level's own fields that are left out when empty (requested
// rate, start time, arrival) are not latencies after a round trip.
func TestLevelRoundTripKeepsFieldsOutOfLatency(t *testing.T) {
	l := Level{Level: 1, Mode: "open", Arrival: "poisson", RequestedRate: 4, StartUS: 17, MeasureStartUS: 20,
		Latency: map[string]float64{"median_ttft_ms": 12.5, "p99_e2el_ms": 900}}
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	var back Level
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Latency) != 2 || back.Latency["median_ttft_ms"] != 12.5 || back.RequestedRate != 4 || back.StartUS != 17 || back.Arrival != "poisson" {
		t.Errorf("round trip: %+v", back)
	}
}
