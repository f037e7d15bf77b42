package analysis

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/perfgate/perfgate/internal/record"
)

func near(t *testing.T, name string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-9 {
		t.Errorf("%s = %v, want %v", name, got, want)
	}
}

// vLLM's peak keys, hand-computed: three completed requests, A [0, 1.2 s),
// B [0.3, 1.5), C [1.2, 1.4) — C starts as A ends, so at most two overlap —
// and a failed one that spans them all (vLLM counts completed requests only).
// Chunks per second from the first send: 0.1 0.4 0.5 0.9 in the first,
// 1.1 1.2 1.3 1.4 1.5 in the second. The duration runs to the last end of
// any request, the failed one's at 2 s.
func TestVLLMPeaksAndDuration(t *testing.T) {
	recs := []record.Record{
		{Phase: "measure", SentUS: 0, EndUS: 1_200_000, ChunkUS: []int64{100_000, 500_000, 1_200_000}, OutputTokens: 3},
		{Phase: "measure", SentUS: 300_000, EndUS: 1_500_000, ChunkUS: []int64{100_000, 600_000, 800_000, 1_200_000}, OutputTokens: 4},
		{Phase: "measure", SentUS: 1_200_000, EndUS: 1_400_000, ChunkUS: []int64{100_000, 200_000}, OutputTokens: 2},
		{Phase: "measure", SentUS: 200_000, EndUS: 2_000_000, Error: record.ErrTimeout},
	}
	a := newAccumulator(Options{Percentiles: []float64{50}})
	for i := range recs {
		a.Add(&recs[i])
	}
	l := a.Level(Window{0, 1_000_000})
	if l.MaxConcurrent != 2 || l.MaxOutputPerS != 5 || l.Failed != 1 || l.Errors != 1 {
		t.Errorf("max concurrent %d (want 2), max output/s %v (want 5), failed %d, errors %d", l.MaxConcurrent, l.MaxOutputPerS, l.Failed, l.Errors)
	}
	near(t, "duration", l.Duration, 2)
	for _, k := range []string{"p99_ttft_ms", "p99_tpot_ms", "p99_itl_ms", "p99_e2el_ms", "p50_ttft_ms"} {
		if _, ok := l.Latency[k]; !ok {
			t.Errorf("no %s: the p99 keys are always there, the asked-for percentiles too", k)
		}
	}
}

// Hand-computed: see the comments beside each record.
func TestLevelFormulas(t *testing.T) {
	recs := []record.Record{
		// ttft 100, e2el 250, tpot (250-100)/(3-1) = 75, itl gaps 50 and 100
		{Phase: "measure", ScheduledUS: 9_900_000, SentUS: 9_900_000, EndUS: 10_150_000, ChunkUS: []int64{100_000, 150_000, 250_000}, PromptTokens: 10, OutputTokens: 3},
		// one output token: ttft 200 = e2el 200, no tpot, no itl; sent 2 ms late
		{Phase: "measure", ScheduledUS: 1_000_000, SentUS: 1_002_000, EndUS: 1_202_000, ChunkUS: []int64{200_000}, PromptTokens: 5, OutputTokens: 1},
		{Phase: "measure", ScheduledUS: 2_000_000, SentUS: 2_000_000, EndUS: 2_001_000, Error: record.ErrHTTP5xx},
		{Phase: "measure", ScheduledUS: 3_000_000, SentUS: 3_000_000, EndUS: 3_500_000, Error: record.ErrCanceled},
		{Phase: "warmup", ScheduledUS: 0, SentUS: 0, EndUS: 90_000_000, ChunkUS: []int64{1}, OutputTokens: 99},
	}
	a := newAccumulator(Options{Percentiles: []float64{99}, SLO: record.SLO{TTFTMs: 150}})
	for i := range recs {
		a.Add(&recs[i])
	}
	l := a.Level(Window{0, 10_000_000})
	if l.NumRequests != 4 || l.Completed != 2 || l.Errors != 1 || l.Canceled != 1 || l.ErrorsByClass["http_5xx"] != 1 || l.Failed != 2 {
		t.Fatalf("counts: %+v", l)
	}
	near(t, "duration", l.Duration, 10.15-1.002) // from the first send to the last measured completion
	near(t, "request_throughput", l.RequestThrough, 2/9.148)
	near(t, "output_throughput", l.OutputThrough, 4/9.148)
	near(t, "total_token_throughput", l.TotalThrough, 19/9.148)
	near(t, "goodput", *l.RequestGoodput, 1/9.148) // only the first meets ttft ≤ 150
	near(t, "error_rate", l.ErrorRate, 0.25)
	near(t, "achieved_rate", l.AchievedRate, 0.4)
	want := map[string]float64{
		"mean_ttft_ms": 150, "median_ttft_ms": 150, "std_ttft_ms": 50, "p99_ttft_ms": 199,
		"mean_tpot_ms": 75, "median_tpot_ms": 75, "std_tpot_ms": 0, "p99_tpot_ms": 75,
		"mean_itl_ms": 75, "median_itl_ms": 75, "p99_itl_ms": 99.5,
		"mean_e2el_ms": 225, "median_e2el_ms": 225, "p99_e2el_ms": 249.5,
	}
	for k, v := range want {
		near(t, k, l.Latency[k], v)
	}
	near(t, "max schedule delay", l.MaxSchedDelay, 2)
	near(t, "mean schedule delay", l.MeanSchedDelay, 0.5)
	if l.MaxConcurrent != 1 {
		t.Errorf("max concurrent %d", l.MaxConcurrent)
	}
	// The summary keeps vLLM's key names, and survives a round trip.
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	for _, k := range []string{"completed", "total_input_tokens", "total_output_tokens", "request_throughput", "request_goodput",
		"output_throughput", "total_token_throughput", "mean_ttft_ms", "median_ttft_ms", "std_ttft_ms", "p99_ttft_ms",
		"mean_tpot_ms", "p99_itl_ms", "median_e2el_ms", "p99_schedule_delay_ms", "max_schedule_delay_ms", "achieved_rate"} {
		if _, ok := m[k]; !ok {
			t.Errorf("summary lacks %q", k)
		}
	}
	var back record.Level
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Latency["p99_itl_ms"] != l.Latency["p99_itl_ms"] || back.Completed != 2 {
		t.Errorf("round trip lost data: %+v", back)
	}
}

func TestEmptyLevelHasNullLatencies(t *testing.T) {
	a := newAccumulator(Options{Percentiles: []float64{50}})
	a.Add(&record.Record{Phase: "measure", Error: record.ErrConnect, SentUS: 5, EndUS: 6})
	l := a.Level(Window{0, 1_000_000})
	if !math.IsNaN(l.Latency["mean_ttft_ms"]) || l.RequestGoodput != nil {
		t.Fatalf("got %+v", l)
	}
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	if v, ok := m["mean_ttft_ms"]; !ok || v != nil {
		t.Errorf("mean_ttft_ms should be null, got %v", v)
	}
}

func TestPercentileKey(t *testing.T) {
	for p, want := range map[float64]string{99: "p99", 99.9: "p99.9", 50: "p50", 90: "p90"} {
		if got := PercentileKey(p); got != want {
			t.Errorf("%v → %q", p, got)
		}
	}
}

// A server whose usage undercounts (2 completion tokens for 5 content
// chunks) is counted per level and warned about; output_tokens_from
// chooses the count TPOT and throughput use.
func TestUsageSanity(t *testing.T) {
	short := record.Record{Phase: "measure", SentUS: 0, EndUS: 500_000, ChunkUS: []int64{100_000, 200_000, 300_000, 400_000, 500_000}, PromptTokens: 4, OutputTokens: 2}
	missing := record.Record{Phase: "measure", SentUS: 0, EndUS: 300_000, ChunkUS: []int64{100_000, 300_000}, OutputTokens: 2, UsageMissing: true}
	for _, c := range []struct {
		from     string
		out      int
		tpotMean float64
	}{
		{"", 4, (400.0 + 200) / 2},                      // usage: (500-100)/(2-1), (300-100)/(2-1)
		{record.OutputFromChunks, 7, (100.0 + 200) / 2}, // (500-100)/4, (300-100)/1
		{record.OutputFromMax, 7, (100.0 + 200) / 2},
	} {
		a := newAccumulator(Options{Percentiles: []float64{99}, OutputFrom: c.from})
		for _, r := range []record.Record{short, missing} {
			a.Add(&r)
		}
		l := a.Level(Window{0, 1_000_000})
		if l.UsageShort != 1 || l.UsageMissing != 1 || l.TotalOutput != c.out {
			t.Errorf("%q: usage_short %d, usage_missing %d, output %d", c.from, l.UsageShort, l.UsageMissing, l.TotalOutput)
		}
		near(t, c.from+" mean_tpot_ms", l.Latency["mean_tpot_ms"], c.tpotMean)
		w := l.Warnings
		if len(w) != 2 || !strings.Contains(w[0], "no usage") || !strings.Contains(w[1], "output_tokens_from: chunks") {
			t.Errorf("warnings %q", w)
		}
	}
}

// A level's offered rate is its measured requests over the span of their
// scheduled sends (a trace replayed at its speed-up), whatever the client
// managed to send.
func TestOfferedRateFromTheSchedule(t *testing.T) {
	a := newAccumulator(Options{Percentiles: []float64{50}})
	for i := range 5 {
		// scheduled every 250 ms; sent late, the last ones a second late
		r := record.Record{Phase: "measure", ScheduledUS: int64(i) * 250_000, SentUS: int64(i)*250_000 + int64(i*i)*100_000, Error: record.ErrTimeout}
		r.EndUS = r.SentUS + 1000
		a.Add(&r)
	}
	l := a.Level(Window{0, 3_000_000})
	near(t, "offered rate", l.OfferedRate, 4)
}

// A late client is named: perfgate, or the tool an imported file came from.
func TestLateClientIsNamed(t *testing.T) {
	l := record.Level{P99SchedDelay: 7, MaxSchedDelay: 9}
	if w := clientWarnings(l, ""); len(w) != 1 || !strings.HasPrefix(w[0], "perfgate sent late") {
		t.Errorf("%q", w)
	}
	if w := clientWarnings(l, "aiperf"); len(w) != 1 || !strings.HasPrefix(w[0], "aiperf sent late") {
		t.Errorf("%q", w)
	}
}
