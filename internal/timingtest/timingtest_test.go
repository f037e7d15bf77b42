package timingtest

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"
)

// stall stops this test process for 200 ms, as a busy machine does.
func stall(t *testing.T) {
	t.Helper()
	pid := os.Getpid()
	if err := exec.Command("sh", "-c", fmt.Sprintf("kill -STOP %d; sleep 0.2; kill -CONT %d", pid, pid)).Run(); err != nil {
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
	if n != 2 || j > 100*time.Millisecond {
		t.Errorf("want the stalled attempt run again and the calm one kept: %d attempts, jitter %v", n, j)
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
