//go:build !unix

package pace

import "time"

// preciseSleep falls back to Go's timer where nanosleep is not available.
func preciseSleep(d time.Duration) { time.Sleep(d) }
