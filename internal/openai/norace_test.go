//go:build !race

package openai

import "time"

// timingTolerance is how far a measured time may be from the truth.
const timingTolerance = 2 * time.Millisecond
