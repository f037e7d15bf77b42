//go:build linux

package vllmsrc

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// running says whether pid is a live (not zombie) process.
func running(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z"
}

// readPIDs waits for the install script to write want pids into file.
func readPIDs(t *testing.T, file string, want int) []int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(file)
		if fs := strings.Fields(string(b)); len(fs) >= want {
			var out []int
			for _, f := range fs {
				n, _ := strconv.Atoi(f)
				out = append(out, n)
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("the install wrote %q", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitStopped(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for _, p := range pids {
		for running(p) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d of the install outlived it", p)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// shortGrace makes InstallStopGrace a second for the test. It is set for
// the whole test binary (once, never restored), so the tests that use it can
// run in parallel: no test here needs the long default.
func shortGrace(t *testing.T) {
	graceOnce.Do(func() { InstallStopGrace = time.Second })
}

var graceOnce sync.Once

// An interrupted install stops everything it started — a child in its
// group and one that started its own session — before Install returns;
// they survived SIGINT, SIGTERM and SIGKILL of perfgate before, and the next
// install wrote into the environment beside them.
func TestInterruptedInstallStopsItsTree(t *testing.T) {
	t.Parallel() // waits on processes, not the CPU
	shortGrace(t)
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	script := `sleep 300 & echo $! >> ` + pids + `; setsid sleep 300 & echo $! >> ` + pids + `; trap '' TERM; sleep 300`
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := Install(ctx, "candidate", "abc", dir, filepath.Join(dir, "env"), script, filepath.Join(dir, "install.log"))
		errc <- err
	}()
	got := readPIDs(t, pids, 2)
	time.Sleep(time.Second) // the tree's watcher sees them
	cancel()
	select {
	case err := <-errc:
		if err == nil {
			t.Error("an interrupted install succeeded")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Install did not return after its context ended")
	}
	waitStopped(t, got)
	if _, err := os.Stat(filepath.Join(dir, "env", marker)); err == nil {
		t.Error("an interrupted install was marked done")
	}
}

// An install that succeeds but leaves a process running (a daemon it
// started) does not leave it behind.
func TestFinishedInstallLeavesNothingRunning(t *testing.T) {
	t.Parallel() // waits on processes, not the CPU
	shortGrace(t)
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	script := `setsid sleep 300 & echo $! >> ` + pids + `; sleep 1.5`
	if _, err := Install(context.Background(), "baseline", "abc", dir, filepath.Join(dir, "env"), script, filepath.Join(dir, "install.log")); err != nil {
		t.Fatal(err)
	}
	waitStopped(t, readPIDs(t, pids, 1))
}
