// Package pace waits until a point in time, precisely. Go's timers can wake
// up to a millisecond late when the process is idle (the network poller waits
// in whole milliseconds); on Unix, pace sleeps in nanosleep instead, which
// the kernel wakes to the microsecond. It never spins: on a small machine a
// spinning client steals the CPU of the server it measures.
package pace

import (
	"context"
	"time"
)

// slice bounds one sleep, so that a canceled context is noticed quickly.
const slice = 20 * time.Millisecond

// Until returns at t, or false within 20 ms of ctx ending.
func Until(ctx context.Context, t time.Time) bool {
	for {
		d := time.Until(t)
		if ctx.Err() != nil {
			return false
		}
		if d <= 0 {
			return true
		}
		preciseSleep(min(d, slice))
	}
}
