//go:build race

package cli

// The race detector slows everything several times over; timing checks
// allow for it.
const raceBuild = true
