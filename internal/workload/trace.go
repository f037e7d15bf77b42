package workload

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/perfgate/perfgate/internal/scenario"
)

// A trace is streamed, not held: LoadInputs reads it once to count what is
// kept and skipped and to check that its rows are in time order; each level
// then reads it again as it replays it (the arrival schedule and the
// requests, one stream each), so what a run holds does not grow with the
// trace (a 10-million-row trace held 4.9 GB). A trace whose rows are out of
// time order is sorted, which needs it whole in memory.

// traceSource is a trace to stream: its window, its rebasing, what is
// skipped.
type traceSource struct {
	path, format      string
	maxLen            int     // skip rows longer than this (0: no limit)
	startMS, lengthMS float64 // the window (lengthMS 0: to the end)
	baseMS            float64 // the first row in the window, made time 0
	n                 int     // rows in the window
}

func (t *traceSource) fits(e Entry) bool {
	return t.maxLen <= 0 || e.InputTokens+e.OutputTokens <= t.maxLen
}

func (t *traceSource) inWindow(e Entry) bool {
	return e.OffsetMS >= t.startMS && (t.lengthMS <= 0 || e.OffsetMS < t.startMS+t.lengthMS)
}

// loadTrace reads the trace once. A trace in time order comes back as its
// metadata and a source to stream; one out of order whole, sorted.
func loadTrace(t scenario.Trace, maxLen int) (*File, *traceSource, error) {
	src := &traceSource{path: t.Path, format: t.Format, maxLen: maxLen,
		startMS: float64(t.Start.D().Microseconds()) / 1000, lengthMS: float64(t.Length.D().Microseconds()) / 1000}
	ordered, last, kept := true, math.Inf(-1), 0
	tooLong := Skip{Reason: fmt.Sprintf("longer than the model's context (%d tokens)", maxLen)}
	f, err := readFile(t.Path, t.Format, func(e Entry) bool {
		if !src.fits(e) {
			if tooLong.Count++; len(tooLong.Lines) < 10 {
				tooLong.Lines = append(tooLong.Lines, e.Line)
			}
			return true
		}
		kept++
		if e.OffsetMS < last {
			ordered = false
		}
		last = math.Max(last, e.OffsetMS)
		if src.inWindow(e) {
			if src.n == 0 {
				src.baseMS = e.OffsetMS
			}
			src.n++
		}
		return true
	})
	if err != nil {
		return nil, nil, err
	}
	if tooLong.Count > 0 {
		f.Skips = append(f.Skips, tooLong) // counted in Total already
	}
	if kept == 0 {
		return nil, nil, fmt.Errorf("%s: no usable entry (%s)", t.Path, strings.Join(f.Notices(), "; "))
	}
	if ordered {
		return f, src, nil
	}
	// Out of order: read whole, sorted (the reader's notice says so).
	f, err = ReadFile(t.Path, t.Format)
	if err != nil {
		return nil, nil, err
	}
	if maxLen > 0 {
		kept := f.Entries[:0]
		for _, e := range f.Entries {
			if !src.fits(e) {
				f.Total--
				f.skip(e.Line, fmt.Sprintf("longer than the model's context (%d tokens)", maxLen))
				continue
			}
			kept = append(kept, e)
		}
		f.Entries = kept
	}
	f.Window(t.Start.D(), t.Length.D())
	return f, nil, nil
}

// TraceLen is how many requests the trace's window holds.
func (in *Inputs) TraceLen() int {
	if in.traceSrc != nil {
		return in.traceSrc.n
	}
	return len(in.Trace.Entries)
}

// TraceStream gives a trace's requests in the window, in time order, from
// time 0. Close it when done.
type TraceStream struct {
	next  func() (Entry, bool)
	close func()
}

// Next is the next request (false at the end of the window).
func (s *TraceStream) Next() (Entry, bool) { return s.next() }

// Close ends the stream.
func (s *TraceStream) Close() { s.close() }

// OpenTrace streams the trace from its start.
func (in *Inputs) OpenTrace() *TraceStream {
	if in.traceSrc == nil {
		es, i := in.Trace.Entries, 0
		return &TraceStream{next: func() (Entry, bool) {
			if i >= len(es) {
				return Entry{}, false
			}
			i++
			return es[i-1], true
		}, close: func() {}}
	}
	src := in.traceSrc
	ch := make(chan Entry, 256)
	done := make(chan struct{})
	go func() {
		defer close(ch)
		// An error here (the file changed since it was read) ends the
		// stream early: the level then has fewer requests.
		_, _ = readFile(src.path, src.format, func(e Entry) bool {
			if !src.fits(e) {
				return true
			}
			if !src.inWindow(e) {
				return e.OffsetMS < src.startMS // past the window: stop
			}
			e.OffsetMS -= src.baseMS
			select {
			case ch <- e:
				return true
			case <-done:
				return false
			}
		})
	}()
	var once sync.Once
	return &TraceStream{
		next: func() (Entry, bool) { e, ok := <-ch; return e, ok },
		close: func() {
			once.Do(func() { close(done) })
			for range ch {
			}
		},
	}
}

// TraceOffsets streams the trace's arrival offsets at speed-up, in order.
func (in *Inputs) TraceOffsets(speedup float64) (next func() (time.Duration, bool), stop func()) {
	s := in.OpenTrace()
	return func() (time.Duration, bool) {
		e, ok := s.Next()
		if !ok {
			return 0, false
		}
		return time.Duration(math.Round(e.OffsetMS / speedup * 1e6)), true
	}, s.Close
}
