//go:build !cgo

package nvml

import (
	"context"
	"fmt"
)

// Probe is never opened in a build without cgo.
type Probe struct {
	// EnginePIDs is here for the same API as the cgo build.
	EnginePIDs func() []int
}

// Name implements telemetry.Probe.
func (p *Probe) Name() string { return "gpu" }

// Close does nothing.
func (p *Probe) Close() {}

// Sample reads nothing.
func (p *Probe) Sample(context.Context) (map[string]float64, error) { return map[string]float64{}, nil }

// OpenDefault fails: go-nvml needs cgo.
func OpenDefault(Selection) (*Probe, Info, error) {
	return nil, Info{}, fmt.Errorf("%w: this perfgate was built without cgo (CGO_ENABLED=0), and go-nvml needs it", ErrUnavailable)
}
