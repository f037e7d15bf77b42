// Package pace waits until a point in time, precisely. Go's timers can wake
// up to a millisecond late when the process is idle (the network poller waits
// in whole milliseconds). pace parks on a Go timer until the last millisecond
// and sleeps the rest in nanosleep (on Unix), which the kernel wakes to the
// microsecond. A goroutine in nanosleep holds its P until the runtime takes
// it back, so only that last short stretch is spent there. pace never spins:
// on a small machine a spinning client steals the CPU of the server it
// measures.
package pace

import (
	"context"
	"time"
)

// fine is the last stretch before t, slept in nanosleep.
const fine = time.Millisecond

// Until returns at t, or false as soon as ctx ends (within a millisecond in
// the last stretch).
func Until(ctx context.Context, t time.Time) bool {
	if d := time.Until(t) - fine; d > 0 {
		tm := time.NewTimer(d)
		select {
		case <-tm.C:
		case <-ctx.Done():
			tm.Stop()
			return false
		}
	}
	if ctx.Err() != nil {
		return false
	}
	if d := time.Until(t); d > 0 {
		preciseSleep(d)
	}
	return ctx.Err() == nil
}
