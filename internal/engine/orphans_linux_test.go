//go:build linux

package engine

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// An engine whose perfgate was killed outright (its record names a
// perfgate that is gone) is stopped by the next sweep; one whose perfgate
// lives is left alone; a record whose pid was reused by another process is
// only removed.
func TestSweepOrphans(t *testing.T) {
	dir := t.TempDir()
	old := engineDir
	engineDir = func() string { return dir }
	defer func() { engineDir = old }()
	start := func() *exec.Cmd {
		c := exec.Command("sleep", "60")
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		return c
	}
	dead := exec.Command("true")
	dead.Run()
	write := func(rec engineRecord) {
		b, _ := json.Marshal(rec)
		os.WriteFile(filepath.Join(dir, strconv.Itoa(rec.Engine)+".json"), b, 0o600)
	}
	orphan, kept, reused := start(), start(), start()
	write(engineRecord{Perfgate: dead.Process.Pid, PerfgateStart: 12345, Engine: orphan.Process.Pid, EngineStart: startTime(orphan.Process.Pid)})
	self := os.Getpid()
	write(engineRecord{Perfgate: self, PerfgateStart: startTime(self), Engine: kept.Process.Pid, EngineStart: startTime(kept.Process.Pid)})
	write(engineRecord{Perfgate: dead.Process.Pid, PerfgateStart: 12345, Engine: reused.Process.Pid, EngineStart: 1}) // not the recorded process
	killed := SweepOrphans()
	if len(killed) != 1 || killed[0] != orphan.Process.Pid {
		t.Fatalf("killed %v, want only %d", killed, orphan.Process.Pid)
	}
	done := make(chan error, 1)
	go func() { done <- orphan.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Errorf("the orphan ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the orphan survived the sweep")
	}
	for _, c := range []*exec.Cmd{kept, reused} {
		if err := c.Process.Signal(syscall.Signal(0)); err != nil {
			t.Errorf("pid %d was stopped: %v", c.Process.Pid, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, strconv.Itoa(kept.Process.Pid)+".json")); err != nil {
		t.Error("the live perfgate's record was removed")
	}
	if _, err := os.Stat(filepath.Join(dir, strconv.Itoa(reused.Process.Pid)+".json")); err == nil {
		t.Error("a stale record was kept")
	}
}
