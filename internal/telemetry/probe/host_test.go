package probe

import (
	"context"
	"os/exec"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/process"
)

// TestChildPIDsMatchGopsutil checks the /proc/PID/task/*/children reading
// against gopsutil's scan of every process, on a shell with two children.
func TestChildPIDsMatchGopsutil(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the children files are Linux's")
	}
	cmd := exec.Command("sh", "-c", "sleep 60 & sleep 60 & wait")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	ctx := context.Background()
	p, err := process.NewProcessWithContext(ctx, int32(cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := procChildren(p.Pid); !ok {
		t.Skip("this kernel offers no /proc/PID/task/TID/children (CONFIG_PROC_CHILDREN)")
	}
	// poll until the shell has started both
	deadline := time.Now().Add(30 * time.Second)
	var got []int32
	for {
		got = childPIDs(ctx, p)
		if len(got) == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	ref, err := p.ChildrenWithContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var want []int32
	for _, c := range ref {
		want = append(want, c.Pid)
	}
	slices.Sort(got)
	slices.Sort(want)
	if len(got) != 2 || !slices.Equal(got, want) {
		t.Errorf("children %v, gopsutil says %v", got, want)
	}
	// a process without children has none, and is still read from /proc
	if pids, ok := procChildren(int32(want[0])); !ok || len(pids) != 0 {
		t.Errorf("a sleep's children: %v %v", pids, ok)
	}
}

// BenchmarkChildPIDs compares the children files with gopsutil's scan of
// every process (go test ./internal/telemetry/probe -bench ChildPIDs).
func BenchmarkChildPIDs(b *testing.B) {
	ctx := context.Background()
	self, _ := process.NewProcessWithContext(ctx, int32(1))
	b.Run("proc-children", func(b *testing.B) {
		for b.Loop() {
			childPIDs(ctx, self)
		}
	})
	b.Run("gopsutil", func(b *testing.B) {
		for b.Loop() {
			self.ChildrenWithContext(ctx)
		}
	})
}
