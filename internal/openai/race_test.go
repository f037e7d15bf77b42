//go:build race

package openai

import "time"

// The race detector slows everything several times over; timing checks
// allow for it.
const timingTolerance = 6 * time.Millisecond
