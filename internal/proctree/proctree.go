// Package proctree owns the process trees perfgate starts — an engine
// (`vllm serve` and its EngineCore workers), an install command and what it
// runs — so that none outlives perfgate:
//
//   - each is started in its own process group (Prepare) and signalled as a
//     group, and also process by process for every descendant seen, so a
//     child that left the group (setsid) is stopped too;
//   - on Linux a watcher notes the tree's descendants twice a second (by pid
//     and start time, so a reused pid is never signalled), and a record in
//     the user's cache (perfgate/engines/<pid>.json) names them until the
//     tree is released;
//   - a perfgate killed outright (kill -9, the OOM killer) runs no handler:
//     the next perfgate's SweepOrphans finds its records and stops what is
//     left — also when the tree's first process has exited and its children
//     live on;
//   - KillAll stops every tree at once, for the paths that cannot wait (a
//     second Ctrl-C, a panic).
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
