//go:build !linux

package engine

// Engines left by a perfgate killed outright are found through /proc,
// which only Linux has; elsewhere nothing is recorded or swept.

func recordEngine(int) func() { return func() {} }

// SweepOrphans stops the engines a perfgate killed outright left running
// (Linux only).
func SweepOrphans() []int { return nil }
