package timingtest

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"
)

// stall stops this test process for 400 ms, as a busy machine does. It
// stops it again every 50 ms, so that a CONT from outside (.ci/stall's own
// stalls) cannot end the stall early by more than that.
func stall(t *testing.T) {
	t.Helper()
	pid := os.Getpid()
	sh := fmt.Sprintf("kill -STOP %d; for i in 1 2 3 4 5 6 7; do sleep 0.05; kill -STOP %d; done; sleep 0.05; kill -CONT %d", pid, pid, pid)
	if err := exec.Command("sh", "-c", sh).Run(); err != nil {
		t.Fatal(err)
	}
}

func TestCalmRerunsAStalledAttempt(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("stops the test process with kill -STOP")
	}
	n := 0
	j := Calm(t, 100*time.Millisecond, func() {
		n++
		if n == 1 {
			stall(t)
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	})
	// More than two attempts only if something else stalled the second.
	if n < 2 || j > 100*time.Millisecond {
		t.Errorf("want the stalled attempt run again and a calm one kept: %d attempts, jitter %v", n, j)
	}
}

func TestCalmSkipsWhenEveryAttemptStalls(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("stops the test process with kill -STOP")
	}
	n := 0
	var sub *testing.T
	t.Run("stalled", func(t *testing.T) {
		sub = t
		Calm(t, 100*time.Millisecond, func() { n++; stall(t) })
		t.Error("Calm returned after five stalled attempts")
	})
	if !sub.Skipped() || n != 5 {
		t.Errorf("want a skip after five stalled attempts: skipped %v after %d", sub.Skipped(), n)
	}
}
