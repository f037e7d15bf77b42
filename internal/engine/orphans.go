package engine

import (
	"fmt"
	"io"
)

// StopOrphans stops the engines a perfgate killed outright (kill -9) left
// running (SweepOrphans), before this one starts its own, and says so on w.
func StopOrphans(w io.Writer) {
	for _, pid := range SweepOrphans() {
		fmt.Fprintf(w, "perfgate: stopped an engine (process group %d) that a perfgate killed outright had left running\n", pid)
	}
}
