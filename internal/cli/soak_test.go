package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/perfgate/perfgate/internal/record"
)

func openFDs() int {
	entries, _ := os.ReadDir("/proc/self/fd")
	return len(entries)
}

func peakRSSKiB() int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// The soak: many concurrent streams against the simulator for a while; then
// goroutines and file descriptors return to where they started, memory stays
// bounded, and every request issued has exactly one record. CI runs a short
// version; PERFGATE_SOAK=1 runs 2,000 streams for 60 s (docs/reliability.md).
func TestSoak(t *testing.T) {
	streams, dur := 300, "5s"
	if os.Getenv("PERFGATE_SOAK") != "" {
		streams, dur = 2000, "60s"
	} else if testing.Short() {
		t.Skip("soak")
	}
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("needs /proc")
	}
	runtime.GC()
	g0, fd0 := runtime.NumGoroutine(), openFDs()
	out := t.TempDir()
	y := fmt.Sprintf(`
name: soak
engine: {kind: sim, time_scale: 20, max_num_seqs: 2048}
workload: {prompt: token_ids, classes: [{input_tokens: 64, output_tokens: {dist: uniform, min: 16, max: 128}}]}
load: {concurrency: %d}
phases: {warmup: {duration: 1s}, measure: {duration: %s}, on_end: cancel}
telemetry: {interval: 500ms}
`, streams, dur)
	start := time.Now()
	r := runCLI(t, context.Background(), nil, "run", writeScenario(t, y), "--out", out)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	dir := onlyDir(t, out)
	var sum record.Summary
	if err := record.ReadJSON(filepath.Join(dir, record.SummaryFile), &sum); err != nil {
		t.Fatal(err)
	}
	ids := map[int64]bool{}
	dup := 0
	record.Read(filepath.Join(dir, record.RequestsFile), func(rec *record.Record) error {
		if ids[rec.ID] {
			dup++
		}
		ids[rec.ID] = true
		return nil
	})
	if dup > 0 || len(ids) != sum.Records {
		t.Errorf("issued %d, recorded %d distinct ids (%d duplicates)", sum.Records, len(ids), dup)
	}
	for i := range int64(sum.Records) {
		if !ids[i] {
			t.Errorf("request %d has no record", i)
			break
		}
	}
	// Let idle connections and finished goroutines go.
	deadline := time.Now().Add(10 * time.Second)
	var g1, fd1 int
	for {
		runtime.GC()
		g1, fd1 = runtime.NumGoroutine(), openFDs()
		if (g1 <= g0+5 && fd1 <= fd0+5) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%d streams for %s: %d requests in %v; goroutines %d → %d, fds %d → %d, peak RSS %d MiB",
		streams, dur, sum.Records, time.Since(start).Round(time.Second), g0, g1, fd0, fd1, peakRSSKiB()/1024)
	if g1 > g0+5 || fd1 > fd0+5 {
		t.Errorf("leak: goroutines %d → %d, fds %d → %d", g0, g1, fd0, fd1)
	}
	if rss := peakRSSKiB() / 1024; rss > 4096 {
		t.Errorf("peak RSS %d MiB", rss)
	}
}
