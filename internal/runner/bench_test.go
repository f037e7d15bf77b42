package runner

// Speed and accuracy benchmarks. docs/performance.md gives the commands and
// the figures measured on the 2-core development machine.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/perfgate/perfgate/internal/openai"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/stats"
)

func TestMain(m *testing.M) {
	// The accuracy benchmark runs its server in another process: this test
	// binary, started again with PERFGATE_BENCH_SERVER set.
	if os.Getenv("PERFGATE_BENCH_SERVER") != "" {
		benchServerMain()
		return
	}
	os.Exit(m.Run())
}

// instantServer streams n content chunks as fast as it can, one flush each.
func instantServer(n int) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		for i := range n {
			fmt.Fprintf(w, "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"text\":\" w%d\",\"logprobs\":null,\"finish_reason\":null}]}\n\n", i)
			fl.Flush()
		}
		fmt.Fprintf(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":16,\"completion_tokens\":%d}}\n\ndata: [DONE]\n\n", n)
	}))
}

type countSink struct{ chunks, n atomic.Int64 }

func (c *countSink) Write(r *record.Record) error {
	c.chunks.Add(int64(len(r.ChunkUS)))
	c.n.Add(1)
	return nil
}

const benchChunks = 64

// BenchmarkEndToEnd compares the runner with a bare net/http + bufio client
// (the ceiling) against the same in-process server that streams instantly.
// ns/op is per request; chunks/s is content chunks read per second.
func BenchmarkEndToEnd(b *testing.B) {
	srv := instantServer(benchChunks)
	defer srv.Close()
	const conc = 32
	b.Run("runner", func(b *testing.B) {
		s := load(b, fmt.Sprintf(`
name: bench
workload: {prompt: token_ids, classes: [{input_tokens: 16, output_tokens: %d}]}
load: {concurrency: %d}
phases: {measure: {requests: %d}}
`, benchChunks, conc, b.N))
		c := openai.New(openai.Options{BaseURL: srv.URL, MaxConns: conc})
		defer c.Close()
		sink := &countSink{}
		b.ResetTimer()
		start := time.Now()
		if _, err := Run(context.Background(), Config{Scenario: s, Client: c, Model: "m", Sink: sink}); err != nil {
			b.Fatal(err)
		}
		el := time.Since(start).Seconds()
		b.ReportMetric(float64(sink.n.Load())/el, "req/s")
		b.ReportMetric(float64(sink.chunks.Load())/el, "chunks/s")
	})
	b.Run("bare", func(b *testing.B) {
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc}}
		defer hc.CloseIdleConnections()
		var next, chunks atomic.Int64
		body := []byte(`{"model":"m","prompt":[1,2,3],"max_tokens":64,"stream":true}`)
		b.ResetTimer()
		start := time.Now()
		var wg sync.WaitGroup
		for range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(b.N) {
					resp, err := hc.Post(srv.URL+"/v1/completions", "application/json", bytes.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					br := bufio.NewReader(resp.Body)
					for {
						line, err := br.ReadSlice('\n')
						if bytes.HasPrefix(line, []byte("data: {\"id\"")) {
							chunks.Add(1)
						}
						if err != nil {
							break
						}
					}
					resp.Body.Close()
				}
			}()
		}
		wg.Wait()
		el := time.Since(start).Seconds()
		b.ReportMetric(float64(b.N)/el, "req/s")
		b.ReportMetric(float64(chunks.Load())/el, "chunks/s")
	})
}

// BenchmarkOpenLoop1000 runs an open loop at 1,000 requests/s of 64-token
// responses (first token after 5 ms, then one a millisecond) against a server
// in another process for 5 s, and reports the p99 and max schedule delay (how
// late perfgate sent). Run it with -benchtime=1x.
func BenchmarkOpenLoop1000(b *testing.B) {
	url := startBenchServer(b, 5*time.Millisecond, time.Millisecond)
	for range b.N {
		s := load(b, `
name: bench
workload: {prompt: token_ids, classes: [{input_tokens: 32, output_tokens: 64}]}
load: {rate: 1000, arrival: poisson}
phases: {warmup: {duration: 1s}, measure: {duration: 5s}}
`)
		c := openai.New(openai.Options{BaseURL: url, MaxConns: 256})
		sink := &delaySink{}
		if _, err := Run(context.Background(), Config{Scenario: s, Client: c, Model: "m", Sink: sink}); err != nil {
			b.Fatal(err)
		}
		c.Close()
		d := stats.Describe(sink.delays, []float64{99})
		b.ReportMetric(d.Pct[99], "p99-sched-delay-ms")
		b.ReportMetric(d.Max, "max-sched-delay-ms")
		b.ReportMetric(float64(sink.failed), "failed")
		b.ReportMetric(float64(len(sink.delays)), "measured")
	}
}

type delaySink struct {
	mu     sync.Mutex
	delays []float64
	failed int
}

func (d *delaySink) Write(r *record.Record) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if r.Phase == record.PhaseMeasure {
		d.delays = append(d.delays, float64(r.ScheduleDelayUS())/1000)
		if !r.OK() {
			d.failed++
		}
	}
	return nil
}

// startBenchServer starts benchServerMain in another process and returns its URL.
func startBenchServer(b *testing.B, first, gap time.Duration) string {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "PERFGATE_BENCH_SERVER=1", "PERFGATE_BENCH_FIRST="+first.String(), "PERFGATE_BENCH_GAP="+gap.String())
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	return strings.TrimSpace(line)
}

// BenchmarkAccuracyUnderLoad keeps 512 streams in flight against a server in
// another process that sends the first token 40 ms after a request arrives
// and then one chunk every 8 ms, and logs its own send times. It reports the
// median TTFT and ITL perfgate measured beside the server's own. Run it with
// -benchtime=1x.
func BenchmarkAccuracyUnderLoad(b *testing.B) {
	url := startBenchServer(b, 40*time.Millisecond, 8*time.Millisecond)
	for range b.N {
		s := load(b, `
name: accuracy
workload: {prompt: token_ids, classes: [{input_tokens: 32, output_tokens: 64}]}
load: {concurrency: 512}
phases: {warmup: {duration: 2s}, measure: {duration: 6s}}
request_timeout: 60s
`)
		c := openai.New(openai.Options{BaseURL: url, MaxConns: 512})
		sink := &latSink{}
		if _, err := Run(context.Background(), Config{Scenario: s, Client: c, Model: "m", Sink: sink}); err != nil {
			b.Fatal(err)
		}
		c.Close()
		resp, err := http.Get(url + "/stats")
		if err != nil {
			b.Fatal(err)
		}
		var srv struct{ MedianTTFTMs, MedianGapMs float64 }
		json.NewDecoder(resp.Body).Decode(&srv)
		resp.Body.Close()
		ttft := stats.Describe(sink.ttft, nil)
		itl := stats.Describe(sink.itl, nil)
		b.ReportMetric(ttft.Pct[50], "perfgate-median-ttft-ms")
		b.ReportMetric(srv.MedianTTFTMs, "server-median-ttft-ms")
		b.ReportMetric(itl.Pct[50], "perfgate-median-itl-ms")
		b.ReportMetric(srv.MedianGapMs, "server-median-gap-ms")
		b.ReportMetric(float64(len(sink.ttft)), "requests")
		b.ReportMetric(float64(sink.failed), "failed")
	}
}

type latSink struct {
	mu        sync.Mutex
	ttft, itl []float64
	failed    int
}

func (l *latSink) Write(r *record.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r.Phase != record.PhaseMeasure {
		return nil
	}
	if !r.OK() {
		l.failed++
		return nil
	}
	l.ttft = append(l.ttft, float64(r.TTFTUS())/1000)
	for i := 1; i < len(r.ChunkUS); i++ {
		l.itl = append(l.itl, float64(r.ChunkUS[i]-r.ChunkUS[i-1])/1000)
	}
	return nil
}

// benchServerMain is the accuracy benchmark's server: first chunk 40 ms after
// a request arrives, then one every 8 ms, each send time logged. GET /stats
// answers the medians of its own TTFT and gaps (measurement phase only is
// not known to it, so it reports over everything after its first 2 s).
func benchServerMain() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	var mu sync.Mutex
	var ttfts, gaps []float64
	t0 := time.Now()
	first, gap := 40*time.Millisecond, 8*time.Millisecond
	if v, err := time.ParseDuration(os.Getenv("PERFGATE_BENCH_FIRST")); err == nil {
		first = v
	}
	if v, err := time.ParseDuration(os.Getenv("PERFGATE_BENCH_GAP")); err == nil {
		gap = v
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/completions", func(w http.ResponseWriter, r *http.Request) {
		arrived := time.Now()
		var req struct {
			MaxTokens int `json:"max_tokens"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		var sent []time.Time
		tm := time.NewTimer(time.Hour)
		for i := range req.MaxTokens {
			tm.Reset(time.Until(arrived.Add(first + time.Duration(i)*gap)))
			<-tm.C
			w.Write([]byte("data: {\"choices\":[{\"index\":0,\"text\":\" w" + strconv.Itoa(i) + "\"}]}\n\n"))
			fl.Flush()
			sent = append(sent, time.Now())
		}
		fmt.Fprintf(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":32,\"completion_tokens\":%d}}\n\ndata: [DONE]\n\n", req.MaxTokens)
		if arrived.Sub(t0) > 2*time.Second && len(sent) > 0 {
			mu.Lock()
			ttfts = append(ttfts, float64(sent[0].Sub(arrived).Microseconds())/1000)
			for i := 1; i < len(sent); i++ {
				gaps = append(gaps, float64(sent[i].Sub(sent[i-1]).Microseconds())/1000)
			}
			mu.Unlock()
		}
	})
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		t, g := slices.Clone(ttfts), slices.Clone(gaps)
		json.NewEncoder(w).Encode(map[string]float64{
			"MedianTTFTMs": stats.Describe(t, nil).Pct[50],
			"MedianGapMs":  stats.Describe(g, nil).Pct[50],
		})
	})
	fmt.Println("http://" + ln.Addr().String())
	http.Serve(ln, mux)
}
