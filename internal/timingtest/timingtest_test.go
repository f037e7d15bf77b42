package timingtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCalmRerunsAStalledAttempt(t *testing.T) {
	n := 0
	j := Calm(t, 100*time.Millisecond, func() {
		n++
		if n == 1 {
			Stall(t, 400*time.Millisecond)
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
	// The skip is logged for CI to count, not only printed.
	ciLog := os.Getenv(SkipLogEnv)
	log := filepath.Join(t.TempDir(), "skips")
	t.Setenv(SkipLogEnv, log)
	n := 0
	var sub *testing.T
	t.Run("stalled", func(t *testing.T) {
		sub = t
		Calm(t, 100*time.Millisecond, func() { n++; Stall(t, 400*time.Millisecond) })
		t.Error("Calm returned after five stalled attempts")
	})
	if b, _ := os.ReadFile(log); strings.Contains(string(b), "kill -STOP did not stop") {
		t.Setenv(SkipLogEnv, ciLog)
		logSkip(t.Name(), "the stalls themselves did not happen")
		t.Skipf("the stalls themselves did not happen here: %s", b)
	}
	if !sub.Skipped() || n != 5 {
		t.Errorf("want a skip after five stalled attempts: skipped %v after %d", sub.Skipped(), n)
	}
	b, err := os.ReadFile(log)
	if err != nil || !strings.HasPrefix(string(b), "TestCalmSkipsWhenEveryAttemptStalls/stalled: every attempt saw a stall") || strings.Count(string(b), "\n") != 1 {
		t.Errorf("skip log: %q, %v", b, err)
	}
}
