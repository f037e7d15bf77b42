package proctree

import (
	"os/exec"
	"sync"
)

// live is the trees this perfgate owns and has not released.
var live = struct {
	sync.Mutex
	trees map[*Tree]bool
}{trees: map[*Tree]bool{}}

// KillAll sends SIGKILL to every tree perfgate owns, and returns how many.
func KillAll() int {
	live.Lock()
	trees := make([]*Tree, 0, len(live.trees))
	for t := range live.trees {
		trees = append(trees, t)
	}
	live.Unlock()
	for _, t := range trees {
		t.Kill()
	}
	return len(trees)
}

// Orphan is a tree a perfgate killed outright left behind, stopped by
// SweepOrphans.
type Orphan struct {
	Kind string // "engine", "install"
	PID  int    // the tree's first process
}

// Start starts cmd in a process group of its own and owns its tree.
func Start(kind string, cmd *exec.Cmd) (*Tree, error) {
	Prepare(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return Own(kind, cmd.Process.Pid), nil
}
