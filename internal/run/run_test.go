package run

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/scenario"
)

func scen(t *testing.T, body string, files ...string) (*scenario.Scenario, string) {
	t.Helper()
	d := t.TempDir()
	for i := 0; i+1 < len(files); i += 2 {
		os.WriteFile(filepath.Join(d, files[i]), []byte(files[i+1]), 0o644)
	}
	p := filepath.Join(d, "s.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := scenario.LoadForRun(p)
	if err != nil {
		t.Fatal(err)
	}
	return s, p
}

// A trial against the simulator writes the whole run folder and returns
// its summary, with the trial's number and label in meta.json.
func TestTrialWritesTheRunFolder(t *testing.T) {
	s, file := scen(t, `name: one
engine: {kind: sim, time_scale: 8}
workload: {prompt: token_ids, classes: [{input_tokens: 32, output_tokens: 8}]}
load: {mode: open, rate: 8}
phases: {measure: {duration: 500ms}}
`)
	dir := t.TempDir()
	var stderr bytes.Buffer
	res, err := Trial(context.Background(), Config{Scenario: s, File: file, Dir: dir, Getenv: func(string) string { return "" },
		Stderr: &stderr, N: 2, Label: "x", Version: "test", CommandLine: []string{"perfgate", "--api-key", "sk-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.RunErr != nil || res.Interrupted || res.EngineDied || res.Summary.Status != record.StatusCompleted || len(res.Summary.Levels) != 1 || res.Summary.Levels[0].Completed == 0 {
		t.Fatalf("result %+v", res)
	}
	for _, f := range []string{record.ScenarioFile, record.MetaFile, record.RequestsFile, record.SummaryFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("no %s", f)
		}
	}
	var m record.Meta
	if err := record.ReadJSON(filepath.Join(dir, record.MetaFile), &m); err != nil || m.Trial != 2 || m.Label != "x" || m.CommandLine[2] != "[REDACTED]" {
		t.Errorf("meta %+v %v", m, err)
	}
}

// A dataset the scenario names that cannot be read is a ConfigError, before
// anything is written.
func TestTrialConfigError(t *testing.T) {
	s, file := scen(t, `name: two
engine: {kind: sim, time_scale: 8}
workload: {classes: [{dataset: {format: jsonl, path: prompts.jsonl}, output_tokens: 8}]}
load: {mode: open, rate: 8}
phases: {measure: {duration: 500ms}}
`, "prompts.jsonl", "not json\n")
	dir := t.TempDir()
	_, err := Trial(context.Background(), Config{Scenario: s, File: file, Dir: dir, Getenv: func(string) string { return "" }, Stderr: &bytes.Buffer{}})
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("err %v, want a ConfigError", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("wrote %d files before failing", len(ents))
	}
}
