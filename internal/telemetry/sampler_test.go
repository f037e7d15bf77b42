package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/timingtest"
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
	var notices []string
	var el time.Duration
	// A stall of the whole machine stops the good probe's schedule too (and
	// turns its late ticks into gaps): only a calm run can show the claim.
	timingtest.Calm(t, 40*time.Millisecond, func() {
		buf.Reset()
		notices = nil
		good, stuck, broken := &fakeProbe{name: "good"}, &fakeProbe{name: "stuck", hang: true}, &fakeProbe{name: "broken", fails: true}
		s := &Sampler{Probes: []Probe{good, stuck, broken}, Interval: 20 * time.Millisecond, Clock: record.NewClock(), Out: &buf,
			Timeout: time.Hour, Notice: func(p string, err error) { notices = append(notices, p) }}
		ctx, cancel := context.WithTimeout(context.Background(), 210*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := s.Run(ctx); err != nil {
			t.Fatal(err)
		}
		el = time.Since(start)
	})
	if el > time.Second { // the stuck probe hangs for an hour
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

// When the whole process stalls (here: stopped for 300 ms by a child), the
// sampler skips the ticks it slept through instead of writing a burst of
// gaps that would blame a probe that was never busy.
func TestSamplerSkipsTicksMissedInAStall(t *testing.T) {
	var buf bytes.Buffer
	s := &Sampler{Probes: []Probe{&fakeProbe{name: "p"}}, Interval: 10 * time.Millisecond, Clock: record.NewClock(), Out: &buf}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	time.Sleep(50 * time.Millisecond) // a few ticks before the stall
	timingtest.Stall(t, 300*time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var samples, gaps int
	var longest int64
	var last int64
	for _, smp := range decode(t, buf.Bytes()) {
		samples++
		if smp.Gap {
			gaps++
		}
		if last > 0 {
			longest = max(longest, smp.T-last)
		}
		last = smp.T
	}
	if longest < 250_000 {
		t.Skipf("no stall in the samples (longest step %d µs): something resumed the process early", longest)
	}
	// A tick's read can still be pending when the next tick comes right
	// after the stall: one gap at most.
	if gaps > 1 {
		t.Errorf("%d gaps of %d samples after a 300 ms stall at 10 ms: the missed ticks were written as gaps", gaps, samples)
	}
}
