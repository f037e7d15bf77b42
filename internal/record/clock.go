package record

import "time"

// Clock is the run's monotonic clock: Now is microseconds since Start, read
// from Go's monotonic reading so wall-clock steps cannot bend it.
type Clock struct{ Start time.Time }

// NewClock starts a clock now.
func NewClock() Clock { return Clock{Start: time.Now()} }

// Now is the current offset in microseconds.
func (c Clock) Now() int64 { return int64(time.Since(c.Start) / time.Microsecond) }

// At converts an offset back to a point in time.
func (c Clock) At(us int64) time.Time { return c.Start.Add(time.Duration(us) * time.Microsecond) }
