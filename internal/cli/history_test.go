package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// history add / check / plot on run folders: idempotent appends, a git store,
// and a regression in the newest point found (exit 3).
func TestHistoryCommands(t *testing.T) {
	t.Parallel() // an end-to-end test of its own folders and servers
	out := t.TempDir()
	fast := writeScenario(t, strings.Replace(gateScenario, "%s", "", 1))
	// The newest point decodes 3× slower: beside a CPU hog under -race the seven
	// equal points' wall-clock TPOT spread over a band of 0.62–1.17 ms around
	// 0.86, and a 1.20× slowdown (1.03 ms) stayed inside it.
	slow := writeScenario(t, strings.Replace(gateScenario, "%s", ", slowdown_decode: 3", 1))
	store := filepath.Join(t.TempDir(), "store")
	for i := range 8 {
		f := fast
		if i == 7 {
			f = slow
		}
		if r := runCLI(t, context.Background(), nil, "run", f, "--out", filepath.Join(out, "r"+string(rune('a'+i)))); r.code != 0 {
			t.Fatalf("%d %s", r.code, r.stderr)
		}
		dir, _ := filepath.Glob(filepath.Join(out, "r"+string(rune('a'+i)), "*"))
		r := runCLI(t, context.Background(), nil, "history", "add", dir[0], "--store", store, "--commit", strings.Repeat(string(rune('a'+i)), 40), "--branch", "main")
		if r.code != 0 || !strings.Contains(r.stdout, "added 6 point(s)") {
			t.Fatalf("add: %d %s %s", r.code, r.stdout, r.stderr)
		}
		if i == 0 {
			if r := runCLI(t, context.Background(), nil, "history", "add", dir[0], "--store", store, "--commit", strings.Repeat("a", 40)); !strings.Contains(r.stdout, "added 0 point(s)") {
				t.Errorf("adding the same run twice: %s", r.stdout)
			}
		}
	}
	r := runCLI(t, context.Background(), nil, "history", "check", "--store", store, "--out", filepath.Join(out, "check"))
	if r.code != ExitRegression || !strings.Contains(r.stdout, "❌") || !strings.Contains(r.stdout, "median_tpot_ms") {
		t.Fatalf("check: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// The check names the open regression: the slow commit, and the range to look in.
	if !strings.Contains(r.stdout, "open regression") || !strings.Contains(r.stdout, "from `hhhhhhhhhhhh` on; suspects `gggggggggggg..hhhhhhhhhhhh`") {
		t.Errorf("check names no culprit:\n%s", r.stdout)
	}
	if _, err := os.Stat(filepath.Join(out, "check", "history.json")); err != nil {
		t.Error("history.json")
	}
	r = runCLI(t, context.Background(), nil, "history", "plot", "--store", store, "--out", filepath.Join(out, "plots"))
	if r.code != 0 {
		t.Fatalf("plot: %d %s", r.code, r.stderr)
	}
	// A signal while it draws (the context ends) stops it between charts.
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	if r := runCLI(t, canceled, nil, "history", "plot", "--store", store, "--out", filepath.Join(out, "plots-stopped")); r.code != ExitFailed || !strings.Contains(r.stderr, "stopped while drawing the charts (0 written") {
		t.Errorf("plot, canceled: %d %s", r.code, r.stderr)
	}
	// The slower decode opens TPOT, E2EL and throughput; a TTFT may cross its
	// band too (its steps carry the slower decodes, and on a loaded machine
	// its wall-clock noise): at least the one the check named above.
	if r := runCLI(t, context.Background(), nil, "history", "site", "--store", store, "--out", filepath.Join(out, "site")); r.code != 0 || !regexp.MustCompile(`6 series, [1-6] open regression\(s\)`).MatchString(r.stdout) {
		t.Errorf("site: %d %s %s", r.code, r.stdout, r.stderr)
	}
	svgs, _ := filepath.Glob(filepath.Join(out, "plots", "*.svg"))
	if len(svgs) != 6 {
		t.Errorf("%d trend charts", len(svgs))
	}
	// A git store holds the same.
	repo := t.TempDir()
	exec.Command("git", "-C", repo, "init", "-q").Run()
	dir, _ := filepath.Glob(filepath.Join(out, "ra", "*"))
	if r := runCLI(t, context.Background(), nil, "history", "add", dir[0], "--store", "git:perf", "--repo", repo, "--commit", strings.Repeat("a", 40)); r.code != 0 {
		t.Errorf("git store: %d %s", r.code, r.stderr)
	}
	for _, args := range [][]string{
		{"history", "add", dir[0], "--store", store}, // meta.json names no commit
		{"history", "check", "--store", t.TempDir()}, // empty store
		{"history", "check", "--store", store, "--profile", "x"},
		{"history", "check", "--store", store, "--at-once", "0.5"},
		{"history", "plot", "--store", store},
		{"history", "site", "--store", store},
	} {
		if r := runCLI(t, context.Background(), nil, args...); r.code != ExitUsage {
			t.Errorf("%v: %d %s", args, r.code, r.stderr)
		}
	}
}
