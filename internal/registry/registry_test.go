package registry

import (
	"slices"
	"testing"
)

func TestRegistry(t *testing.T) {
	m := New("thing", map[string]int{"b": 2, "a": 1})
	m.Register("z", 26)
	var names []string
	m.All(func(n string, v int) { names = append(names, n) })
	if !slices.Equal(names, []string{"a", "b", "z"}) {
		t.Errorf("order %v", names)
	}
	if v, ok := m.Lookup("z"); !ok || v != 26 {
		t.Error("lookup")
	}
	if _, ok := m.Lookup("q"); ok {
		t.Error("unknown name found")
	}
	defer func() {
		if r := recover(); r != "thing a is registered twice" {
			t.Errorf("panic %v", r)
		}
	}()
	m.Register("a", 0)
}
