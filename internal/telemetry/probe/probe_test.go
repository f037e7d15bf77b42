package probe

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/perfgate/perfgate/internal/sim"
	"github.com/perfgate/perfgate/internal/telemetry"
)

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
	samples := []telemetry.Sample{{T: 0, Values: v}, {T: 10, Values: v2}}
	if s := telemetry.Summarize(samples, telemetry.Window{StartUS: 0, EndUS: 10}, 0); s.Preemptions == nil || *s.Preemptions != 1 {
		t.Error("a counter reset counts from zero: want 1 preemption after the restart")
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
	probes := []telemetry.Probe{&Host{}, &Metrics{URL: r.URL + "/metrics", Prefix: "vllm:"}}
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

// A data-parallel server reports one series per engine. When one engine
// restarts, its counters start again from 0: corrected per series before
// they are summed, the sum goes on rising by what was really counted.
// (Summed first, the drop read as a restart of the whole server and every
// other engine's count was counted again: 29 for the 14 below.)
func TestCountersAreCorrectedPerSeries(t *testing.T) {
	pages := []string{
		"engine0 10\nengine1 10\nlat0 3 5\nlat1 3 5",
		"engine0 15\nengine1 14\nlat0 4 6\nlat1 5 7",
		"engine0 18\nengine1 2\nlat0 6 8\nlat1 1 1", // engine 1 restarted
	}
	page := func(s string) string {
		var b strings.Builder
		b.WriteString("# TYPE vllm:num_preemptions_total counter\n# TYPE vllm:e2e_request_latency_seconds histogram\n")
		for _, l := range strings.Split(s, "\n") {
			f := strings.Fields(l)
			eng := f[0][len(f[0])-1:]
			if strings.HasPrefix(f[0], "engine") {
				fmt.Fprintf(&b, "vllm:num_preemptions_total{engine=%q,model_name=\"m\"} %s\n", eng, f[1])
			} else {
				fmt.Fprintf(&b, "vllm:e2e_request_latency_seconds_bucket{engine=%q,le=\"+Inf\"} %s\nvllm:e2e_request_latency_seconds_sum{engine=%q} %s\nvllm:e2e_request_latency_seconds_count{engine=%q} %s\n", eng, f[1], eng, f[2], eng, f[1])
			}
		}
		return b.String()
	}
	i := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, page(pages[min(i, len(pages)-1)]))
		i++
	}))
	defer srv.Close()
	m := &Metrics{URL: srv.URL, Prefix: "vllm:"}
	var got, counts []float64
	for range pages {
		v, err := m.Sample(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v["vllm:num_preemptions_total"])
		counts = append(counts, v["vllm:e2e_request_latency_seconds_count"])
	}
	// engine 0: 10 → 15 → 18 (+8); engine 1: 10 → 14, restart, 2 (+4 +2)
	if !slices.Equal(got, []float64{20, 29, 34}) {
		t.Errorf("preemptions %v, want 20 29 34 (14 counted)", got)
	}
	if !slices.Equal(counts, []float64{6, 9, 12}) {
		t.Errorf("latency counts %v, want 6 9 12", counts)
	}
}
