package cli

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The peer tools' round trips, live (testdata/peers/side-by-side.sh on the
// simulator): perfgate, vllm bench serve, AIPerf and GuideLLM run the same
// traffic against one server; vLLM's and AIPerf's files go through perfgate
// import, the imported vLLM run through perfgate compare against perfgate's
// own, perfgate's --format vllm files through the installed vLLM's `vllm
// bench sweep plot`. Their figures must agree with the server's own where
// the definitions agree. It needs testdata/vllm/setup.sh (vllm bench serve)
// and testdata/peers/setup.sh; with PERFGATE_REQUIRE_PEERS=1 (.ci/run) a
// missing tool fails instead of skipping.
func TestRealVLLMPeerToolsSideBySide(t *testing.T) {
	needRealVLLM(t)
	cache := os.Getenv("PERFGATE_PEERS_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "perfgate", "peers")
	}
	for _, env := range []string{"aiperf", "guidellm", "vllm-plot"} {
		if _, err := os.Stat(filepath.Join(cache, env, ".perfgate-ready")); err != nil {
			msg := "peer tools not set up in " + cache + " (" + env + "): run testdata/peers/setup.sh"
			if os.Getenv("PERFGATE_REQUIRE_PEERS") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	out := t.TempDir()
	start := time.Now()
	cmd := exec.Command("../../testdata/peers/side-by-side.sh", "sim", out)
	cmd.Env = append(os.Environ(), "RATE=4", "N=12")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("side-by-side.sh: %v\n%s", err, b)
	}
	t.Logf("side-by-side on the simulator, 12 requests a tool: %s\n%s", time.Since(start).Round(time.Second), b)

	var f struct {
		Tools  map[string]map[string]*float64
		Server map[string]map[string]*float64
	}
	raw, err := os.ReadFile(filepath.Join(out, "figures.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Tools) != 4 {
		t.Fatalf("tools: %v", f.Tools)
	}
	val := func(m map[string]*float64, k string) float64 {
		if m[k] == nil {
			return math.NaN()
		}
		return *m[k]
	}
	for name, tool := range f.Tools {
		srv := f.Server[name]
		// GuideLLM may report one request fewer than it was asked for
		if n := val(tool, "requests"); n < 11 || n > 12 || val(srv, "requests") < n || val(tool, "output tokens / req") != 32 {
			t.Errorf("%s: %v requests (server %v), %v output tokens a request", name, val(tool, "requests"), val(srv, "requests"), val(tool, "output tokens / req"))
		}
		// E2EL and TPOT mean the same for every tool and the server: the
		// client adds its own overhead (a few ms here), no more
		if e, s := val(tool, "mean E2EL"), val(srv, "mean E2EL"); !(e >= s-1 && e <= s*1.1) {
			t.Errorf("%s: mean E2EL %.2f ms, the server's %.2f", name, e, s)
		}
		if p, s := val(tool, "mean TPOT"), val(srv, "mean ITL"); !(math.Abs(p-s) <= 0.05*s) {
			t.Errorf("%s: mean TPOT %.3f ms, the server's mean ITL %.3f", name, p, s)
		}
		// a client's TTFT includes the server's, and its own overhead
		if c, s := val(tool, "mean TTFT"), val(srv, "mean TTFT"); !(c >= s-0.5 && c <= s+25) {
			t.Errorf("%s: mean TTFT %.2f ms, the server's %.2f", name, c, s)
		}
	}
	for _, p := range []string{"import-vllm/result.json", "import-aiperf/result.json", "compare/comparison.md"} {
		if _, err := os.Stat(filepath.Join(out, p)); err != nil {
			t.Errorf("round trip: %v", err)
		}
	}
	rc, _ := os.ReadFile(filepath.Join(out, "compare.rc"))
	if s := strings.TrimSpace(string(rc)); s != "0" && s != "3" {
		t.Errorf("perfgate compare exited %s", s)
	}
	pngs, _ := filepath.Glob(filepath.Join(out, "report-vllm", "vllm", "*.png"))
	if len(pngs) == 0 {
		t.Error("vllm bench sweep plot drew nothing from perfgate's summary.json")
	}
}
