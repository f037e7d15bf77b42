// Package timingtest measures how late this machine wakes a sleeping
// goroutine right now, so that timing tests allow for the load they run
// under instead of flaking on a busy machine: a test's tolerance is its
// accuracy target plus a few times the measured jitter.
package timingtest

import (
	"slices"
	"time"
)

// Jitter is the 95th percentile of how much later than asked 50 sleeps of
// 1 ms return: the scheduling delay a timing test's measurement may carry.
func Jitter() time.Duration {
	const n = 50
	over := make([]time.Duration, n)
	for i := range over {
		start := time.Now()
		time.Sleep(time.Millisecond)
		over[i] = max(0, time.Since(start)-time.Millisecond)
	}
	slices.Sort(over)
	return over[n*95/100]
}

// Tolerance is target plus three times the measured jitter.
func Tolerance(target time.Duration) time.Duration { return target + 3*Jitter() }
