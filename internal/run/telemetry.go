package run

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/shirou/gopsutil/v4/process"

	"github.com/perfgate/perfgate/internal/engine"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/scenario"
	"github.com/perfgate/perfgate/internal/telemetry"
	"github.com/perfgate/perfgate/internal/telemetry/nvml"
	"github.com/perfgate/perfgate/internal/telemetry/probe"
)

// telemetryRun is the sampler of one run and what it found out up front.
type telemetryRun struct {
	sampler *telemetry.Sampler
	file    *os.File
	gpu     *record.GPUEnv
	notices []string
	closers []func()
	cancel  context.CancelFunc
	done    chan error
}

// startTelemetry opens the probes the scenario asks for and starts sampling
// into DIR/telemetry.jsonl on the run clock. A probe that cannot work here
// (no NVML on this machine) is left out with one notice.
func startTelemetry(s *scenario.Scenario, eng engine.Engine, clock record.Clock, dir string, getenv func(string) string, log *slog.Logger) (*telemetryRun, error) {
	tr := &telemetryRun{done: make(chan error, 1)}
	t := s.Telemetry
	var probes []telemetry.Probe
	var enginePID int
	if p, ok := eng.(engine.WithPID); ok {
		enginePID = p.PID()
	}
	if !slices.Contains(t.Disable, "host") {
		probes = append(probes, &probe.Host{EnginePID: int32(enginePID)})
	}
	if !slices.Contains(t.Disable, "metrics") {
		u := t.MetricsURL
		if u == "" {
			u = eng.URL() + "/metrics"
		}
		probes = append(probes, &probe.Metrics{URL: u, Buckets: probe.EngineBuckets})
	}
	if !slices.Contains(t.Disable, "gpu") {
		// An empty CUDA_VISIBLE_DEVICES is taken as unset.
		vis := getenv("CUDA_VISIBLE_DEVICES")
		p, info, err := nvml.OpenDefault(nvml.Selection{Indices: t.GPUs, CUDAVisibleDevices: vis, CUDAVisibleSet: vis != ""})
		switch {
		case errors.Is(err, nvml.ErrUnavailable):
			msg := "GPU telemetry is off: " + err.Error()
			tr.notices = append(tr.notices, msg)
			log.Info(msg + "; carrying on without it")
		case err != nil:
			return nil, &ConfigError{fmt.Errorf("GPU telemetry: %v", err)}
		default:
			tr.gpu = &info
			tr.closers = append(tr.closers, p.Close)
			if enginePID > 0 {
				p.EnginePIDs = func() []int { return processTree(enginePID) }
			}
			probes = append(probes, p)
		}
	}
	for _, spec := range t.Probes {
		p, err := probe.New(spec, t.Interval.D())
		if err != nil {
			return nil, &ConfigError{err}
		}
		probes = append(probes, p)
	}
	f, err := os.Create(filepath.Join(dir, telemetry.File))
	if err != nil {
		return nil, err
	}
	tr.file = f
	tr.sampler = &telemetry.Sampler{
		Probes:   probes,
		Interval: t.Interval.D(),
		Clock:    clock,
		Out:      f,
		Notice: func(probe string, err error) {
			log.Warn("a telemetry probe failed; its failures are recorded in "+telemetry.File, "probe", probe, "error", err)
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	tr.cancel = cancel
	go func() { tr.done <- tr.sampler.Run(ctx) }()
	return tr, nil
}

// stop ends sampling and closes the file.
func (tr *telemetryRun) stop() error {
	tr.cancel()
	err := <-tr.done
	for _, c := range tr.closers {
		c()
	}
	if cerr := tr.file.Close(); err == nil {
		err = cerr
	}
	return err
}

// hostEnv describes this machine for meta.json.
func hostEnv(ctx context.Context) record.HostEnv {
	var h record.HostEnv
	if hi, err := host.InfoWithContext(ctx); err == nil {
		h.Kernel = hi.KernelVersion
		h.Platform = strings.TrimSpace(hi.Platform + " " + hi.PlatformVersion)
	}
	if ci, err := cpu.InfoWithContext(ctx); err == nil && len(ci) > 0 {
		h.CPUModel = ci[0].ModelName
	}
	if n, err := cpu.CountsWithContext(ctx, true); err == nil {
		h.CPUCores = n
	}
	if vm, err := mem.VirtualMemoryWithContext(ctx); err == nil {
		h.MemTotalBytes = vm.Total
	}
	return h
}

// processTree lists a process and its descendants.
func processTree(pid int) []int {
	root, err := process.NewProcess(int32(pid))
	if err != nil {
		return nil
	}
	out := []int{pid}
	var walk func(p *process.Process)
	walk = func(p *process.Process) {
		children, _ := p.Children()
		for _, c := range children {
			out = append(out, int(c.Pid))
			walk(c)
		}
	}
	walk(root)
	return out
}
