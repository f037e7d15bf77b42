package record

import (
	"encoding/json"
	"strings"
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

// A level is numbered from 1 in the file; a trace level's speed-up is not
// written as vLLM's requested_rate.
func TestLevelFileNames(t *testing.T) {
	for _, c := range []struct {
		l        Level
		has, not string
	}{
		{Level{Level: 0, Mode: "open", Arrival: "trace", RequestedRate: 2}, `"trace_speedup":2`, `"requested_rate"`},
		{Level{Level: 0, Mode: "open", Arrival: "poisson", RequestedRate: 2}, `"requested_rate":2`, `"trace_speedup"`},
	} {
		b, err := json.Marshal(c.l)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		if !strings.Contains(s, c.has) || strings.Contains(s, c.not) || !strings.Contains(s, `"level":1`) {
			t.Errorf("%s: want %s, not %s, and level 1", s, c.has, c.not)
		}
		var back Level
		if err := json.Unmarshal(b, &back); err != nil || back.RequestedRate != 2 || back.Level != 0 || len(back.Latency) != 0 {
			t.Errorf("round trip of %s: %+v %v", s, back, err)
		}
	}
}
