package extending

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfgate/perfgate/internal/cli"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/telemetry"
)

// TestWorkedExample runs a scenario that uses all four extensions of
// docs/extending.md against the simulator, then reports it.
func TestWorkedExample(t *testing.T) {
	Register()
	prompts, _ := filepath.Abs("testdata/prompts.txt")
	dir := t.TempDir()
	scen := filepath.Join(dir, "extended.yaml")
	os.WriteFile(scen, []byte(`name: extended
engine: {kind: sim, time_scale: 8}
workload:
  classes:
    - {name: questions, dataset: {format: lines, path: `+prompts+`}, output_tokens: 12}
load: {mode: open, arrival: bursts, levels: [20, 40]}
phases: {measure: {requests: 24}}
telemetry:
  interval: 50ms
  probes:
    - {name: load, kind: loadavg}
`), 0o644)
	main := func(args ...string) (int, string) {
		var out bytes.Buffer
		code := cli.Main(context.Background(), args, cli.Env{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }})
		return code, out.String()
	}
	if code, out := main("validate", scen); code != 0 {
		t.Fatalf("validate: %s", out)
	}
	runs := filepath.Join(dir, "runs")
	code, out := main("run", scen, "--out", runs)
	if code != 0 {
		t.Fatalf("run: %d\n%s", code, out)
	}
	ents, _ := os.ReadDir(runs)
	run := filepath.Join(runs, ents[0].Name())

	// The bursts: requests come four at a time.
	var recs []record.Record
	record.Read(filepath.Join(run, record.RequestsFile), func(r *record.Record) error { recs = append(recs, *r); return nil })
	same := map[int64]int{}
	for _, r := range recs {
		if r.Level == 0 {
			same[r.ScheduledUS]++
		}
		if r.Class != "questions" || r.RequestedOutput != 12 {
			t.Fatalf("record %+v", r)
		}
	}
	if len(same) != 6 {
		t.Errorf("24 requests in bursts of 4 are 6 send times, got %d", len(same))
	}
	// The format: the "!" line is skipped, counted and reported.
	var meta record.Meta
	b, _ := os.ReadFile(filepath.Join(run, record.MetaFile))
	json.Unmarshal(b, &meta)
	if !strings.Contains(strings.Join(meta.Notices, "\n"), "prompts.txt: 1 of 5 entries skipped: a line of only '!' (line 4)") {
		t.Errorf("notices %q", meta.Notices)
	}
	// The probe.
	samples, _ := telemetry.ReadAll(filepath.Join(run, telemetry.File))
	n := 0
	for _, s := range samples {
		if s.Probe == "load" && s.Err == "" && !s.Gap { // a gap (the probe still busy) has no values
			if _, ok := s.Values["load1"]; !ok {
				t.Fatalf("load sample %+v", s)
			}
			n++
		}
	}
	if n == 0 {
		t.Error("no loadavg samples")
	}
	// The chart.
	rep := filepath.Join(dir, "report")
	if code, out := main("report", run, "--out", rep); code != 0 {
		t.Fatalf("report: %s", out)
	}
	if _, err := os.Stat(filepath.Join(rep, "plots", "tokens-per-request.svg")); err != nil {
		t.Error("the registered chart is missing")
	}
	if md, _ := os.ReadFile(filepath.Join(rep, "report.md")); !strings.Contains(string(md), "tokens-per-request") {
		t.Error("report.md does not show the chart")
	}
	// Unregistered names still fail validation, at their line.
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(strings.Replace(strings.Replace(string(must(os.ReadFile(scen))), "bursts", "burstz", 1), "kind: loadavg", "kind: loadavgg", 1)), 0o644)
	code, out = main("validate", bad)
	if code != 2 || !strings.Contains(out, `"burstz"`) || !strings.Contains(out, `"loadavgg"`) {
		t.Errorf("validate bad: %d %s", code, out)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
