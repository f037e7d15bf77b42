//go:build cgo

package nvml

import (
	"context"
	"errors"
	"strings"
	"testing"

	gonvml "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh200"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"

	"github.com/perfgate/perfgate/internal/telemetry"
)

var (
	_ telemetry.Probe = (*Probe)(nil)
	_ telemetry.Probe = Null{}
)

// script gives a mock device the values of a busy GPU; tick advances them.
func script(d *server.Device, power uint32, tick *int) {
	d.GetUtilizationRatesFunc = func() (gonvml.Utilization, gonvml.Return) {
		return gonvml.Utilization{Gpu: uint32(90 + *tick%5), Memory: 60}, gonvml.SUCCESS
	}
	d.GetPowerUsageFunc = func() (uint32, gonvml.Return) { return power, gonvml.SUCCESS }
	d.GetEnforcedPowerLimitFunc = func() (uint32, gonvml.Return) { return 700_000, gonvml.SUCCESS }
	d.GetTotalEnergyConsumptionFunc = func() (uint64, gonvml.Return) { return uint64(1_000_000 + 500_000**tick), gonvml.SUCCESS }
	d.GetClockInfoFunc = func(c gonvml.ClockType) (uint32, gonvml.Return) {
		if c == gonvml.CLOCK_SM {
			return 1980, gonvml.SUCCESS
		}
		return 2619, gonvml.SUCCESS
	}
	d.GetTemperatureFunc = func(gonvml.TemperatureSensors) (uint32, gonvml.Return) { return 71, gonvml.SUCCESS }
	d.GetCurrentClocksEventReasonsFunc = func() (uint64, gonvml.Return) { return 4, gonvml.SUCCESS } // SW power cap
	d.GetPcieThroughputFunc = func(gonvml.PcieUtilCounter) (uint32, gonvml.Return) { return 0, gonvml.ERROR_NOT_SUPPORTED }
	d.GetComputeRunningProcessesFunc = func() ([]gonvml.ProcessInfo, gonvml.Return) {
		return []gonvml.ProcessInfo{{Pid: 4242, UsedGpuMemory: 70 << 30}, {Pid: 1, UsedGpuMemory: 1 << 30}}, gonvml.SUCCESS
	}
	d.GetEccModeFunc = func() (gonvml.EnableState, gonvml.EnableState, gonvml.Return) {
		return gonvml.FEATURE_ENABLED, gonvml.FEATURE_ENABLED, gonvml.SUCCESS
	}
	d.GetPersistenceModeFunc = func() (gonvml.EnableState, gonvml.Return) { return gonvml.FEATURE_DISABLED, gonvml.SUCCESS }
	d.GetApplicationsClockFunc = func(gonvml.ClockType) (uint32, gonvml.Return) { return 0, gonvml.ERROR_NOT_SUPPORTED }
}

func scripted(s *server.Server, tick *int) *server.Server {
	s.ErrorStringFunc = func(r gonvml.Return) string { return "mock error " + r.String() }
	for i, d := range s.Devices {
		script(d.(*server.Device), uint32(400_000+i*1000), tick)
	}
	return s
}

func TestProbeOnMockServers(t *testing.T) {
	for name, srv := range map[string]func() *server.Server{"H100": dgxh100.New, "H200": dgxh200.New, "A100": dgxa100.New} {
		t.Run(name, func(t *testing.T) {
			tick := 0
			s := scripted(srv(), &tick)
			p, info, err := Open(s, Selection{CUDAVisibleDevices: "1,3", CUDAVisibleSet: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(info.GPUs) != 2 || info.GPUs[0].Index != 1 || info.GPUs[1].Index != 3 {
				t.Fatalf("CUDA_VISIBLE_DEVICES=1,3 selected %+v", info.GPUs)
			}
			g := info.GPUs[0]
			if !strings.Contains(g.Name, name) || g.UUID == "" || g.ECC != "enabled" || g.Persistence != "disabled" || g.AppSMClockMHz != 0 || g.PowerLimitW != 700 {
				t.Errorf("static facts: %+v", g)
			}
			if info.DriverVersion == "" || info.CUDADriverVersion == "" {
				t.Errorf("versions: %+v", info)
			}
			p.EnginePIDs = func() []int { return []int{4242} }
			v, err := p.Sample(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]float64{
				"gpu1.util_pct": 90, "gpu1.mem_util_pct": 60, "gpu1.power_w": 401, "gpu1.power_limit_w": 700, "gpu1.energy_j": 1000,
				"gpu1.sm_clock_mhz": 1980, "gpu1.mem_clock_mhz": 2619, "gpu1.temp_c": 71, "gpu1.clock_event_reasons": 4,
				"gpu1.engine_mem_bytes": 70 << 30, "gpu3.power_w": 403,
			}
			for k, w := range want {
				if v[k] != w {
					t.Errorf("%s = %v, want %v", k, v[k], w)
				}
			}
			if v["gpu1.mem_total_bytes"] == 0 {
				t.Error("memory total missing")
			}
			if _, ok := v["gpu1.pcie_tx_kbps"]; ok {
				t.Error("an unsupported call must leave no value")
			}
			if _, ok := v["gpu0.util_pct"]; ok {
				t.Error("GPU 0 is not visible and must not be sampled")
			}
			// Unsupported calls are not asked again.
			calls := 0
			s.Devices[1].(*server.Device).GetPcieThroughputFunc = func(gonvml.PcieUtilCounter) (uint32, gonvml.Return) {
				calls++
				return 0, gonvml.ERROR_NOT_SUPPORTED
			}
			tick++
			v, _ = p.Sample(context.Background())
			if calls != 0 || v["gpu1.energy_j"] != 1500 {
				t.Errorf("calls %d, energy %v", calls, v["gpu1.energy_j"])
			}
		})
	}
}

func TestDeviceThatDisappears(t *testing.T) {
	tick := 0
	s := scripted(dgxh100.New(), &tick)
	p, _, err := Open(s, Selection{Indices: []int{0, 1}})
	if err != nil {
		t.Fatal(err)
	}
	lostCalls := 0
	s.Devices[1].(*server.Device).GetUtilizationRatesFunc = func() (gonvml.Utilization, gonvml.Return) {
		lostCalls++
		return gonvml.Utilization{}, gonvml.ERROR_GPU_IS_LOST
	}
	v, err := p.Sample(context.Background())
	if err == nil || !strings.Contains(err.Error(), "GPU 1 disappeared") {
		t.Fatalf("want the loss reported, got %v", err)
	}
	if v["gpu0.util_pct"] != 90 {
		t.Error("the other GPU must still be sampled")
	}
	v, err = p.Sample(context.Background())
	if err != nil || lostCalls != 1 || v["gpu0.util_pct"] != 90 {
		t.Errorf("a lost GPU is reported once and not asked again: %v, %d calls", err, lostCalls)
	}
}

func TestOlderDriverThrottleReasons(t *testing.T) {
	tick := 0
	s := scripted(dgxa100.New(), &tick)
	d := s.Devices[0].(*server.Device)
	d.GetCurrentClocksEventReasonsFunc = func() (uint64, gonvml.Return) { return 0, gonvml.ERROR_FUNCTION_NOT_FOUND }
	d.GetCurrentClocksThrottleReasonsFunc = func() (uint64, gonvml.Return) { return 64, gonvml.SUCCESS }
	p, _, err := Open(s, Selection{Indices: []int{0}})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := p.Sample(context.Background())
	if v["gpu0.clock_event_reasons"] != 64 {
		t.Errorf("fallback to the throttle-reasons call: %v", v)
	}
}

func TestSelectionErrorsAndUnavailable(t *testing.T) {
	tick := 0
	s := scripted(dgxh100.New(), &tick)
	for _, sel := range []Selection{
		{Indices: []int{8}},
		{CUDAVisibleDevices: "0,9", CUDAVisibleSet: true},
		{CUDAVisibleDevices: "GPU-not-a-uuid", CUDAVisibleSet: true},
	} {
		if _, _, err := Open(s, sel); err == nil {
			t.Errorf("%+v accepted", sel)
		}
	}
	if _, info, err := Open(s, Selection{CUDAVisibleDevices: "", CUDAVisibleSet: true}); err != nil || len(info.GPUs) != 0 {
		t.Errorf("an empty CUDA_VISIBLE_DEVICES hides every GPU: %v %v", info.GPUs, err)
	}
	uuid := s.Devices[5].(*server.Device).UUID
	if _, info, err := Open(s, Selection{CUDAVisibleDevices: uuid, CUDAVisibleSet: true}); err != nil || len(info.GPUs) != 1 || info.GPUs[0].Index != 5 {
		t.Errorf("by UUID: %v %v", info.GPUs, err)
	}
	s.InitFunc = func() gonvml.Return { return gonvml.ERROR_LIBRARY_NOT_FOUND }
	if _, _, err := Open(s, Selection{}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("want ErrUnavailable, got %v", err)
	}
}

func TestNull(t *testing.T) {
	v, err := Null{}.Sample(context.Background())
	if err != nil || len(v) != 0 || (Null{}).Name() != "gpu" {
		t.Errorf("%v %v", v, err)
	}
}

// On this machine (no GPU) the real library is not there: Open says so.
func TestRealLibraryWithoutGPU(t *testing.T) {
	p, info, err := Open(New(), Selection{})
	if err == nil {
		defer p.Close()
		t.Logf("NVML is present here: %d GPU(s), driver %s", len(info.GPUs), info.DriverVersion)
		return
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("want ErrUnavailable, got %v", err)
	}
}
