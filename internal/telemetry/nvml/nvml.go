//go:build cgo

package nvml

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	gonvml "github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/perfgate/perfgate/internal/record"
)

// Probe samples the selected GPUs. Its values are named gpu<N>.<what>, N
// being the NVML index: util_pct, mem_util_pct, mem_used_bytes,
// mem_total_bytes, power_w, power_limit_w, energy_j (the total energy
// counter), sm_clock_mhz, mem_clock_mhz, temp_c, clock_event_reasons (the
// bit mask), pcie_tx_kbps, pcie_rx_kbps, engine_mem_bytes (GPU memory of the
// engine's processes).
type Probe struct {
	lib gonvml.Interface
	// EnginePIDs, when set, names the engine's processes for engine_mem_bytes.
	EnginePIDs func() []int

	mu   sync.Mutex
	devs []*device
}

type device struct {
	index       int
	h           gonvml.Device
	unsupported map[string]bool
	lost        bool
}

// Open initialises NVML through lib (nvml.New() in production, a mock in
// tests), selects GPUs and reads their static facts.
func Open(lib gonvml.Interface, sel Selection) (*Probe, Info, error) {
	var info Info
	if ret := lib.Init(); ret != gonvml.SUCCESS {
		return nil, info, fmt.Errorf("%w: %s", ErrUnavailable, errorString(lib, ret))
	}
	p := &Probe{lib: lib}
	if v, ret := lib.SystemGetDriverVersion(); ret == gonvml.SUCCESS {
		info.DriverVersion = v
	}
	if v, ret := lib.SystemGetNVMLVersion(); ret == gonvml.SUCCESS {
		info.NVMLVersion = v
	}
	if v, ret := lib.SystemGetCudaDriverVersion(); ret == gonvml.SUCCESS {
		info.CUDADriverVersion = fmt.Sprintf("%d.%d", v/1000, (v%1000)/10)
	}
	n, ret := lib.DeviceGetCount()
	if ret != gonvml.SUCCESS {
		lib.Shutdown()
		return nil, info, fmt.Errorf("%w: counting GPUs: %s", ErrUnavailable, errorString(lib, ret))
	}
	picked, err := selectDevices(lib, n, sel)
	if err != nil {
		lib.Shutdown()
		return nil, info, err
	}
	for _, i := range picked {
		h, ret := lib.DeviceGetHandleByIndex(i)
		if ret != gonvml.SUCCESS {
			lib.Shutdown()
			return nil, info, fmt.Errorf("GPU %d: %s", i, errorString(lib, ret))
		}
		d := &device{index: i, h: h, unsupported: map[string]bool{}}
		p.devs = append(p.devs, d)
		info.GPUs = append(info.GPUs, static(d))
	}
	return p, info, nil
}

// selectDevices applies the scenario's list, else CUDA_VISIBLE_DEVICES
// (indices or GPU UUIDs), else every GPU.
func selectDevices(lib gonvml.Interface, n int, sel Selection) ([]int, error) {
	if len(sel.Indices) > 0 {
		for _, i := range sel.Indices {
			if i < 0 || i >= n {
				return nil, fmt.Errorf("telemetry.gpus names GPU %d, but this machine has %d (0–%d)", i, n, n-1)
			}
		}
		return sel.Indices, nil
	}
	if !sel.CUDAVisibleSet {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out, nil
	}
	var out []int
	for _, f := range strings.Split(sel.CUDAVisibleDevices, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if i, err := strconv.Atoi(f); err == nil {
			if i < 0 { // CUDA stops at the first invalid index
				break
			}
			if i >= n {
				return nil, fmt.Errorf("CUDA_VISIBLE_DEVICES names GPU %d, but this machine has %d", i, n)
			}
			out = append(out, i)
			continue
		}
		h, ret := lib.DeviceGetHandleByUUID(f)
		if ret != gonvml.SUCCESS {
			return nil, fmt.Errorf("CUDA_VISIBLE_DEVICES names %q, which NVML does not know: %s", f, errorString(lib, ret))
		}
		i, ret := h.GetIndex()
		if ret != gonvml.SUCCESS {
			return nil, fmt.Errorf("GPU %s: %s", f, errorString(lib, ret))
		}
		out = append(out, i)
	}
	return out, nil
}

func static(d *device) record.GPU {
	g := record.GPU{Index: d.index}
	if v, ret := d.h.GetName(); ret == gonvml.SUCCESS {
		g.Name = v
	}
	if v, ret := d.h.GetUUID(); ret == gonvml.SUCCESS {
		g.UUID = v
	}
	if m, ret := d.h.GetMemoryInfo(); ret == gonvml.SUCCESS {
		g.MemoryTotalBytes = m.Total
	}
	if v, ret := d.h.GetEnforcedPowerLimit(); ret == gonvml.SUCCESS {
		g.PowerLimitW = float64(v) / 1000
	}
	if cur, _, ret := d.h.GetEccMode(); ret == gonvml.SUCCESS {
		g.ECC = enabled(cur)
	}
	if v, ret := d.h.GetPersistenceMode(); ret == gonvml.SUCCESS {
		g.Persistence = enabled(v)
	}
	if v, ret := d.h.GetApplicationsClock(gonvml.CLOCK_SM); ret == gonvml.SUCCESS {
		g.AppSMClockMHz = v
	}
	if v, ret := d.h.GetApplicationsClock(gonvml.CLOCK_MEM); ret == gonvml.SUCCESS {
		g.AppMemClockMHz = v
	}
	if major, minor, ret := d.h.GetCudaComputeCapability(); ret == gonvml.SUCCESS {
		g.ComputeCap = fmt.Sprintf("%d.%d", major, minor)
	}
	return g
}

func enabled(s gonvml.EnableState) string {
	if s == gonvml.FEATURE_ENABLED {
		return "enabled"
	}
	return "disabled"
}

// Name implements telemetry.Probe.
func (p *Probe) Name() string { return "gpu" }

// Close shuts NVML down.
func (p *Probe) Close() { p.lib.Shutdown() }

// Sample implements telemetry.Probe. A call a GPU does not support is
// skipped from then on; a GPU that stops answering (fell off the bus) is
// reported once as an error and no longer sampled, the others still are.
func (p *Probe) Sample(ctx context.Context) (map[string]float64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v := map[string]float64{}
	var errs []error
	var pids map[uint32]bool
	if p.EnginePIDs != nil {
		pids = map[uint32]bool{}
		for _, pid := range p.EnginePIDs() {
			pids[uint32(pid)] = true
		}
	}
	for _, d := range p.devs {
		if d.lost {
			continue
		}
		if err := p.sampleDevice(d, v, pids); err != nil {
			errs = append(errs, err)
		}
	}
	return v, errors.Join(errs...)
}

func (p *Probe) sampleDevice(d *device, v map[string]float64, pids map[uint32]bool) error {
	key := func(name string) string { return "gpu" + strconv.Itoa(d.index) + "." + name }
	var lost error
	// call runs one NVML query unless the device said it does not support it.
	call := func(name string, f func() gonvml.Return) bool {
		if d.unsupported[name] || lost != nil {
			return false
		}
		switch ret := f(); ret {
		case gonvml.SUCCESS:
			return true
		case gonvml.ERROR_NOT_SUPPORTED, gonvml.ERROR_NO_PERMISSION, gonvml.ERROR_FUNCTION_NOT_FOUND:
			d.unsupported[name] = true
		case gonvml.ERROR_GPU_IS_LOST, gonvml.ERROR_GPU_NOT_FOUND:
			d.lost = true
			lost = fmt.Errorf("GPU %d disappeared (%s); it is no longer sampled", d.index, errorString(p.lib, ret))
		}
		return false
	}
	var util gonvml.Utilization
	if call("utilization", func() (r gonvml.Return) { util, r = d.h.GetUtilizationRates(); return }) {
		v[key("util_pct")] = float64(util.Gpu)
		v[key("mem_util_pct")] = float64(util.Memory)
	}
	var mem gonvml.Memory
	if call("memory", func() (r gonvml.Return) { mem, r = d.h.GetMemoryInfo(); return }) {
		v[key("mem_used_bytes")] = float64(mem.Used)
		v[key("mem_total_bytes")] = float64(mem.Total)
	}
	var u32 uint32
	if call("power", func() (r gonvml.Return) { u32, r = d.h.GetPowerUsage(); return }) {
		v[key("power_w")] = float64(u32) / 1000
	}
	if call("power_limit", func() (r gonvml.Return) { u32, r = d.h.GetEnforcedPowerLimit(); return }) {
		v[key("power_limit_w")] = float64(u32) / 1000
	}
	var u64 uint64
	if call("energy", func() (r gonvml.Return) { u64, r = d.h.GetTotalEnergyConsumption(); return }) {
		v[key("energy_j")] = float64(u64) / 1000
	}
	if call("sm_clock", func() (r gonvml.Return) { u32, r = d.h.GetClockInfo(gonvml.CLOCK_SM); return }) {
		v[key("sm_clock_mhz")] = float64(u32)
	}
	if call("mem_clock", func() (r gonvml.Return) { u32, r = d.h.GetClockInfo(gonvml.CLOCK_MEM); return }) {
		v[key("mem_clock_mhz")] = float64(u32)
	}
	if call("temperature", func() (r gonvml.Return) { u32, r = d.h.GetTemperature(gonvml.TEMPERATURE_GPU); return }) {
		v[key("temp_c")] = float64(u32)
	}
	if call("clock_events", func() (r gonvml.Return) { u64, r = d.h.GetCurrentClocksEventReasons(); return }) {
		v[key("clock_event_reasons")] = float64(u64)
	} else if d.unsupported["clock_events"] && call("throttle_reasons", func() (r gonvml.Return) { u64, r = d.h.GetCurrentClocksThrottleReasons(); return }) {
		v[key("clock_event_reasons")] = float64(u64) // older drivers
	}
	if call("pcie_tx", func() (r gonvml.Return) { u32, r = d.h.GetPcieThroughput(gonvml.PCIE_UTIL_TX_BYTES); return }) {
		v[key("pcie_tx_kbps")] = float64(u32)
	}
	if call("pcie_rx", func() (r gonvml.Return) { u32, r = d.h.GetPcieThroughput(gonvml.PCIE_UTIL_RX_BYTES); return }) {
		v[key("pcie_rx_kbps")] = float64(u32)
	}
	if pids != nil {
		var procs []gonvml.ProcessInfo
		if call("processes", func() (r gonvml.Return) { procs, r = d.h.GetComputeRunningProcesses(); return }) {
			var used float64
			for _, pr := range procs {
				if pids[pr.Pid] {
					used += float64(pr.UsedGpuMemory)
				}
			}
			v[key("engine_mem_bytes")] = used
		}
	}
	return lost
}

func errorString(lib gonvml.Interface, ret gonvml.Return) string {
	defer func() { recover() }() // a mock without ErrorString
	if s := lib.ErrorString(ret); s != "" {
		return s
	}
	return fmt.Sprintf("NVML error %d", int(ret))
}

// New returns the real NVML library.
func New() gonvml.Interface { return gonvml.New() }

// OpenDefault opens the real NVML library.
func OpenDefault(sel Selection) (*Probe, Info, error) { return Open(New(), sel) }
