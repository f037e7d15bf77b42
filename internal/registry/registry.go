// Package registry is the name → implementation table behind perfgate's
// extension points (arrival processes, workload file formats, telemetry
// probe kinds, report charts): safe for concurrent use, in registration
// order, and loud about a name registered twice.
package registry

import (
	"maps"
	"slices"
	"sync"
)

// Map holds named values of one kind.
type Map[T any] struct {
	what  string // for the panic message: "arrival process"
	mu    sync.RWMutex
	names []string
	vals  map[string]T
}

// New makes a registry of what (used in messages), holding builtin first.
func New[T any](what string, builtin map[string]T) *Map[T] {
	m := &Map[T]{what: what, vals: map[string]T{}}
	for _, n := range slices.Sorted(maps.Keys(builtin)) {
		m.Register(n, builtin[n])
	}
	return m
}

// Register adds name; it panics when the name is taken, so that an
// extension never silently replaces another.
func (m *Map[T]) Register(name string, v T) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.vals[name]; dup {
		panic(m.what + " " + name + " is registered twice")
	}
	m.vals[name] = v
	m.names = append(m.names, name)
}

// Lookup finds name.
func (m *Map[T]) Lookup(name string) (T, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, ok := m.vals[name]
	return v, ok
}

// All calls fn for every entry in registration order.
func (m *Map[T]) All(fn func(name string, v T)) {
	m.mu.RLock()
	names := slices.Clone(m.names)
	m.mu.RUnlock()
	for _, n := range names {
		v, _ := m.Lookup(n)
		fn(n, v)
	}
}
