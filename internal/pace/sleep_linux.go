//go:build linux

package pace

import (
	"time"

	"golang.org/x/sys/unix"
)

// preciseSleep blocks the calling thread for d with the kernel's
// high-resolution timer.
func preciseSleep(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	for unix.Nanosleep(&ts, &ts) == unix.EINTR {
	}
}
