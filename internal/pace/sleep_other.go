//go:build !linux

package pace

import "time"

// preciseSleep falls back to Go's timer where perfgate does not use the
// kernel's nanosleep (every system but Linux: the GPU runners are Linux).
func preciseSleep(d time.Duration) { time.Sleep(d) }
