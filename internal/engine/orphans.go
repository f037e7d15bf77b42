package engine

import (
	"fmt"
	"io"

	"github.com/perfgate/perfgate/internal/proctree"
)

// StopOrphans stops the engines and installs a perfgate killed outright
// (kill -9) left running (proctree.SweepOrphans), before this one starts its
// own, and says so on w.
func StopOrphans(w io.Writer) {
	for _, o := range proctree.SweepOrphans() {
		fmt.Fprintf(w, "perfgate: stopped an %s (process %d and what it started) that a perfgate killed outright had left running\n", o.Kind, o.PID)
	}
}

// KillAll sends SIGKILL to every engine and install perfgate started and
// has not stopped: for the paths that cannot wait for the usual stop (a
// second signal, a panic), so that none outlives perfgate. It returns how
// many it signalled.
func KillAll() int { return proctree.KillAll() }
