// Package telemetry samples what explains a benchmark's numbers — GPU,
// host and the engine's own /metrics — on the same monotonic clock as the
// request records, and writes telemetry.jsonl in the run folder.
//
// A probe that is slow or fails never delays the runner or the other probes:
// each probe runs on its own goroutine, and a tick that finds it still busy
// is recorded as a gap.
package telemetry

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/perfgate/perfgate/internal/record"
)

// File is the name of the telemetry file in a run folder.
const File = "telemetry.jsonl"

// DefaultInterval is how often probes are sampled when the scenario says nothing.
const DefaultInterval = 250 * time.Millisecond

// Probe reads a set of named values. Names are stable across samples
// ("gpu0.util_pct", "vllm:num_requests_running", "host.cpu_pct").
type Probe interface {
	Name() string
	Sample(ctx context.Context) (map[string]float64, error)
}

// Sample is one line of telemetry.jsonl.
type Sample struct {
	T      int64              `json:"t_us"`             // run clock, when the tick was due
	Probe  string             `json:"probe"`            // probe name
	Values map[string]float64 `json:"values,omitempty"` // what it read
	DurUS  int64              `json:"dur_us,omitempty"` // how long the read took
	Err    string             `json:"error,omitempty"`  // the read failed
	Gap    bool               `json:"gap,omitempty"`    // the probe was still busy with an earlier tick
}

// Sampler polls probes on one interval and writes their samples.
type Sampler struct {
	Probes   []Probe
	Interval time.Duration
	Clock    record.Clock
	Out      io.Writer
	// Timeout bounds one read (default: 10 intervals); a read past it is
	// abandoned and recorded as an error.
	Timeout time.Duration
	// Notice is told once per probe when it first fails.
	Notice func(probe string, err error)

	mu     sync.Mutex
	enc    *json.Encoder
	bw     *bufio.Writer
	werr   error
	closed bool
}

// Run samples until ctx ends, then flushes. It returns the first write
// error; probe errors are data.
func (s *Sampler) Run(ctx context.Context) error {
	if s.Interval <= 0 {
		s.Interval = DefaultInterval
	}
	if s.Timeout <= 0 {
		s.Timeout = 10 * s.Interval
	}
	s.bw = bufio.NewWriter(s.Out)
	s.enc = json.NewEncoder(s.bw)
	var wg sync.WaitGroup
	for _, p := range s.Probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.loop(ctx, p)
		}()
	}
	flush := time.NewTicker(time.Second)
	defer flush.Stop()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for {
		select {
		case <-flush.C:
			s.mu.Lock()
			if s.werr == nil {
				s.werr = s.bw.Flush()
			}
			s.mu.Unlock()
		case <-done:
			s.mu.Lock()
			defer s.mu.Unlock()
			s.closed = true // a read still hanging past the end is dropped
			if s.werr == nil {
				s.werr = s.bw.Flush()
			}
			return s.werr
		}
	}
}

func (s *Sampler) write(smp Sample) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.werr != nil || s.closed {
		return
	}
	if err := s.enc.Encode(smp); err != nil {
		s.werr = fmt.Errorf("write telemetry: %w", err)
	}
}

// loop ticks one probe on the shared schedule: tick k is due at k intervals
// after the sampler's first tick, whatever the other probes do.
func (s *Sampler) loop(ctx context.Context, p Probe) {
	busy := make(chan struct{}, 1)
	noticed := false
	start := time.Now()
	for k := 0; ; k++ {
		due := start.Add(time.Duration(k) * s.Interval)
		if d := time.Until(due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
		} else if ctx.Err() != nil {
			return
		} else if late := -d; late >= s.Interval {
			// The sampler itself ran late (the process was stalled, not the
			// probe): the ticks it slept through are skipped, not written
			// as a burst of gaps that would blame the probe.
			k += int(late / s.Interval)
		}
		t := s.Clock.Now()
		select {
		case busy <- struct{}{}:
		default:
			s.write(Sample{T: t, Probe: p.Name(), Gap: true})
			continue
		}
		go func() {
			defer func() { <-busy }()
			rctx, cancel := context.WithTimeout(ctx, s.Timeout)
			defer cancel()
			began := time.Now()
			vals, err := p.Sample(rctx)
			smp := Sample{T: t, Probe: p.Name(), Values: vals, DurUS: time.Since(began).Microseconds()}
			if err != nil {
				if ctx.Err() != nil {
					return // stopping; not the probe's fault
				}
				smp.Err = err.Error()
				if !noticed && s.Notice != nil {
					noticed = true
					s.Notice(p.Name(), err)
				}
			}
			s.write(smp)
		}()
	}
}

// Read streams the samples of a telemetry file to fn. A torn last line is
// skipped; a missing file is no samples.
func Read(path string, fn func(*Sample)) error {
	f, err := record.OpenRegular(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		var smp Sample
		if err := json.Unmarshal(sc.Bytes(), &smp); err != nil {
			if !sc.Scan() { // the last line: torn by a kill
				return nil
			}
			return fmt.Errorf("%s:%d: not a telemetry sample: %v", path, line, err)
		}
		fn(&smp)
	}
	return sc.Err()
}
