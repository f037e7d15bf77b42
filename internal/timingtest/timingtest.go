// Package timingtest measures how late this machine wakes a sleeping
// goroutine while a timing test runs, so that the test allows for the load
// it runs under instead of flaking on a busy machine: its tolerance is its
// accuracy target plus the jitter measured beside it.
package timingtest

import (
	"sync/atomic"
	"time"
)

// Monitor samples, until Stop, how much later than asked 1 ms sleeps
// return: on a machine shared with CPU-heavy jobs a wake-up waits for the
// scheduler, in bursts that only a sample taken at the same time sees.
type Monitor struct {
	worst atomic.Int64
	done  chan struct{}
	ended chan struct{}
}

// Start begins sampling.
func Start() *Monitor {
	m := &Monitor{done: make(chan struct{}), ended: make(chan struct{})}
	go func() {
		defer close(m.ended)
		for {
			select {
			case <-m.done:
				return
			default:
			}
			start := time.Now()
			time.Sleep(time.Millisecond)
			if over := int64(time.Since(start) - time.Millisecond); over > m.worst.Load() {
				m.worst.Store(over)
			}
		}
	}()
	return m
}

// Stop ends sampling and returns the largest delay seen.
func (m *Monitor) Stop() time.Duration {
	close(m.done)
	<-m.ended
	return time.Duration(m.worst.Load())
}

// Tolerance is target plus twice the jitter: a measured interval has two
// ends, each of which may wake late.
func Tolerance(target, jitter time.Duration) time.Duration { return target + 2*jitter }
