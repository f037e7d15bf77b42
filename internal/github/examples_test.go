package github

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
	"gopkg.in/yaml.v3"
)

// TestWorkflowsLintAndAreSafe runs actionlint (syntax, expressions, action
// inputs, shell injection through ${{ }} in run:) over this repository's CI
// workflow and the documented examples, and checks the security model of
// docs/action.md on the examples.
func TestWorkflowsLintAndAreSafe(t *testing.T) {
	files, _ := filepath.Glob("../../docs/examples/*.yml")
	files = append(files, "../../.github/workflows/ci.yml", "../../.github/workflows/release.yml")
	if len(files) < 6 {
		t.Fatalf("examples: %v", files)
	}
	// The examples' GPU runners carry a custom label.
	cfg := filepath.Join(t.TempDir(), "actionlint.yaml")
	os.WriteFile(cfg, []byte("self-hosted-runner:\n  labels: [gpu]\n"), 0o644)
	l, err := actionlint.NewLinter(io.Discard, &actionlint.LinterOptions{ConfigFile: cfg})
	if err != nil {
		t.Fatal(err)
	}
	errs, err := l.LintFiles(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		t.Errorf("%s:%d:%d: %s [%s]", e.Filepath, e.Line, e.Column, e.Message, e.Kind)
	}

	type step struct {
		Uses string
		Run  string
		With map[string]string
	}
	type job struct {
		RunsOn      any `yaml:"runs-on"`
		Permissions any
		Steps       []step
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), "pull_request_target") && !strings.Contains(f, "ci.yml") {
			for _, line := range strings.Split(string(b), "\n") {
				if strings.Contains(line, "pull_request_target") && !strings.HasPrefix(strings.TrimSpace(line), "#") {
					t.Errorf("%s: never pull_request_target", f)
				}
			}
		}
		var wf struct {
			On   map[string]any
			Jobs map[string]job
		}
		if err := yaml.Unmarshal(b, &wf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		_, onPR := wf.On["pull_request"]
		for name, j := range wf.Jobs {
			gpu := strings.Contains(strings.ToLower(strings.Join(strings.Fields(toString(j.RunsOn)), " ")), "gpu")
			for _, s := range j.Steps {
				if strings.Contains(s.Run, "${{") {
					t.Errorf("%s job %s: ${{ }} inside run: is a shell injection", f, name)
				}
				if strings.HasPrefix(s.Uses, "perfgate/perfgate") && onPR && s.With["mode"] != "benchmark" {
					t.Errorf("%s job %s: a pull_request job runs mode benchmark only", f, name)
				}
				if strings.HasPrefix(s.Uses, "actions/checkout") && gpu && s.With["persist-credentials"] != "false" {
					t.Errorf("%s job %s: a GPU job keeps no credentials", f, name)
				}
			}
			if onPR && gpu {
				if m, ok := j.Permissions.(map[string]any); !ok || len(m) != 0 {
					t.Errorf("%s job %s: the GPU job of a pull request has permissions: {}", f, name)
				}
			}
		}
	}
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		var s []string
		for _, e := range x {
			s = append(s, toString(e))
		}
		return strings.Join(s, " ")
	}
	return ""
}

// The examples a user copies do not cancel a GPU run for an unrelated
// label; the benchmark job never fails on a verdict (an error included:
// the reporter reads it); the reporter runs after every completed
// benchmark run (a broken one too, so the check is settled), takes its
// scenarios from its own checkout, and a FAIL fails its status, not its job.
func TestExamplesAreCalm(t *testing.T) {
	var pr struct {
		Concurrency struct {
			Group            string
			CancelInProgress bool `yaml:"cancel-in-progress"`
		}
		Jobs map[string]struct {
			Steps []struct{ With map[string]string }
		}
	}
	for _, f := range []string{"pr-perf.yml", "pr-perf-sharded.yml"} {
		b, _ := os.ReadFile("../../docs/examples/" + f)
		pr.Concurrency.Group, pr.Concurrency.CancelInProgress, pr.Jobs = "", false, nil
		if err := yaml.Unmarshal(b, &pr); err != nil {
			t.Fatal(err)
		}
		if pr.Concurrency.CancelInProgress && !strings.Contains(pr.Concurrency.Group, "github.event.label.name") {
			t.Errorf("%s: any label would cancel a GPU run: %q", f, pr.Concurrency.Group)
		}
		failOn := ""
		for _, j := range pr.Jobs {
			for _, s := range j.Steps {
				if s.With["mode"] == "benchmark" {
					failOn = s.With["fail-on"]
				}
			}
		}
		if failOn != "never" {
			t.Errorf("%s: the benchmark job must succeed whatever the verdict (fail-on: never), got %q", f, failOn)
		}
	}
	var b []byte
	var rep struct {
		Jobs map[string]struct {
			If    string
			Steps []struct {
				Uses string
				With map[string]string
			}
		}
	}
	b, _ = os.ReadFile("../../docs/examples/pr-perf-report.yml")
	if err := yaml.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	for name, j := range rep.Jobs {
		if strings.Contains(j.If, "conclusion") {
			t.Errorf("pr-perf-report.yml job %s skips broken benchmark runs, whose checks then wait forever: if %q", name, j.If)
		}
		for _, st := range j.Steps {
			if st.With["mode"] == "report" && (!strings.HasPrefix(st.With["scenarios"], "base/") || st.With["fail-on"] == "never") {
				t.Errorf("pr-perf-report.yml job %s: the reporter's scenarios from its own checkout (base/…), and a FAIL a failing status (not fail-on: never), got %v", name, st.With)
			}
		}
	}
	// A release is judged by the default branch's scenarios, never the
	// candidate's own.
	b, _ = os.ReadFile("../../docs/examples/release-gate.yml")
	if !strings.Contains(string(b), "scenarios: base/") {
		t.Errorf("release-gate.yml takes its scenarios from the candidate it judges")
	}
}
