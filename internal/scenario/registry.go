package scenario

import (
	"slices"
	"sync"
)

// Names that packages above this one register (workload file formats,
// arrival processes, telemetry probe kinds), so that validation accepts them.
// The packages that implement them call these from their own Register
// functions; docs/extending.md walks through it.
var registry struct {
	sync.RWMutex
	formats, arrivals, probes []string
}

// RegisterFormat accepts name as a dataset or trace format.
func RegisterFormat(name string) { add(&registry.formats, name) }

// RegisterArrival accepts name as load.arrival.
func RegisterArrival(name string) { add(&registry.arrivals, name) }

// RegisterProbe accepts name as a telemetry.probes kind.
func RegisterProbe(name string) { add(&registry.probes, name) }

func add(list *[]string, name string) {
	registry.Lock()
	defer registry.Unlock()
	if !slices.Contains(*list, name) {
		*list = append(*list, name)
	}
}

func registered(list *[]string, name string) bool {
	registry.RLock()
	defer registry.RUnlock()
	return slices.Contains(*list, name)
}
