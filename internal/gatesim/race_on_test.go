//go:build race

package gatesim

// raceOn: the race detector slows the simulations tenfold; .ci/run runs
// the calibration's targets without it.
const raceOn = true
