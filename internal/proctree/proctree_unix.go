//go:build unix

package proctree

import (
	"errors"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Prepare makes cmd start in a process group of its own.
func Prepare(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
}

// Tree is a process perfgate started in its own process group, and every
// process descended from it.
type Tree struct {
	kind  string
	pid   int
	start uint64 // the first process's start time (0 where unknown)

	mu   sync.Mutex
	seen map[int]uint64 // descendants seen: pid → start time
	quit chan struct{}
	done chan struct{}
	once sync.Once
	rec  string // the record's path ("" when none)
}

// Own begins to own the tree of pid, started in its own process group.
func Own(kind string, pid int) *Tree {
	t := &Tree{kind: kind, pid: pid, start: startTime(pid), seen: map[int]uint64{}, quit: make(chan struct{}), done: make(chan struct{})}
	live.Lock()
	live.trees[t] = true
	live.Unlock()
	t.begin()
	return t
}

// PID is the tree's first process (its process group's id).
func (t *Tree) PID() int { return t.pid }

// Signal sends sig to the tree's process group and to every descendant seen
// and found now (those that left the group).
func (t *Tree) Signal(sig syscall.Signal) {
	_ = syscall.Kill(-t.pid, sig)
	for _, pid := range t.members() {
		_ = syscall.Kill(pid, sig)
	}
}

// Kill sends SIGKILL to the whole tree.
func (t *Tree) Kill() { t.Signal(syscall.SIGKILL) }

// Stop ends the tree: SIGTERM, then SIGKILL after grace (or as soon as
// exited is closed: the first process has ended), and waits up to wait for
// every process of it to be gone; then it releases the tree. exited may be
// nil.
func (t *Tree) Stop(grace, wait time.Duration, exited <-chan struct{}) error {
	t.Signal(syscall.SIGTERM)
	timer := time.NewTimer(grace)
	select {
	case <-exited:
		// The first process has ended: what is left gets the grace too,
		// unless it is gone already.
		deadline := time.Now().Add(grace)
		for live, zombies := t.state(); (live || zombies) && time.Now().Before(deadline); live, zombies = t.state() {
			time.Sleep(20 * time.Millisecond)
		}
	case <-timer.C:
	}
	timer.Stop()
	t.Signal(syscall.SIGKILL)
	// Gone: nothing running and no zombie left — though a zombie whose
	// parent never reaps it must not hold the stop past wait: it holds
	// nothing.
	deadline := time.Now().Add(wait)
	for live, zombies := t.state(); live || zombies; live, zombies = t.state() {
		if time.Now().After(deadline) {
			if live {
				return errors.New("processes of the tree survived SIGKILL")
			}
			break
		}
		t.Signal(syscall.SIGKILL)
		time.Sleep(20 * time.Millisecond)
	}
	t.Release()
	return nil
}

// Release stops owning the tree: its watcher ends and its record is
// removed. Call it once the tree is gone.
func (t *Tree) Release() {
	t.once.Do(func() {
		close(t.quit)
		<-t.done
		live.Lock()
		delete(live.trees, t)
		live.Unlock()
		t.forget()
	})
}
