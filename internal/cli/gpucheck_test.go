package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/telemetry"
)

// The real-GPU check (issue 21, testdata/gpu) as far as a CPU allows: the
// GPU-backed engine's protocol and batching (its sleep backend does no
// tensor work; its torch backend runs tiny shapes on a CPU where PyTorch is
// installed), the whole check script against a stand-in nvidia-smi, and the
// analysis of NVML against nvidia-smi on a sample written in nvidia-smi's
// format. Each skips where python3 (or bash, curl, PyTorch) is absent.

func gpuDir(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3 here: the GPU engine and the check's analysis are Python")
	}
	d, err := filepath.Abs("../../testdata/gpu")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// The engine, started by perfgate as a vllm is (kind: vllm, vllm_bin), serves
// streamed completions with usage, batches at most --max-num-seqs requests
// into each step (the rest wait, as /metrics says), and its /metrics reads
// under vLLM's names.
func TestGPUEngineServesAndBatches(t *testing.T) {
	t.Parallel() // an end-to-end test of its own folders and servers
	d := gpuDir(t)
	backends := []string{"sleep"}
	if exec.Command("python3", "-c", "import torch").Run() == nil {
		backends = append(backends, "torch")
	} else {
		t.Log("PyTorch is not installed here: the torch backend is not run")
	}
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			y := fmt.Sprintf(`name: gpu engine
model: llama-8b-shaped
engine: {kind: vllm, vllm_bin: %s, args: [--backend, %s, --max-num-seqs, "4", --device, cpu], health_timeout: 2m}
workload: {classes: [{input_tokens: {dist: uniform, min: 8, max: 64}, output_tokens: 12}]}
load: {mode: closed, concurrency: 10}
phases: {warmup: {duration: 300ms}, measure: {duration: 1500ms}}
telemetry: {interval: 100ms}
percentiles: [50, 99]
`, filepath.Join(d, "engine.py"), b)
			dir, _ := runOK(t, writeScenario(t, y))
			var sum record.Summary
			if err := record.ReadJSON(filepath.Join(dir, record.SummaryFile), &sum); err != nil {
				t.Fatal(err)
			}
			l := sum.Levels[0]
			if l.Completed < 5 || l.Errors != 0 || l.UsageMissing != 0 || l.UsageShort != 0 || l.TotalOutput != 12*l.Completed {
				t.Errorf("level: completed %d, errors %d, usage missing %d short %d, output %d", l.Completed, l.Errors, l.UsageMissing, l.UsageShort, l.TotalOutput)
			}
			// Ten clients, four in a batch: /metrics shows four running and the rest waiting.
			maxRun, maxWait := 0.0, 0.0
			telemetry.Read(filepath.Join(dir, telemetry.File), func(s *telemetry.Sample) {
				maxRun = max(maxRun, s.Values["vllm:num_requests_running"])
				maxWait = max(maxWait, s.Values["vllm:num_requests_waiting"])
			})
			if maxRun != 4 || maxWait < 1 {
				t.Errorf("/metrics: at most %v running (want --max-num-seqs 4) and %v waiting", maxRun, maxWait)
			}
		})
	}
}

// check.sh end to end with the engine's sleep backend and a stand-in
// nvidia-smi: the A/A trials and the memory check work and are summarised;
// the NVML comparison finds no perfgate GPU samples (there is no GPU) and
// says so, and the script exits 1.
func TestGPUCheckScriptWithoutAGPU(t *testing.T) {
	t.Parallel() // an end-to-end test of its own folders and servers
	if testing.Short() {
		t.Skip("runs the whole prepared GPU check on the CPU (14 s): without -short")
	}
	d := gpuDir(t)
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s here", tool)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "perfgate")
	os.WriteFile(bin, []byte("#!/bin/sh\nPERFGATE_CLI_MAIN=1 exec "+exe+" \"$@\"\n"), 0o755)
	out := filepath.Join(tmp, "out")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(d, "check.sh"), bin)
	cmd.Env = append(os.Environ(), "OUT="+out, "BACKEND=sleep", "TRIALS=2", "MEASURE=1s", "WARMUP=300ms", "IDLE=1s",
		"CONCURRENCY=8", "NVIDIA_SMI="+filepath.Join(d, "fake-nvidia-smi"))
	b, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("check.sh: %v (want exit 1: no GPU samples)\n%s", err, b)
	}
	var sum struct {
		SMISamples int             `json:"smi_samples"`
		Checks     map[string]bool `json:"checks"`
		AA         struct {
			Trials int                 `json:"trials"`
			CV     map[string]*float64 `json:"cv"`
		} `json:"aa"`
	}
	j, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil || json.Unmarshal(j, &sum) != nil {
		t.Fatalf("summary.json: %v\n%s", err, b)
	}
	if sum.SMISamples < 5 || sum.AA.Trials != 2 || sum.AA.CV["output_throughput"] == nil || sum.AA.CV["p99_ttft_ms"] == nil {
		t.Errorf("summary: %+v\n%s", sum, b)
	}
	if !sum.Checks["aa_trials"] || !sum.Checks["memory_released"] || sum.Checks["nvml_idle"] || sum.Checks["nvml_loaded"] {
		t.Errorf("checks: %v\n%s", sum.Checks, b)
	}
	entries, _ := os.ReadDir(out)
	if len(entries) > 8 {
		t.Errorf("%d files in OUT: the device tool brings back 8", len(entries))
	}
	if !strings.Contains(string(b), "checks: nvml_idle FAILED, nvml_loaded FAILED, aa_trials ok, memory_released ok") {
		t.Errorf("no summary line:\n%s", b)
	}
}

// analyze.py pairs perfgate's NVML samples with nvidia-smi's by wall-clock
// time and checks each field against its tolerance: on a sample written in
// nvidia-smi's CSV format (timestamps, [N/A] values, a second GPU's lines)
// beside a run folder with the same readings, every field agrees; with the
// power 30 % off, power fails and only power.
func TestGPUCheckComparesNVMLWithNvidiaSMI(t *testing.T) {
	d := gpuDir(t)
	start := time.Date(2026, 11, 30, 9, 30, 0, 0, time.UTC)
	write := func(powerScale float64) (string, string) {
		tmp := t.TempDir()
		trial := filepath.Join(tmp, "aa", "run", "trial-01")
		os.MkdirAll(trial, 0o755)
		os.MkdirAll(filepath.Join(tmp, "idle"), 0o755)
		meta, _ := json.Marshal(map[string]any{"schema_version": 2, "start_wall": start.Format(time.RFC3339Nano)})
		os.WriteFile(filepath.Join(trial, record.MetaFile), meta, 0o644)
		res, _ := json.Marshal(map[string]any{"started": start.Format(time.RFC3339Nano), "finished": start.Add(5 * time.Second).Format(time.RFC3339Nano),
			"levels": []map[string]any{{"level": 1, "median_ttft_ms": 30.0, "output_throughput": 5000.0}}})
		os.WriteFile(filepath.Join(trial, record.SummaryFile), res, 0o644)
		var tel, smi strings.Builder
		for i := range 20 {
			at := time.Duration(i) * 250 * time.Millisecond
			util, clock, power, mem, temp := 95.0+float64(i%3), 1980.0, 610.0+float64(i), 45000.0, 52.0+float64(i/10)
			s, _ := json.Marshal(map[string]any{"t": at.Microseconds(), "probe": "gpu", "values": map[string]float64{
				"gpu0.util_pct": util, "gpu0.sm_clock_mhz": clock, "gpu0.power_w": power * powerScale, "gpu0.mem_used_bytes": mem * (1 << 20), "gpu0.temp_c": temp}})
			tel.Write(append(s, '\n'))
			ts := start.Add(at + 40*time.Millisecond).Format("2006/01/02 15:04:05.000")
			fmt.Fprintf(&smi, "%s, %.0f, %.0f, %.2f, %.0f, %.0f\n", ts, util, clock, power, mem, temp)
			fmt.Fprintf(&smi, "%s, 0, 345, [N/A], 1, 30\n", ts) // a second GPU, left out
		}
		smi.WriteString("not a sample line\n")
		os.WriteFile(filepath.Join(trial, telemetry.File), []byte(tel.String()), 0o644)
		p := filepath.Join(tmp, "smi.csv")
		os.WriteFile(p, []byte(smi.String()), 0o644)
		return tmp, p
	}
	for _, c := range []struct {
		scale  float64
		failed []string
	}{{1, nil}, {1.3, []string{"power_w"}}} {
		tmp, smi := write(c.scale)
		out := filepath.Join(tmp, "out")
		b, _ := exec.Command("python3", filepath.Join(d, "analyze.py"), "--smi", smi, "--idle", filepath.Join(tmp, "idle"), "--aa", filepath.Join(tmp, "aa"), "--out", out).CombinedOutput()
		var sum struct {
			Bad    int `json:"smi_unreadable_lines"`
			Loaded struct {
				Samples int `json:"perfgate_samples"`
				Fields  map[string]struct {
					Pairs  int      `json:"pairs"`
					Within *float64 `json:"within_tolerance"`
				} `json:"fields"`
			} `json:"nvml_loaded"`
		}
		j, err := os.ReadFile(filepath.Join(out, "summary.json"))
		if err != nil || json.Unmarshal(j, &sum) != nil {
			t.Fatalf("summary.json: %v\n%s", err, b)
		}
		if sum.Bad != 1 || sum.Loaded.Samples != 20 {
			t.Errorf("unreadable lines %d (want 1), perfgate samples %d (want 20)\n%s", sum.Bad, sum.Loaded.Samples, b)
		}
		for field, f := range sum.Loaded.Fields {
			wantFail := len(c.failed) > 0 && c.failed[0] == field
			if f.Pairs != 20 || f.Within == nil || (*f.Within >= 0.9) == wantFail {
				t.Errorf("power ×%g: %s: %d pairs, within tolerance %v\n%s", c.scale, field, f.Pairs, f.Within, b)
			}
		}
	}
}
