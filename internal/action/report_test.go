package action

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfgate/perfgate/internal/ab"
	"github.com/perfgate/perfgate/internal/compare"
	"github.com/perfgate/perfgate/internal/fault"
	gh "github.com/perfgate/perfgate/internal/github"
	"github.com/perfgate/perfgate/internal/github/githubtest"
	"github.com/perfgate/perfgate/internal/metric"
	"github.com/perfgate/perfgate/internal/report/reporttest"
)

// git runs git in dir and returns its output.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// repoOf is a repository for the fake's compare: main at base, and a
// pull request branch one commit ahead at head.
func repoOf(t *testing.T) (dir, base, head string) {
	dir = t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	git(t, dir, "commit", "-q", "--allow-empty", "-m", "base")
	base = git(t, dir, "rev-parse", "HEAD")
	git(t, dir, "checkout", "-q", "-b", "pr")
	git(t, dir, "commit", "-q", "--allow-empty", "-m", "change")
	head = git(t, dir, "rev-parse", "HEAD")
	return dir, base, head
}

// scenarioFixture is one scenario's folder as a benchmark job writes it:
// comparison.json and its charts, from canned trials (four a side, the
// candidate slow times slower) compared as commits base and head.
type scenarioFixture struct {
	dir     string
	verdict metric.Verdict
}

func newScenarioFixture(t *testing.T, base, head string, slow float64) scenarioFixture {
	t.Helper()
	root := t.TempDir()
	for i := range 4 {
		reporttest.WriteRun(t, filepath.Join(root, "b", fmt.Sprintf("trial-%02d", i+1)), "baseline", uint64(10+i), 1)
		reporttest.WriteRun(t, filepath.Join(root, "c", fmt.Sprintf("trial-%02d", i+1)), "candidate", uint64(20+i), slow)
	}
	bt, err := compare.LoadTrials([]string{filepath.Join(root, "b")})
	if err != nil {
		t.Fatal(err)
	}
	ct, err := compare.LoadTrials([]string{filepath.Join(root, "c")})
	if err != nil {
		t.Fatal(err)
	}
	c, err := compare.Compare(bt, ct, compare.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c.Commits = map[string]string{"baseline": base, "candidate": head}
	dir := filepath.Join(root, "out")
	if err := compare.Write(context.Background(), c, bt, ct, dir); err != nil {
		t.Fatal(err)
	}
	return scenarioFixture{dir, c.Outcome.Verdict}
}

// writeResults writes what a benchmark job uploads: the scenario's folder
// and the manifest naming pull request pr.
func writeResults(t *testing.T, dir, base, head string, pr int, f scenarioFixture) {
	t.Helper()
	if err := os.CopyFS(filepath.Join(dir, "ab", "fixture"), os.DirFS(f.dir)); err != nil {
		t.Fatal(err)
	}
	if err := gh.WriteResults(dir, gh.Results{Set: "fixture", Profile: "pr", PR: pr, BaseSHA: base, HeadSHA: head, BaseRef: "main",
		Verdict: f.verdict, Scenarios: []gh.ResultScenario{{Name: "fixture", Dir: "ab/fixture"}}}); err != nil {
		t.Fatal(err)
	}
}

// runAction runs perfgate action with the inputs, for an event, against
// the fake; it returns the error, the workflow commands written and the
// step's outputs file.
func runAction(t *testing.T, srv *githubtest.Server, event, payload string, inputs map[string]string) (error, string, string) {
	t.Helper()
	dir := t.TempDir()
	ev, out, sum := filepath.Join(dir, "event.json"), filepath.Join(dir, "output"), filepath.Join(dir, "summary.md")
	os.WriteFile(ev, []byte(payload), 0o644)
	vars := srv.ActionVars(event, ev, out, sum)
	for k, v := range inputs {
		vars["INPUT_"+strings.ToUpper(strings.ReplaceAll(k, "-", "_"))] = v
	}
	var stdout bytes.Buffer
	err := Run(context.Background(), Env{Env: ab.Env{Getenv: func(k string) string { return vars[k] }, Stdout: &stdout, Stderr: &stdout}})
	o, _ := os.ReadFile(out)
	return err, stdout.String(), string(o)
}

func runEvent(head string, prs ...int) string {
	var list []string
	for _, n := range prs {
		list = append(list, fmt.Sprintf(`{"number": %d}`, n))
	}
	return `{"workflow_run": {"head_sha": "` + head + `", "head_branch": "pr", "pull_requests": [` + strings.Join(list, ",") + `]}}`
}

// Mode report, as a table over the fake GitHub: what it publishes, and
// what it refuses, for each shape of artifact and event — deterministic, no
// engine and no trial.
func TestReportMode(t *testing.T) {
	repo, base, head := repoOf(t)
	other := strings.Repeat("3", 40)
	// Drawn once: a comparison's charts are most of a case's time.
	fixtures := map[float64]scenarioFixture{1: newScenarioFixture(t, base, head, 1), 1.3: newScenarioFixture(t, base, head, 1.3)}
	for _, c := range []struct {
		name       string
		event      string
		payload    string
		pr         int     // the pull request the artifact names
		pullHead   string  // the pull request's head on GitHub now
		slow       float64 // the candidate's slowdown in the artifact
		noResults  bool
		wantErr    func(error) bool
		wantStatus string // the status set on head ("" none)
		wantInBody []string
	}{
		{name: "a pass is commented and checked green", event: "workflow_run", payload: runEvent(head, 7), pr: 7, pullHead: head, slow: 1,
			wantStatus: gh.StatusSuccess, wantInBody: []string{"perfgate: PASS", "Pull request #7", "merge base with main"}},
		{name: "a regression fails the check and the step", event: "workflow_run", payload: runEvent(head, 7), pr: 7, pullHead: head, slow: 1.3,
			wantErr: isRegression, wantStatus: gh.StatusFailure, wantInBody: []string{"perfgate: FAIL"}},
		{name: "a head that moved on is said, the status goes to the commit measured", event: "workflow_run", payload: runEvent(head, 7), pr: 7, pullHead: other, slow: 1,
			wantStatus: gh.StatusSuccess, wantInBody: []string{"the pull request's head has moved on"}},
		{name: "an artifact naming another pull request is refused", event: "workflow_run", payload: runEvent(head, 7), pr: 8, pullHead: head, slow: 1,
			wantErr: isUsage},
		{name: "an artifact of another commit is refused", event: "workflow_run", payload: runEvent(other, 7), pr: 7, pullHead: head, slow: 1,
			wantErr: isUsage},
		{name: "report runs only on workflow_run", event: "pull_request", payload: `{"number": 7}`, pr: 7, pullHead: head, slow: 1,
			wantErr: isUsage},
		{name: "no results: nothing to report, nothing published", event: "workflow_run", payload: runEvent(head, 7), noResults: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := githubtest.New("o", "r")
			defer srv.Close()
			srv.Git = repo
			srv.Pulls[7] = &githubtest.Pull{Number: 7, HeadSHA: c.pullHead, Title: "Faster decode", HeadRef: "pr", BaseRef: "main"}
			results := t.TempDir()
			if !c.noResults {
				writeResults(t, results, base, head, c.pr, fixtures[c.slow])
			}
			err, _, outputs := runAction(t, srv, c.event, c.payload, map[string]string{"mode": "report", "github-token": githubtest.InstallationToken, "output-dir": results})
			switch {
			case c.wantErr == nil && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.wantErr != nil && !c.wantErr(err):
				t.Fatalf("error %v is not the one expected", err)
			}
			comments, _, statuses := srv.Snapshot()
			if c.wantStatus == "" {
				if len(statuses) != 0 && c.wantErr != nil {
					t.Errorf("a refused artifact set statuses %+v", statuses)
				}
				if c.noResults && (len(comments) != 0 || len(statuses) != 0) {
					t.Errorf("published without results: %d comments, %+v", len(comments), statuses)
				}
				return
			}
			if len(statuses) != 1 || statuses[0].SHA != head || statuses[0].State != c.wantStatus || statuses[0].Context != "perfgate/fixture" {
				t.Errorf("statuses %+v, want one %s on %.12s", statuses, c.wantStatus, head)
			}
			if len(comments) != 1 {
				t.Fatalf("%d comments", len(comments))
			}
			for _, w := range c.wantInBody {
				if !strings.Contains(comments[0].Body, w) {
					t.Errorf("the comment lacks %q:\n%s", w, comments[0].Body)
				}
			}
			if !strings.Contains(outputs, "verdict<<") {
				t.Errorf("no verdict output: %q", outputs)
			}
		})
	}
}

func isUsage(err error) bool      { var u *fault.UsageError; return errors.As(err, &u) }
func isRegression(err error) bool { var r *fault.RegressionError; return errors.As(err, &r) }
