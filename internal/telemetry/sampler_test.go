package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/sim"
)

type fakeProbe struct {
	name  string
	n     atomic.Int64
	hang  bool // every read after the first blocks until its context ends
	fails bool
}

func (f *fakeProbe) Name() string { return f.name }

func (f *fakeProbe) Sample(ctx context.Context) (map[string]float64, error) {
	n := f.n.Add(1)
	if f.hang && n > 1 {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if f.fails {
		return nil, errors.New("no such device")
	}
	return map[string]float64{f.name + ".n": float64(n)}, nil
}

func decode(t *testing.T, b []byte) []Sample {
	t.Helper()
	var out []Sample
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var s Sample
		if err := json.Unmarshal(line, &s); err != nil {
			t.Fatalf("bad line %q: %v", line, err)
		}
		out = append(out, s)
	}
	return out
}

// A probe that hangs neither delays the others nor the sampler: its ticks
// become gaps, and the others keep their schedule.
func TestSamplerHangingProbe(t *testing.T) {
	var buf bytes.Buffer
	good, stuck, broken := &fakeProbe{name: "good"}, &fakeProbe{name: "stuck", hang: true}, &fakeProbe{name: "broken", fails: true}
	var notices []string
	s := &Sampler{Probes: []Probe{good, stuck, broken}, Interval: 20 * time.Millisecond, Clock: record.NewClock(), Out: &buf,
		Timeout: time.Hour, Notice: func(p string, err error) { notices = append(notices, p) }}
	ctx, cancel := context.WithTimeout(context.Background(), 210*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > time.Second { // the stuck probe hangs for an hour
		t.Errorf("the sampler took %v to stop", el)
	}
	by := map[string][]Sample{}
	for _, smp := range decode(t, buf.Bytes()) {
		by[smp.Probe] = append(by[smp.Probe], smp)
	}
	if n := len(by["good"]); n < 8 || n > 12 {
		t.Errorf("the good probe sampled %d times in 210 ms at 20 ms", n)
	}
	gaps := 0
	for _, smp := range by["stuck"] {
		if smp.Gap {
			gaps++
		}
	}
	if gaps < 7 {
		t.Errorf("the stuck probe's ticks must be gaps: %d of %d", gaps, len(by["stuck"]))
	}
	for _, smp := range by["broken"] {
		if smp.Err != "no such device" {
			t.Errorf("a failed read is recorded: %+v", smp)
		}
	}
	if len(notices) != 1 || notices[0] != "broken" {
		t.Errorf("one notice for the failing probe, got %v", notices)
	}
	// The stuck probe never holds up the good one: its samples come one per
	// tick, in order, with no stall. (A tick the scheduler delays is followed
	// by a shorter gap, as the ticker keeps its schedule, so short gaps are
	// fine; only the order and the absence of long stalls are asserted.)
	g := by["good"]
	for i := 1; i < len(g); i++ {
		if d := g[i].T - g[i-1].T; d <= 0 || d > 100_000 {
			t.Errorf("tick %d came %d µs after the previous", i, d)
		}
	}
}

func TestSamplerWriteError(t *testing.T) {
	f, _ := os.CreateTemp(t.TempDir(), "t")
	f.Close() // writes to a closed file fail
	s := &Sampler{Probes: []Probe{&fakeProbe{name: "p"}}, Interval: 5 * time.Millisecond, Clock: record.NewClock(), Out: f}
	ctx, cancel := context.WithTimeout(context.Background(), 1200*time.Millisecond)
	defer cancel()
	if err := s.Run(ctx); err == nil {
		t.Error("a write error must be returned")
	}
}

func TestMetricsProbeAgainstSimulator(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.Model, cfg.TimeScale = "m", 20
	r, err := sim.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	resp, err := http.Post(r.URL+"/v1/completions", "application/json", strings.NewReader(`{"model":"m","prompt":"a b c","max_tokens":5}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	m := &Metrics{URL: r.URL + "/metrics", Prefix: "vllm:"}
	v, err := m.Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]float64{
		"vllm:generation_tokens_total": 5, "vllm:request_success_total": 1, "vllm:num_requests_running": 0,
		"vllm:e2e_request_latency_seconds_count": 1, "vllm:prompt_tokens_total": 4,
	} {
		if got, ok := v[k]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, want)
		}
	}
	if v["vllm:e2e_request_latency_seconds_sum"] <= 0 {
		t.Error("histogram sum missing")
	}
	for k := range v {
		if !strings.HasPrefix(k, "vllm:") {
			t.Errorf("%s kept despite the prefix", k)
		}
	}
}

func TestMetricsProbeMalformedAndReset(t *testing.T) {
	page := []string{
		"# TYPE vllm:num_preemptions_total counter\nvllm:num_preemptions_total{model_name=\"m\",engine=\"0\"} 7\nvllm:num_preemptions_total{model_name=\"m\",engine=\"1\"} 3\n" +
			"this line is garbage\n# TYPE custom_thing gauge\ncustom_thing 1.5\nvllm:num_requests_running{model_name=\"m\"} not-a-number\n",
		"# TYPE vllm:num_preemptions_total counter\nvllm:num_preemptions_total{model_name=\"m\"} 1\n", // restarted
	}
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, page[min(n, 1)])
		n++
	}))
	defer srv.Close()
	m := &Metrics{URL: srv.URL}
	v, err := m.Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v["vllm:num_preemptions_total"] != 10 || v["custom_thing"] != 1.5 || v["telemetry.malformed_lines"] != 2 {
		t.Errorf("first page: %v", v)
	}
	if _, ok := v["vllm:num_requests_running"]; ok {
		t.Error("a malformed sample must not give a value")
	}
	v2, _ := m.Sample(context.Background())
	samples := []Sample{{T: 0, Values: v}, {T: 10, Values: v2}}
	if s := Summarize(samples, Window{0, 10}, 0); s.Preemptions == nil || *s.Preemptions != 1 {
		t.Errorf("a counter reset counts from zero: %v", deref(s.Preemptions))
	}
	srv.Close()
	if _, err := m.Sample(context.Background()); err == nil {
		t.Error("a server that is gone is an error")
	}
}

func TestHostProbe(t *testing.T) {
	h := &Host{EnginePID: int32(os.Getpid())}
	if _, err := h.Sample(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	v, err := h.Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"host.cpu_pct", "host.mem_used_bytes", "host.mem_total_bytes", "self.cpu_pct", "self.rss_bytes", "engine.cpu_pct", "engine.rss_bytes"} {
		if _, ok := v[k]; !ok {
			t.Errorf("%s missing: %v", k, v)
		}
	}
	if v["self.rss_bytes"] <= 0 || v["host.mem_total_bytes"] < v["host.mem_used_bytes"] {
		t.Errorf("%v", v)
	}
	if _, err := (&Host{EnginePID: 1 << 30}).Sample(context.Background()); err == nil {
		t.Error("an engine process that does not exist is an error")
	}
}

// BenchmarkProbeCycle is one sampling cycle of the host probe and the
// /metrics probe against the simulator. At a 100 ms interval, the share of
// one core is ns/op ÷ 100 ms.
func BenchmarkProbeCycle(b *testing.B) {
	cfg := sim.DefaultConfig()
	cfg.Model = "m"
	r, err := sim.Start(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	probes := []Probe{&Host{}, &Metrics{URL: r.URL + "/metrics", Prefix: "vllm:"}}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, p := range probes {
			if _, err := p.Sample(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100e6*100, "%core@100ms")
}
