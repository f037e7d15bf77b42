package probe

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/shirou/gopsutil/v4/process"

	"github.com/perfgate/perfgate/internal/telemetry"
)

// Host samples system CPU and memory, and the CPU and RSS of perfgate itself
// and of the engine's process tree (when perfgate started the engine), so a
// client-bound run can be seen and said.
//
// Values: host.cpu_pct (all cores, 0–100), host.mem_used_bytes,
// host.mem_total_bytes, self.cpu_pct (100 = one core), self.rss_bytes,
// engine.cpu_pct, engine.rss_bytes.
type Host struct {
	// EnginePID is the root of the engine's process tree; 0 when the engine
	// is not a process perfgate started (the in-process simulator, an endpoint).
	EnginePID int32

	mu       sync.Mutex
	self     *process.Process
	procs    map[int32]*process.Process // engine tree, kept so CPU percentages have a baseline
	sysTimes []cpu.TimesStat
}

var _ telemetry.Probe = (*Host)(nil)

// Name implements telemetry.Probe.
func (h *Host) Name() string { return "host" }

// Sample implements telemetry.Probe.
func (h *Host) Sample(ctx context.Context) (map[string]float64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v := map[string]float64{}
	if times, err := cpu.TimesWithContext(ctx, false); err == nil && len(times) == 1 {
		if len(h.sysTimes) == 1 {
			v["host.cpu_pct"] = busyPct(h.sysTimes[0], times[0])
		}
		h.sysTimes = times
	}
	if vm, err := mem.VirtualMemoryWithContext(ctx); err == nil {
		v["host.mem_used_bytes"] = float64(vm.Used)
		v["host.mem_total_bytes"] = float64(vm.Total)
	}
	if h.self == nil {
		p, err := process.NewProcessWithContext(ctx, int32(os.Getpid()))
		if err != nil {
			return v, err
		}
		h.self = p
	}
	if c, err := h.self.PercentWithContext(ctx, 0); err == nil {
		v["self.cpu_pct"] = c
	}
	if m, err := h.self.MemoryInfoWithContext(ctx); err == nil {
		v["self.rss_bytes"] = float64(m.RSS)
	}
	if h.EnginePID > 0 {
		cpuPct, rss, err := h.tree(ctx)
		if err != nil {
			return v, err
		}
		v["engine.cpu_pct"] = cpuPct
		v["engine.rss_bytes"] = rss
	}
	return v, nil
}

// tree sums CPU and RSS over the engine process and its descendants.
func (h *Host) tree(ctx context.Context) (float64, float64, error) {
	if h.procs == nil {
		h.procs = map[int32]*process.Process{}
	}
	root, ok := h.procs[h.EnginePID]
	if !ok {
		p, err := process.NewProcessWithContext(ctx, h.EnginePID)
		if err != nil {
			return 0, 0, err
		}
		root, h.procs[h.EnginePID] = p, p
	}
	seen := map[int32]bool{}
	var cpuPct, rss float64
	var walk func(p *process.Process)
	walk = func(p *process.Process) {
		if seen[p.Pid] {
			return
		}
		seen[p.Pid] = true
		if known, ok := h.procs[p.Pid]; ok {
			p = known
		} else {
			h.procs[p.Pid] = p
		}
		if c, err := p.PercentWithContext(ctx, 0); err == nil {
			cpuPct += c
		}
		if m, err := p.MemoryInfoWithContext(ctx); err == nil {
			rss += float64(m.RSS)
		}
		for _, pid := range childPIDs(ctx, p) {
			if c, err := process.NewProcessWithContext(ctx, pid); err == nil {
				walk(c)
			}
		}
	}
	walk(root)
	for pid := range h.procs {
		if !seen[pid] {
			delete(h.procs, pid) // exited
		}
	}
	return cpuPct, rss, nil
}

// childPIDs lists p's children. On Linux it reads /proc/PID/task/TID/children,
// one small file per thread of p. gopsutil's ChildrenWithContext instead reads
// the stat file of every process on the machine, for every process of the tree
// and every sample: on a CI runner that made the host probe the largest CPU cost
// of perfgate's own after the client, on the machine it measures. Where those
// files are missing (another OS, a kernel without CONFIG_PROC_CHILDREN) it asks
// gopsutil. Like gopsutil's scan, it can miss a child forked or reaped during
// the read; the next sample counts it. Measured with 72 processes on the host:
// 0.11 ms against 3.5 ms per call (go test ./internal/telemetry/probe -bench ChildPIDs).
func childPIDs(ctx context.Context, p *process.Process) []int32 {
	if pids, ok := procChildren(p.Pid); ok {
		return pids
	}
	children, _ := p.ChildrenWithContext(ctx)
	var pids []int32
	for _, c := range children {
		pids = append(pids, c.Pid)
	}
	return pids
}

// procChildren reads /proc/PID/task/*/children; ok is false when the
// kernel does not offer them.
func procChildren(pid int32) (pids []int32, ok bool) {
	task := filepath.Join("/proc", strconv.Itoa(int(pid)), "task")
	threads, err := os.ReadDir(task)
	if err != nil || len(threads) == 0 {
		return nil, false
	}
	for _, th := range threads {
		b, err := os.ReadFile(filepath.Join(task, th.Name(), "children"))
		if err != nil {
			if os.IsNotExist(err) {
				if _, serr := os.Stat(filepath.Join(task, th.Name())); serr == nil {
					return nil, false // the thread is there, its children file is not
				}
			}
			continue // the thread ended meanwhile
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.ParseInt(f, 10, 32); err == nil {
				pids = append(pids, int32(n))
			}
		}
	}
	return pids, true
}

// busyPct is the share of non-idle CPU time between two readings, 0–100.
func busyPct(a, b cpu.TimesStat) float64 {
	idle := (b.Idle + b.Iowait) - (a.Idle + a.Iowait)
	total := sumTimes(b) - sumTimes(a)
	if total <= 0 {
		return 0
	}
	return 100 * (total - idle) / total
}

func sumTimes(t cpu.TimesStat) float64 {
	return t.User + t.System + t.Idle + t.Nice + t.Iowait + t.Irq + t.Softirq + t.Steal
}
