package action

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sethvargo/go-githubactions"

	"github.com/perfgate/perfgate/internal/ab"
	"github.com/perfgate/perfgate/internal/fault"
	gh "github.com/perfgate/perfgate/internal/github"
	"github.com/perfgate/perfgate/internal/history"
	"github.com/perfgate/perfgate/internal/metric"
)

// readVars reads the Action's inputs from the given INPUT_* values, as
// action.yml passes them.
func readVars(t *testing.T, vars map[string]string) (inputs, error) {
	t.Helper()
	a := githubactions.New(githubactions.WithGetenv(func(k string) string { return vars[k] }))
	return readInputs(a)
}

func TestInputsDefaultsAndTheScenarioSet(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"pr.yaml", "long.yaml"} {
		os.WriteFile(filepath.Join(dir, f), []byte("name: x\n"), 0o644)
	}
	in, err := readVars(t, map[string]string{"INPUT_SCENARIOS": filepath.Join(dir, "pr.yaml"), "INPUT_VLLM_PATH": "/src/vllm"})
	if err != nil {
		t.Fatal(err)
	}
	// pr mode, sequential (no trials input), comment on, fail-on fail, and
	// the set (comment marker, status context) named after the one file
	if in.mode != "pr" || in.trialsSet || !in.comment || in.failOn != "fail" || in.outputDir != "perfgate-results" ||
		in.set != "pr" || in.statusContext != "perfgate/pr" || in.contextGiven || in.allowForkCode || in.bisect || in.atOnce != history.DefaultAtOnce {
		t.Errorf("defaults: %+v", in)
	}
	// several files: the set is their folder; a glob and commas both list
	in, err = readVars(t, map[string]string{"INPUT_SCENARIOS": filepath.Join(dir, "*.yaml"), "INPUT_VLLM_PATH": "/src/vllm", "INPUT_TRIALS": "4", "INPUT_CLEAN": "true"})
	if err != nil {
		t.Fatal(err)
	}
	if len(in.scenarios) != 2 || in.set != filepath.Base(dir) || in.trials != 4 || !in.trialsSet || !in.clean {
		t.Errorf("glob: %+v", in)
	}
	// a given status context names the set, made safe for a branch path
	in, err = readVars(t, map[string]string{"INPUT_MODE": "report", "INPUT_STATUS_CONTEXT": "perfgate/nightly ../x", "INPUT_SCENARIOS": filepath.Join(dir, "pr.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	if !in.contextGiven || in.statusContext != "perfgate/nightly ../x" || strings.ContainsAny(in.set, " /") || strings.Contains(in.set, "..") {
		t.Errorf("status context: %+v", in)
	}
}

func TestInputsRefusedAllAtOnce(t *testing.T) {
	_, err := readVars(t, map[string]string{"INPUT_MODE": "track", "INPUT_FAIL_ON": "sometimes", "INPUT_TRIALS": "0",
		"INPUT_COMMENT": "maybe", "INPUT_SCENARIOS": "/no/such/*.yaml", "INPUT_HISTORY_AT_ONCE": "0.5"})
	var ue *fault.UsageError
	if !errors.As(err, &ue) {
		t.Fatalf("want a usage error (exit 2), got %v", err)
	}
	for _, want := range []string{`fail-on "sometimes"`, `trials "0"`, `comment "maybe"`, `"/no/such/*.yaml" matches no file`,
		"vllm-path:", "history-store: mode track needs a store", `history-at-once "0.5"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
	if _, err := readVars(t, map[string]string{"INPUT_MODE": "deploy"}); err == nil || !strings.Contains(err.Error(), `mode "deploy": one of pr, benchmark, report, release, track`) {
		t.Errorf("mode: %v", err)
	}
}

// The work dir is split by whose code a run runs, never by whether it
// holds a token: a fork's mode pr or benchmark with the default token
// landed beside the nightly's environments when it was.
func TestTrustRootIsWhoseCodeRuns(t *testing.T) {
	for _, c := range []struct {
		ev   gh.Event
		want string
	}{
		{gh.Event{Name: "pull_request", Fork: true}, "fork"},
		{gh.Event{Name: "pull_request_target", Fork: true}, "fork"},
		{gh.Event{Name: "pull_request"}, "pull-request"},
		{gh.Event{Name: "push"}, "trusted"},
		{gh.Event{Name: "schedule"}, "trusted"},
		{gh.Event{Name: "workflow_dispatch"}, "trusted"},
		{gh.Event{Name: "issue_comment"}, "other-issue_comment"},
	} {
		if got := trustRoot(&c.ev); got != c.want {
			t.Errorf("%s (fork %v): %q, want %q", c.ev.Name, c.ev.Fork, got, c.want)
		}
	}
}

func TestTrackStoreOnABranchNeedsAToken(t *testing.T) {
	if _, err := trackStore(inputs{historyStore: "git:perfgate-history"}, nil, nil); err == nil || !strings.Contains(err.Error(), "give github-token") {
		t.Errorf("got %v", err)
	}
	if s, err := trackStore(inputs{historyStore: t.TempDir()}, nil, nil); err != nil || s == nil {
		t.Errorf("a directory store: %v", err)
	}
}

// Mode benchmark ends green on an error (a failed install, a broken
// build): the reporter job, which runs only after it, reads the error from
// the results and settles the check. Mode report's job says only whether
// it reported: the verdict is the status's. fail-on never leaves the
// verdict to the status in every mode; otherwise an error fails the step.
func TestErrorVerdictExit(t *testing.T) {
	for _, c := range []struct {
		mode, failOn string
		fails        bool
	}{{"benchmark", "fail", false}, {"pr", "never", false}, {"pr", "fail", true}, {"report", "fail", false}} {
		dir := t.TempDir()
		vars := map[string]string{"GITHUB_OUTPUT": filepath.Join(dir, "out"), "GITHUB_STEP_SUMMARY": filepath.Join(dir, "sum")}
		a := githubactions.New(githubactions.WithGetenv(func(k string) string { return vars[k] }), githubactions.WithWriter(io.Discard))
		rep := &gh.Report{Set: "s", Verdict: metric.Error, Error: "the install failed"}
		err := finishAction(a, Env{Env: ab.Env{Stdout: io.Discard}}, inputs{mode: c.mode, failOn: c.failOn, outputDir: dir}, rep, gh.Published{}, dir)
		if (err != nil) != c.fails {
			t.Errorf("mode %s, fail-on %s: %v", c.mode, c.failOn, err)
		}
		if b, _ := os.ReadFile(vars["GITHUB_OUTPUT"]); !strings.Contains(string(b), "error") {
			t.Errorf("mode %s: the verdict output: %q", c.mode, b)
		}
	}
}
