//go:build !race

package gatesim

const raceOn = false
