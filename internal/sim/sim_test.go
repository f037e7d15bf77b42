package sim_test

// End-to-end checks of the simulator over HTTP, with perfgate's own client.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/perfgate/perfgate/internal/openai"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/sim"
	"github.com/perfgate/perfgate/internal/stats"
	"github.com/perfgate/perfgate/internal/timingtest"
)

func start(t *testing.T, mod func(*sim.Config)) *sim.Running {
	t.Helper()
	cfg := sim.DefaultConfig()
	cfg.Model = "m"
	if mod != nil {
		mod(&cfg)
	}
	r, err := sim.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func post(t *testing.T, url, path, body string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(url+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func events(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

var rng = rand.New(rand.NewPCG(4, 4))

func idsJSON(n int) string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprint(1000 + rng.IntN(30000))
	}
	return "[" + strings.Join(ids, ",") + "]"
}

// stream sends one streaming completion with perfgate's client.
func stream(t *testing.T, c *openai.Client, body string) *record.Record {
	t.Helper()
	rec := &record.Record{}
	c.Stream(context.Background(), "/v1/completions", []byte(body), 30*time.Second, rec)
	return rec
}

func TestCompletionsStreamShape(t *testing.T) {
	r := start(t, func(c *sim.Config) { c.TimeScale = 20 })
	resp, b := post(t, r.URL, "/v1/completions", `{"model":"m","prompt":"the of and to","max_tokens":3,"stream":true,"stream_options":{"include_usage":true}}`)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	ev := events(b)
	if len(ev) != 5 || ev[4] != "[DONE]" {
		t.Fatalf("events: %q", ev)
	}
	for _, e := range ev[:4] {
		if !json.Valid([]byte(e)) {
			t.Errorf("not JSON: %s", e)
		}
	}
	// 4 words and the BOS token vLLM adds for Llama models.
	if !strings.Contains(ev[3], `"prompt_tokens":5,`) || !strings.Contains(ev[3], `"completion_tokens":3`) {
		t.Errorf("usage %s", ev[3])
	}
	if !strings.Contains(ev[2], `"finish_reason":"length"`) {
		t.Errorf("last token chunk: %s", ev[2])
	}
}

func TestChatNonStreamingAndTokenIDs(t *testing.T) {
	r := start(t, func(c *sim.Config) { c.TimeScale = 20 })
	_, b := post(t, r.URL, "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi there"}],"max_tokens":2,"stream":true}`)
	ev := events(b)
	if len(ev) != 4 || !strings.Contains(ev[0], `"role":"assistant"`) || !strings.Contains(ev[1], `"content":" `) {
		t.Fatalf("chat events: %q", ev)
	}
	_, b = post(t, r.URL, "/v1/completions", `{"model":"m","prompt":[5,6,7,8,9],"max_tokens":2}`)
	if !strings.Contains(string(b), `"prompt_tokens":5`) || !strings.Contains(string(b), `"completion_tokens":2`) {
		t.Errorf("non-streaming token-id completion: %s", b)
	}
	_, b = post(t, r.URL, "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":3}`)
	if !strings.Contains(string(b), `"completion_tokens":3`) || !strings.Contains(string(b), `"chat.completion"`) {
		t.Errorf("non-streaming chat: %s", b)
	}
}

func TestBadRequests(t *testing.T) {
	r := start(t, func(c *sim.Config) { c.MaxModelLen = 100 })
	for _, c := range []struct {
		body string
		code int
		msg  string
	}{
		{`{"model":"other","prompt":"x"}`, 404, "does not exist"},
		{`{"model":"m","prompt":{}}`, 400, "prompt must be"},
		{`{"model":"m","prompt":"x","max_tokens":0}`, 400, "max_tokens"},
		{`not json`, 400, "not valid JSON"},
		{`{"model":"m","prompt":` + idsJSON(90) + `,"max_tokens":20}`, 400, "maximum context length is 100 tokens"},
	} {
		resp, b := post(t, r.URL, "/v1/completions", c.body)
		if resp.StatusCode != c.code || !strings.Contains(string(b), c.msg) {
			t.Errorf("%.40s: %d %s", c.body, resp.StatusCode, b)
		}
	}
}

func TestTokenizerRoundTripAndInfo(t *testing.T) {
	r := start(t, nil)
	_, b := post(t, r.URL, "/tokenize", `{"model":"m","prompt":"the house tok777 zzz","add_special_tokens":false}`)
	var tok struct {
		Count  int   `json:"count"`
		Tokens []int `json:"tokens"`
	}
	json.Unmarshal(b, &tok)
	if tok.Count != 4 || tok.Tokens[2] != 777 {
		t.Fatalf("tokenize: %s", b)
	}
	_, b = post(t, r.URL, "/detokenize", fmt.Sprintf(`{"model":"m","tokens":[%d,%d,%d]}`, tok.Tokens[0], tok.Tokens[1], tok.Tokens[2]))
	if !strings.Contains(string(b), `"prompt":"the house tok777"`) {
		t.Errorf("detokenize: %s", b)
	}
	for _, p := range []string{"/health", "/version", "/v1/models", "/metrics"} {
		resp, err := http.Get(r.URL + p)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("%s: %v %v", p, resp, err)
		}
		resp.Body.Close()
	}
	// As vLLM: the development route is not there unless asked for.
	if resp, _ := post(t, r.URL, "/reset_prefix_cache", ``); resp.StatusCode != 404 {
		t.Errorf("reset_prefix_cache without dev mode: %d", resp.StatusCode)
	}
	dev := start(t, func(c *sim.Config) { c.DevMode = true })
	if resp, _ := post(t, dev.URL, "/reset_prefix_cache", ``); resp.StatusCode != 200 {
		t.Errorf("reset_prefix_cache on an idle engine in dev mode: %d", resp.StatusCode)
	}
}

// At low load, perfgate's measured TTFT and TPOT match the profile's
// analytic prefill and decode times within 5 %, in real time.
func TestMeasuredLowLoadMatchesProfile(t *testing.T) {
	r := start(t, nil)
	c := openai.New(openai.Options{BaseURL: r.URL})
	defer c.Close()
	const in, out = 2048, 32
	var ttft, tpot []float64
	mon := timingtest.Start() // the measured wake-up jitter widens the bounds on a loaded machine
	for range 4 {
		rec := stream(t, c, `{"model":"m","prompt":`+idsJSON(in)+`,"max_tokens":32,"stream":true,"stream_options":{"include_usage":true}}`)
		if !rec.OK() || rec.OutputTokens != out {
			t.Fatalf("%+v", rec)
		}
		ttft = append(ttft, float64(rec.TTFTUS())/1e6)
		tpot = append(tpot, float64(rec.E2ELUS()-rec.TTFTUS())/1e6/(out-1))
	}
	jitter := mon.Stop()
	p := r.Sim.Profile()
	check := func(name string, got, want float64) {
		// 5 % of the analytic time, and twice the wake-up jitter measured
		// beside the requests (each interval has two ends that may wake late).
		tol := timingtest.Tolerance(time.Duration(0.05*want*float64(time.Second)), jitter)
		if d := time.Duration(math.Abs(got-want) * float64(time.Second)); d > tol {
			t.Errorf("%s %.2f ms, analytic %.2f ms: off by %v, more than %v (5 %% and the measured jitter %v)", name, got*1000, want*1000, d, tol, jitter)
		}
	}
	check("TTFT", stats.Describe(ttft, nil).Pct[50], p.PrefillTime(in))
	check("TPOT", stats.Describe(tpot, nil).Pct[50], p.DecodeTime(1, in+out/2))
}

// --slowdown-decode 1.05 moves measured TPOT by +5 % ± 1 %.
func TestMeasuredSlowdownDecode(t *testing.T) {
	tpot := func(slow float64) float64 {
		r := start(t, func(c *sim.Config) { c.SlowdownDecode = slow })
		c := openai.New(openai.Options{BaseURL: r.URL})
		defer c.Close()
		var xs []float64
		for range 3 {
			rec := stream(t, c, `{"model":"m","prompt":`+idsJSON(64)+`,"max_tokens":64,"stream":true}`)
			xs = append(xs, float64(rec.E2ELUS()-rec.TTFTUS())/63)
		}
		return stats.Describe(xs, nil).Pct[50]
	}
	var ratio float64
	// A stall of the machine lengthens whichever stream it lands in.
	timingtest.Calm(t, 60*time.Millisecond, func() { ratio = tpot(1.05) / tpot(1) })
	if math.Abs(ratio-1.05) > 0.01 {
		t.Errorf("TPOT ratio %.4f, want 1.05 ± 0.01", ratio)
	}
}

func scrape(t *testing.T, url string) map[string]*dto {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	out := map[string]*dto{}
	for name, f := range fams {
		d := &dto{typ: f.GetType().String()}
		for _, m := range f.GetMetric() {
			labelled := false
			for _, l := range m.GetLabel() {
				if l.GetName() == "model_name" && l.GetValue() == "m" {
					labelled = true
				}
			}
			if !labelled {
				t.Errorf("%s lacks model_name=\"m\"", name)
			}
			switch {
			case m.Counter != nil:
				d.value += m.GetCounter().GetValue()
			case m.Gauge != nil:
				d.value += m.GetGauge().GetValue()
			case m.Histogram != nil:
				d.value += float64(m.GetHistogram().GetSampleCount())
				d.sum += m.GetHistogram().GetSampleSum()
			}
		}
		out[name] = d
	}
	return out
}

type dto struct {
	typ        string
	value, sum float64
}

func TestMetricsUnderLoad(t *testing.T) {
	r := start(t, func(c *sim.Config) { c.TimeScale = 50; c.NumGPUBlocksOverride = 64; c.MaxNumSeqs = 16 })
	c := openai.New(openai.Options{BaseURL: r.URL, MaxConns: 16})
	defer c.Close()
	var wg sync.WaitGroup
	var prev map[string]*dto
	stop := make(chan struct{})
	scrapes := make(chan map[string]*dto, 100)
	go func() {
		defer close(scrapes)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				scrapes <- scrape(t, r.URL)
			}
		}
	}()
	for range 12 {
		body := `{"model":"m","prompt":` + idsJSON(200) + `,"max_tokens":100,"stream":true}`
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := stream(t, c, body)
			if !rec.OK() {
				t.Errorf("%+v", rec)
			}
		}()
	}
	wg.Wait()
	close(stop)
	for s := range scrapes {
		if prev != nil {
			for name, d := range s {
				if d.typ == "COUNTER" && d.value < prev[name].value {
					t.Errorf("counter %s went down: %v → %v", name, prev[name].value, d.value)
				}
			}
		}
		prev = s
	}
	last := scrape(t, r.URL)
	want := map[string]string{
		"vllm:num_requests_running": "GAUGE", "vllm:num_requests_waiting": "GAUGE", "vllm:kv_cache_usage_perc": "GAUGE",
		"vllm:num_preemptions_total": "COUNTER", "vllm:prefix_cache_queries_total": "COUNTER", "vllm:prefix_cache_hits_total": "COUNTER",
		"vllm:prompt_tokens_total": "COUNTER", "vllm:generation_tokens_total": "COUNTER", "vllm:request_success_total": "COUNTER",
		"vllm:time_to_first_token_seconds": "HISTOGRAM", "vllm:inter_token_latency_seconds": "HISTOGRAM",
		"vllm:e2e_request_latency_seconds": "HISTOGRAM", "vllm:request_queue_time_seconds": "HISTOGRAM",
		"vllm:request_prefill_time_seconds": "HISTOGRAM", "vllm:request_decode_time_seconds": "HISTOGRAM",
	}
	for name, typ := range want {
		if d, ok := last[name]; !ok || d.typ != typ {
			t.Errorf("%s: want a %s, got %+v", name, typ, d)
		}
	}
	if last["vllm:generation_tokens_total"].value != 1200 || last["vllm:request_success_total"].value != 12 {
		t.Errorf("tokens %v, successes %v", last["vllm:generation_tokens_total"].value, last["vllm:request_success_total"].value)
	}
	if last["vllm:num_preemptions_total"].value == 0 {
		t.Error("KV pressure (64 blocks for 12 × 300 tokens) made no preemption")
	}
	if last["vllm:e2e_request_latency_seconds"].value != 12 || last["vllm:num_requests_running"].value != 0 {
		t.Errorf("e2e count %v, running %v", last["vllm:e2e_request_latency_seconds"].value, last["vllm:num_requests_running"].value)
	}
}

func TestPrefixCachingOverHTTP(t *testing.T) {
	r := start(t, nil)
	c := openai.New(openai.Options{BaseURL: r.URL})
	defer c.Close()
	prefix := idsJSON(4096)
	body := func() string {
		return `{"model":"m","prompt":` + prefix[:len(prefix)-1] + "," + idsJSON(16)[1:] + `,"max_tokens":2,"stream":true}`
	}
	// The engine's own prefill time, not the client's TTFT: on a busy
	// machine under the race detector the client's work on a 4k-token body
	// outweighs the prefill it saves (CI saw 145 ms then 109 ms), while the
	// cut this test is about happens in the engine.
	prefill := func() float64 { return scrape(t, r.URL)["vllm:request_prefill_time_seconds"].sum }
	if rec := stream(t, c, body()); !rec.OK() {
		t.Fatalf("%+v", rec)
	}
	first := prefill()
	if rec := stream(t, c, body()); !rec.OK() {
		t.Fatalf("%+v", rec)
	}
	second := prefill() - first
	if second*3 > first {
		t.Errorf("a shared 4k prefix should cut the prefill: %.4f s then %.4f s", first, second)
	}
	if hits := scrape(t, r.URL)["vllm:prefix_cache_hits_total"].value; hits != 4096 {
		t.Errorf("prefix cache hits %v, want 4096", hits)
	}
}

func TestFaults(t *testing.T) {
	body := `{"model":"m","prompt":"the of","max_tokens":8,"stream":true}`
	t.Run("error rate", func(t *testing.T) {
		r := start(t, func(c *sim.Config) { c.FaultErrorRate = 1; c.TimeScale = 20 })
		rec := stream(t, openai.New(openai.Options{BaseURL: r.URL}), body)
		if rec.Error != record.ErrHTTP5xx {
			t.Errorf("%+v", rec)
		}
	})
	t.Run("stall", func(t *testing.T) {
		r := start(t, func(c *sim.Config) { c.FaultStallAfter = 3; c.TimeScale = 20 })
		rec := &record.Record{}
		openai.New(openai.Options{BaseURL: r.URL}).Stream(context.Background(), "/v1/completions", []byte(body), 300*time.Millisecond, rec)
		if rec.Error != record.ErrTimeout || len(rec.ChunkUS) != 3 {
			t.Errorf("%+v", rec)
		}
	})
	t.Run("disconnect", func(t *testing.T) {
		r := start(t, func(c *sim.Config) { c.FaultDisconnectRate = 1; c.TimeScale = 20 })
		rec := stream(t, openai.New(openai.Options{BaseURL: r.URL}), body)
		if rec.Error != record.ErrStreamBroken || len(rec.ChunkUS) >= 8 {
			t.Errorf("%+v", rec)
		}
	})
	t.Run("crash", func(t *testing.T) {
		r := start(t, func(c *sim.Config) { c.FaultCrashAfter = 2; c.TimeScale = 20 })
		c := openai.New(openai.Options{BaseURL: r.URL})
		for i := range 2 {
			if rec := stream(t, c, body); !rec.OK() {
				t.Fatalf("request %d before the crash: %+v", i, rec)
			}
		}
		rec := stream(t, c, body) // the third kills it
		if rec.OK() {
			t.Fatalf("the request that crashed the engine succeeded")
		}
		time.Sleep(50 * time.Millisecond)
		if rec := stream(t, openai.New(openai.Options{BaseURL: r.URL}), body); rec.Error != record.ErrConnect {
			t.Errorf("after the crash: %+v", rec)
		}
	})
}
