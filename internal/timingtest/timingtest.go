// Package timingtest measures how late this machine wakes a sleeping
// goroutine while a timing test runs, so that the test allows for the load
// it runs under instead of flaking on a busy machine: its tolerance is its
// accuracy target plus the jitter measured beside it.
package timingtest

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync/atomic"
	"testing"
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

// Start begins sampling. Each wake-up is measured from the one before (the
// first from Start itself), so a stall is seen wherever it falls — in a
// sleep, between two, or before the sampling goroutine first ran.
func Start() *Monitor {
	m := &Monitor{done: make(chan struct{}), ended: make(chan struct{})}
	last := time.Now()
	go func() {
		defer close(m.ended)
		for {
			time.Sleep(time.Millisecond)
			now := time.Now()
			if over := int64(now.Sub(last) - time.Millisecond); over > m.worst.Load() {
				m.worst.Store(over)
			}
			last = now
			select {
			case <-m.done:
				return
			default:
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

// Calm runs attempt, beside a Monitor, until one attempt saw no wake-up
// later than calm, and returns that attempt's jitter. A test whose claim is
// about wall time (a schedule kept, a count of ticks in a window) cannot be
// judged across a stall of the whole machine, so an attempt that saw one is
// discarded and run again; attempt must start from scratch each time. After
// five stalled attempts the test is skipped, saying why: that is a machine
// too busy to measure on, not a pass.
func Calm(t testing.TB, calm time.Duration, attempt func()) time.Duration {
	t.Helper()
	var seen []time.Duration
	for range 5 {
		mon := Start()
		attempt()
		j := mon.Stop()
		if j <= calm {
			t.Logf("calm attempt: the worst wake-up was %v late (allowed %v)", j, calm)
			return j
		}
		seen = append(seen, j)
		t.Logf("attempt %d saw a wake-up %v late (over %v): run again", len(seen), j, calm)
	}
	msg := fmt.Sprintf("every attempt saw a stall longer than %v (wake-ups late by %v): too busy to judge wall-clock timing", calm, seen)
	logSkip(t.Name(), msg)
	t.Skip(msg)
	return 0
}

// SkipLogEnv names a file to which every skip by Calm appends a line (the
// test and why), so that a CI run can count and print them at its end
// instead of reading a skip as a pass (.ci/run sets it).
const SkipLogEnv = "PERFGATE_SKIP_LOG"

func logSkip(test, msg string) {
	p := os.Getenv(SkipLogEnv)
	if p == "" {
		return
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	// One write per line: O_APPEND keeps lines from parallel test
	// processes whole.
	f.WriteString(test + ": " + msg + "\n")
}

// Stall stops this test process for about d (Linux: kill -STOP from a child
// shell), as a busy machine does, so a test can show what a stall does. It
// stops the process again every 50 ms, so that a CONT from outside
// (.ci/stall's own stalls) cannot end the stall early by more than that.
// A Monitor beside it checks that the process did stop: a sandbox may let a
// SIGSTOP pass without stopping (CI once saw a 400 ms stall leave wake-ups
// 0.5 ms late), so a stall that did not happen is tried again, and after
// three the test is skipped, logged like Calm's skips. Elsewhere than
// Linux the test is skipped.
func Stall(t testing.TB, d time.Duration) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("stalls the test process with kill -STOP")
	}
	pid := os.Getpid()
	sh := fmt.Sprintf("kill -STOP %d; i=1; while [ $i -lt %d ]; do sleep 0.05; kill -STOP %d; i=$((i+1)); done; sleep 0.05; kill -CONT %d",
		pid, max(int(d/(50*time.Millisecond)), 1), pid, pid)
	var seen []time.Duration
	for range 3 {
		mon := Start()
		err := exec.Command("sh", "-c", sh).Run()
		j := mon.Stop()
		if err != nil {
			t.Fatal(err)
		}
		if j >= d/2 {
			return
		}
		seen = append(seen, j)
		t.Logf("a %v stall left wake-ups only %v late: the process did not stop; trying again", d, j)
	}
	msg := fmt.Sprintf("kill -STOP did not stop this process (a %v stall left wake-ups %v late)", d, seen)
	logSkip(t.Name(), msg)
	t.Skip(msg)
}
