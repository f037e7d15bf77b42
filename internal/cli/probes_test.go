package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perfgate/perfgate/internal/telemetry"
)

func TestCustomProbesPrometheusAndCommands(t *testing.T) {
	t.Parallel() // an end-to-end test of its own folders and servers
	router := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "# TYPE router_queue_depth gauge\nrouter_queue_depth 3\n# TYPE router_requests_total counter\nrouter_requests_total{route=\"a\"} 5\nrouter_requests_total{route=\"b\"} 7\nunrelated_metric 1\n")
	}))
	defer router.Close()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.sh")
	os.WriteFile(good, []byte("#!/bin/sh\necho 'queue_depth 4'\necho 'temp_c 41.5'\necho 'a line that is not a value'\n"), 0o755)
	marker := fmt.Sprintf("perfgate-hang-%d", time.Now().UnixNano())
	scen := writeScenario(t, `name: probes
seed: 5
engine: {kind: sim, max_num_seqs: 4, time_scale: 4}
workload: {classes: [{input_tokens: 20, output_tokens: 8}]}
load: {rate: 30}
phases: {measure: {duration: 1s}}
telemetry:
  interval: 50ms
  probes:
    - {name: router, kind: prometheus, url: "`+router.URL+`/metrics", include: ["^router_"]}
    - {name: routes, kind: prometheus, url: "`+router.URL+`/metrics", include: ["^router_requests"], by_label: route}
    - {name: box, kind: command, command: ["`+good+`"]}
    - {name: broken, kind: command, command: [sh, -c, "echo boom >&2; exit 3"]}
    - {name: stuck, kind: command, command: [sh, -c, "exec sleep 30 # `+marker+`"], timeout: 100ms}
`)
	began := time.Now()
	runDir, _ := runOK(t, scen)
	if d := time.Since(began); d > 15*time.Second {
		t.Errorf("the run took %v: a hanging probe must not hold it up", d)
	}
	samples, err := telemetry.ReadAll(filepath.Join(runDir, telemetry.File))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	errs := map[string]string{}
	for _, s := range samples {
		if s.Gap { // a tick that found the probe still busy: no values
			continue
		}
		switch s.Probe {
		case "router":
			if s.Err == "" && (s.Values["router_queue_depth"] != 3 || s.Values["router_requests_total"] != 12 || s.Values["unrelated_metric"] != 0) {
				t.Fatalf("router values %v", s.Values)
			}
		case "routes":
			if s.Err == "" && (s.Values[`router_requests_total{route="a"}`] != 5 || s.Values[`router_requests_total{route="b"}`] != 7 || len(s.Values) != 2) {
				t.Fatalf("routes values %v", s.Values)
			}
		case "box":
			if s.Err == "" && (s.Values["queue_depth"] != 4 || s.Values["temp_c"] != 41.5 || s.Values["telemetry.malformed_lines"] != 1) {
				t.Fatalf("box values %v", s.Values)
			}
		}
		if s.Err != "" {
			errs[s.Probe] = s.Err
		} else {
			got[s.Probe]++
		}
	}
	if got["router"] < 5 || got["routes"] < 5 || got["box"] < 5 || got["metrics"] < 5 {
		t.Errorf("samples per probe %v", got)
	}
	if !strings.Contains(errs["broken"], "exit status 3: boom") || !strings.Contains(errs["stuck"], "did not finish within 100ms; killed") {
		t.Errorf("errors %v", errs)
	}
	if o, _ := exec.Command("pgrep", "-f", marker).Output(); len(o) > 0 {
		t.Errorf("the hanging probe's process survived: %s", o)
	}
	// The report's timeline has a lane per probe of the scenario's own.
	rep := t.TempDir()
	if r := runCLI(t, context.Background(), nil, "report", runDir, "--out", rep); r.code != 0 {
		t.Fatal(r.stderr)
	}
	svg, _ := os.ReadFile(filepath.Join(rep, "plots", "timeline-1.svg"))
	for _, want := range []string{"router", "box", "queue_depth"} {
		if !strings.Contains(string(svg), want) {
			t.Errorf("the timeline has no %q", want)
		}
	}
	// Bad probe entries are validation errors.
	bad := writeScenario(t, `name: x
workload: {classes: [{input_tokens: 1, output_tokens: 1}]}
load: {rate: 1}
phases: {measure: {requests: 1}}
telemetry:
  probes:
    - {name: gpu, kind: command, command: [true]}
    - {name: r, kind: prometheus, url: "ftp://x", include: ["("]}
    - {name: c, kind: command}
    - {name: k, kind: telepathy}
`)
	r := runCLI(t, context.Background(), nil, "validate", bad)
	for _, want := range []string{`"gpu" is taken`, "needs the http(s) address", "is not a regular expression", "needs the program", `got "telepathy"`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("validate: no %q in\n%s", want, r.stderr)
		}
	}
}
