// Package nvml samples NVIDIA GPUs through NVML (github.com/NVIDIA/go-nvml,
// which loads the library at run time, so this compiles and runs anywhere
// cgo does). On a machine without NVML, Open fails once with ErrUnavailable
// and perfgate carries on with the Null probe. A build without cgo has no
// NVML at all (nocgo.go): OpenDefault says so, and the rest is the same.
package nvml

import (
	"context"
	"errors"

	"github.com/perfgate/perfgate/internal/record"
)

// ErrUnavailable means NVML could not be loaded or initialised.
var ErrUnavailable = errors.New("NVML is not available")

// Info is the static environment NVML reports: versions and, per GPU, the
// facts that do not change during a run.
type Info = record.GPUEnv

// Selection says which GPUs to sample.
type Selection struct {
	// Indices, when non-empty, are the NVML indices to sample (the scenario's
	// telemetry.gpus); they win over CUDAVisibleDevices.
	Indices []int
	// CUDAVisibleDevices is the environment variable's value, set or not.
	CUDAVisibleDevices string
	CUDAVisibleSet     bool
}

// Null is the probe for machines without NVML: it reads nothing.
type Null struct{}

// Name implements telemetry.Probe.
func (Null) Name() string { return "gpu" }

// Sample implements telemetry.Probe.
func (Null) Sample(context.Context) (map[string]float64, error) { return map[string]float64{}, nil }
