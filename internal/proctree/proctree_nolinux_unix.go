//go:build unix && !linux

package proctree

import (
	"fmt"
	"syscall"
)

// Without /proc a tree is its process group: a descendant that left it is
// not found, and nothing is recorded for a later sweep.

func startTime(int) uint64 { return 0 }

func (t *Tree) members() []int { return nil }

// Alive says whether a process of the tree's group is left.
func (t *Tree) Alive() bool { return syscall.Kill(-t.pid, 0) == nil }

func (t *Tree) state() (live, zombies bool) { return t.Alive(), false }

func (t *Tree) begin() { close(t.done) }

func (t *Tree) forget() {}

// SweepOrphans stops the trees a perfgate killed outright left running
// (Linux only).
func SweepOrphans() []Orphan { return nil }

func (o Orphan) String() string { return fmt.Sprintf("%s (process %d)", o.Kind, o.PID) }
