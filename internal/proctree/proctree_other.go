//go:build !unix

package proctree

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"time"
)

// Without process groups a tree is its first process.

// Prepare does nothing here.
func Prepare(*exec.Cmd) {}

// Tree is a process perfgate started.
type Tree struct {
	pid  int
	once sync.Once
}

// Own begins to own pid.
func Own(kind string, pid int) *Tree {
	t := &Tree{pid: pid}
	live.Lock()
	live.trees[t] = true
	live.Unlock()
	return t
}

// PID is the tree's first process.
func (t *Tree) PID() int { return t.pid }

// Kill kills the first process.
func (t *Tree) Kill() {
	if p, err := os.FindProcess(t.pid); err == nil {
		p.Kill()
	}
}

// Stop kills the first process and releases the tree.
func (t *Tree) Stop(grace, wait time.Duration, exited <-chan struct{}) error {
	t.Kill()
	t.Release()
	return nil
}

// Alive is unknown here: false.
func (t *Tree) Alive() bool { return false }

// Release stops owning the tree.
func (t *Tree) Release() {
	t.once.Do(func() {
		live.Lock()
		delete(live.trees, t)
		live.Unlock()
	})
}

// SweepOrphans does nothing here.
func SweepOrphans() []Orphan { return nil }

func (o Orphan) String() string { return fmt.Sprintf("%s (process %d)", o.Kind, o.PID) }
