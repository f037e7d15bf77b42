package sim_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/perfgate/perfgate/internal/openai"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/runner"
	"github.com/perfgate/perfgate/internal/scenario"
	"github.com/perfgate/perfgate/internal/sim"
)

type tokenSink struct {
	mu     sync.Mutex
	tokens atomic.Int64
	failed int
}

func (s *tokenSink) Write(r *record.Record) error {
	s.tokens.Add(int64(len(r.ChunkUS)))
	if !r.OK() && r.Error != record.ErrCanceled {
		s.mu.Lock()
		s.failed++
		s.mu.Unlock()
	}
	return nil
}

// BenchmarkStreams2000 keeps 2,000 streams in flight against the in-process
// simulator (running 200× faster than real time, so only CPU limits it) with
// perfgate's runner, and reports the tokens the simulator emitted per second
// of wall time. Run it with -benchtime=1x.
func BenchmarkStreams2000(b *testing.B) {
	cfg := sim.DefaultConfig()
	cfg.Model, cfg.MaxNumSeqs, cfg.TimeScale = "m", 2048, 200
	r, err := sim.Start(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	for range b.N {
		s, err := scenario.Parse("bench.yaml", []byte(`
name: streams
workload: {prompt: token_ids, classes: [{input_tokens: 64, output_tokens: 128}]}
load: {concurrency: 2000}
phases: {warmup: {duration: 2s}, measure: {duration: 6s}, on_end: cancel}
`))
		if err != nil {
			b.Fatal(err)
		}
		c := openai.New(openai.Options{BaseURL: r.URL, MaxConns: 2000})
		sink := &tokenSink{}
		start := time.Now()
		if _, err := runner.Run(context.Background(), runner.Config{Scenario: s, Client: c, Model: "m", Sink: sink}); err != nil {
			b.Fatal(err)
		}
		el := time.Since(start).Seconds()
		c.Close()
		b.ReportMetric(float64(sink.tokens.Load())/el, "tokens/s")
		b.ReportMetric(float64(sink.failed), "failed")
	}
}
