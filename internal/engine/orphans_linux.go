//go:build linux

package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// An engine perfgate starts is recorded in a file of the user's cache
// (perfgate/engines/<pgid>.json) until perfgate stops it. A perfgate that
// was killed outright (kill -9, the OOM killer) runs no handler, so its
// engine lives on, holding the GPU; the next perfgate that starts an engine
// finds the record, sees that the perfgate that wrote it is gone, and stops
// the engine's process group — when its leader is still the process
// recorded (same start time), never a process that merely reuses the pid.

// engineDir is where the records live ("" when there is no cache dir).
var engineDir = func() string {
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "perfgate", "engines")
}

type engineRecord struct {
	Perfgate      int    `json:"perfgate"` // the perfgate process that started the engine
	PerfgateStart uint64 `json:"perfgate_start"`
	Engine        int    `json:"engine"` // the engine's pid, its process group's id
	EngineStart   uint64 `json:"engine_start"`
}

// startTime is a process's start time in clock ticks since boot (field 22
// of /proc/PID/stat), or 0 when it does not exist.
func startTime(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces and parentheses
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0
	}
	v, _ := strconv.ParseUint(f[19], 10, 64) // field 22: fields after ")" start at field 3
	return v
}

// recordEngine writes the record of an engine just started; the returned
// function removes it once the engine is stopped.
func recordEngine(pgid int) func() {
	dir := engineDir()
	if dir == "" || os.MkdirAll(dir, 0o700) != nil {
		return func() {}
	}
	self := os.Getpid()
	rec := engineRecord{Perfgate: self, PerfgateStart: startTime(self), Engine: pgid, EngineStart: startTime(pgid)}
	b, _ := json.Marshal(rec)
	path := filepath.Join(dir, strconv.Itoa(pgid)+".json")
	if os.WriteFile(path, b, 0o600) != nil {
		return func() {}
	}
	return func() { os.Remove(path) }
}

// SweepOrphans stops the engines that a perfgate started and did not stop
// because it was killed outright, and returns their pids. Records of
// engines that are gone are removed.
func SweepOrphans() []int {
	dir := engineDir()
	if dir == "" {
		return nil
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	var killed []int
	for _, f := range files {
		b, err := os.ReadFile(f)
		var rec engineRecord
		if err != nil || json.Unmarshal(b, &rec) != nil || rec.Engine <= 1 {
			os.Remove(f)
			continue
		}
		if rec.PerfgateStart != 0 && startTime(rec.Perfgate) == rec.PerfgateStart {
			continue // its perfgate is alive: its engine is its business
		}
		if rec.EngineStart != 0 && startTime(rec.Engine) == rec.EngineStart {
			if syscall.Kill(-rec.Engine, syscall.SIGKILL) == nil {
				killed = append(killed, rec.Engine)
			}
		}
		os.Remove(f)
	}
	return killed
}
