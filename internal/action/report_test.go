package action

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
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
	// slow 0 is a forgery: the candidate's trials are the baseline's
	copied := slow == 0
	if copied {
		slow = 1
	}
	for i := range 4 {
		seed := uint64(20 + i)
		if copied {
			seed = uint64(10 + i)
		}
		reporttest.WriteRun(t, filepath.Join(root, "b", fmt.Sprintf("trial-%02d", i+1)), "baseline", uint64(10+i), 1)
		reporttest.WriteRun(t, filepath.Join(root, "c", fmt.Sprintf("trial-%02d", i+1)), "candidate", seed, slow)
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
func writeResults(t *testing.T, dir, base, head string, pr int, f scenarioFixture, forge func(*gh.Results)) {
	t.Helper()
	if err := os.CopyFS(filepath.Join(dir, "ab", "fixture"), os.DirFS(f.dir)); err != nil {
		t.Fatal(err)
	}
	r := gh.Results{Set: "fixture", Profile: "pr", PR: pr, BaseSHA: base, HeadSHA: head, BaseRef: "main",
		Verdict: f.verdict, Scenarios: []gh.ResultScenario{{Name: "fixture", Dir: "ab/fixture"}}}
	if forge != nil {
		forge(&r)
	}
	if err := gh.WriteResults(dir, r); err != nil {
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

// runEvent is a workflow_run of the fake's own repository (o/r, id 1) on
// branch pr, listing prs.
func runEvent(head string, prs ...int) string { return forkRunEvent(head, "o/r", 1, prs...) }

// forkRunEvent is a workflow_run whose head is repository repo (id) on
// branch pr; a fork's run lists no pull request.
func forkRunEvent(head, repo string, id int, prs ...int) string {
	var list []string
	for _, n := range prs {
		list = append(list, fmt.Sprintf(`{"number": %d}`, n))
	}
	return fmt.Sprintf(`{"workflow_run": {"head_sha": %q, "head_branch": "pr", "head_repository": {"id": %d, "full_name": %q},
		"repository": {"id": 1, "full_name": "o/r"}, "pull_requests": [%s]}}`, head, id, repo, strings.Join(list, ","))
}

// reporterScenario writes the reporter's own copy of the fixture's
// scenario (from the base branch), with extra appended.
func reporterScenario(t *testing.T, extra string) string {
	t.Helper()
	// (the input is split at commas and spaces, which a test's name has)
	dir, err := os.MkdirTemp("", "reporter")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := filepath.Join(dir, "fixture.yaml")
	if err := os.WriteFile(p, []byte(reporttest.Scenario+extra), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Mode report, as a table over the fake GitHub: what it publishes, and
// what it refuses, for each shape of artifact and event — deterministic, no
// engine and no trial. The refusals are the attacks a fork's benchmark job
// could make with the artifact it uploads.
func TestReportMode(t *testing.T) {
	repo, base, head := repoOf(t)
	other := strings.Repeat("3", 40)
	// Drawn once: a comparison's charts are most of a case's time.
	fixtures := map[float64]scenarioFixture{1: newScenarioFixture(t, base, head, 1), 1.3: newScenarioFixture(t, base, head, 1.3),
		0: newScenarioFixture(t, base, head, 0)}
	for _, c := range []struct {
		name       string
		event      string
		payload    string
		pr         int             // the pull request the artifact names
		pullHead   string          // the pull request's head on GitHub now
		pull       githubtest.Pull // the pull request's head repository and branch (default the fake's own, branch pr)
		slow       float64         // the candidate's slowdown in the artifact (0: the baseline's trials copied)
		noResults  bool
		manifest   func(*gh.Results) // a forged manifest
		reporter   string            // appended to the reporter's scenario file
		inputs     map[string]string
		faults     []*githubtest.Fault // the API's answers instead
		settled    bool                // no report, but an error status
		passChart  bool                // the artifact's change chart is a passing one's
		wantErr    func(error) bool
		wantStatus string // the status set on head ("" none)
		wantInBody []string
	}{
		{name: "a pass is commented and checked green", event: "workflow_run", payload: runEvent(head, 7), pr: 7, pullHead: head, slow: 1,
			wantStatus: gh.StatusSuccess, wantInBody: []string{"perfgate: PASS", "Pull request #7", "merge base with main"}},
		{name: "a regression fails the check, not the reporter's job", event: "workflow_run", payload: runEvent(head, 7), pr: 7, pullHead: head, slow: 1.3,
			wantStatus: gh.StatusFailure, wantInBody: []string{"perfgate: FAIL"}},
		{name: "a head that moved on is said, the status goes to the commit measured", event: "workflow_run", payload: runEvent(head, 7), pr: 7, pullHead: other, slow: 1,
			wantStatus: gh.StatusSuccess, wantInBody: []string{"the pull request's head has moved on"}},
		{name: "a fork's run, which lists no pull request, reports to its own", event: "workflow_run", payload: forkRunEvent(head, "fork/r", 2), pr: 7, pullHead: head,
			pull: githubtest.Pull{HeadRepo: "fork/r", HeadRepoID: 2, HeadRef: "pr"}, slow: 1, wantStatus: gh.StatusSuccess, wantInBody: []string{"perfgate: PASS"}},
		{name: "a forged change chart is not published: the reporter draws its own", event: "workflow_run", payload: runEvent(head, 7), pr: 7, pullHead: head, slow: 1.3,
			passChart: true, wantStatus: gh.StatusFailure, wantInBody: []string{"perfgate: FAIL", "change.svg"}},
		{name: "an artifact naming another pull request is refused", event: "workflow_run", payload: runEvent(head, 7), pr: 8, pullHead: head, slow: 1,
			wantErr: isUsage},
		{name: "a fork's artifact naming another repository's pull request is refused", event: "workflow_run", payload: forkRunEvent(head, "fork/r", 2), pr: 7, pullHead: head,
			pull: githubtest.Pull{HeadRef: "pr"}, slow: 1, wantErr: isUsage},
		{name: "a fork's artifact naming another branch's pull request is refused", event: "workflow_run", payload: forkRunEvent(head, "fork/r", 2), pr: 7, pullHead: head,
			pull: githubtest.Pull{HeadRepo: "fork/r", HeadRepoID: 2, HeadRef: "other"}, slow: 1, wantErr: isUsage},
		{name: "a fork renamed to the name of another is told apart by its id", event: "workflow_run", payload: forkRunEvent(head, "fork/r", 2), pr: 7, pullHead: head,
			pull: githubtest.Pull{HeadRepo: "fork/r", HeadRepoID: 3, HeadRef: "pr"}, slow: 1, wantErr: isUsage},
		{name: "a deleted fork's pull request is refused", event: "workflow_run", payload: forkRunEvent(head, "fork/r", 2), pr: 7, pullHead: head,
			pull: githubtest.Pull{HeadRepo: "-", HeadRef: "pr"}, slow: 1, wantErr: isUsage},
		{name: "an artifact of another commit is refused", event: "workflow_run", payload: runEvent(other, 7), pr: 7, pullHead: head, slow: 1,
			wantErr: isUsage},
		{name: "an artifact of another scenario set is refused", event: "workflow_run", payload: runEvent(head, 7), pr: 7, pullHead: head, slow: 1,
			manifest: func(r *gh.Results) { r.Set = "nightly" }, wantErr: isUsage},
		{name: "an artifact listing no scenario cannot pass", event: "workflow_run", payload: runEvent(head, 7), pr: 7, pullHead: head, slow: 1,
			manifest: func(r *gh.Results) { r.Scenarios = nil }, wantErr: isUsage},
		{name: "an artifact comparing the head with itself is refused", event: "workflow_run", payload: runEvent(head, 7), pr: 7, pullHead: head, slow: 1,
			manifest: func(r *gh.Results) { r.BaseSHA = r.HeadSHA }, wantErr: isUsage},
		{name: "an artifact decided by rules other than the base branch's is refused", event: "workflow_run", payload: runEvent(head, 7), pr: 7, pullHead: head, slow: 1,
			reporter: "gate:\n    alpha: 0.01\n", wantErr: isUsage},
		{name: "an artifact whose candidate trials are the baseline's is refused", event: "workflow_run", payload: runEvent(head, 7), pr: 7, pullHead: head, slow: 0,
			wantErr: isUsage},
		{name: "the status context is the reporter's, not the artifact's", event: "workflow_run", payload: runEvent(head, 7), pr: 7, pullHead: head, slow: 1,
			inputs: map[string]string{"status-context": "perfgate/nightly"}, wantErr: isUsage},
		{name: "a pull request that cannot be read still ends in an error status", event: "workflow_run", payload: runEvent(head, 7), pr: 7, pullHead: head, slow: 1,
			faults: []*githubtest.Fault{{Method: "GET", Path: "/pulls/7", Status: 502, Message: "Bad Gateway", Times: 4}}, wantErr: func(err error) bool { return err != nil }},
		{name: "report runs only on workflow_run", event: "pull_request", payload: `{"number": 7}`, pr: 7, pullHead: head, slow: 1,
			wantErr: isUsage},
		{name: "no results: nothing to report, nothing published", event: "workflow_run", payload: runEvent(head, 7), noResults: true},
		{name: "a benchmark run that broke before its results still settles the check", event: "workflow_run",
			payload: strings.Replace(runEvent(head, 7), `"head_branch"`, `"conclusion": "failure", "head_branch"`, 1), noResults: true,
			inputs: map[string]string{"fail-on": "never"}, settled: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := githubtest.New("o", "r")
			defer srv.Close()
			srv.Git = repo
			srv.Faults = c.faults
			p := c.pull
			p.Number, p.HeadSHA, p.Title, p.BaseRef = 7, c.pullHead, "Faster decode", "main"
			p.HeadRef = cmp.Or(p.HeadRef, "pr")
			srv.Pulls[7] = &p
			results := t.TempDir()
			if !c.noResults {
				writeResults(t, results, base, head, c.pr, fixtures[c.slow], c.manifest)
			}
			if c.passChart {
				b, err := os.ReadFile(filepath.Join(fixtures[1].dir, "plots", "change.svg"))
				if err != nil || !strings.Contains(string(b), "PASS") {
					t.Fatalf("the passing fixture's chart: %v", err)
				}
				os.WriteFile(filepath.Join(results, "ab", "fixture", "plots", "change.svg"), b, 0o644)
			}
			in := map[string]string{"mode": "report", "github-token": githubtest.InstallationToken, "output-dir": results, "scenarios": reporterScenario(t, c.reporter)}
			maps.Copy(in, c.inputs)
			err, _, outputs := runAction(t, srv, c.event, c.payload, in)
			switch {
			case c.wantErr == nil && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.wantErr != nil && !c.wantErr(err):
				t.Fatalf("error %v is not the one expected", err)
			}
			comments, _, statuses := srv.Snapshot()
			refused := c.wantErr != nil && c.event == "workflow_run" && isUsage(err)
			if refused || c.faults != nil || c.settled {
				// refused or unreadable: an error status on the run's own
				// head in the reporter's context, no comment
				if len(comments) != 0 || len(statuses) != 1 || statuses[0].State != gh.StatusError || statuses[0].Context != "perfgate/"+cmp.Or(strings.TrimPrefix(c.inputs["status-context"], "perfgate/"), "fixture") {
					t.Errorf("a report not made published: %d comments, statuses %+v", len(comments), statuses)
				}
				if !strings.Contains(outputs, "verdict<<") || !strings.Contains(outputs, "error") {
					t.Errorf("no error verdict output: %q", outputs)
				}
				return
			}
			if c.wantStatus == "" {
				if len(comments) != 0 || len(statuses) != 0 {
					t.Errorf("published: %d comments, %+v", len(comments), statuses)
				}
				return
			}
			if len(statuses) != 1 || statuses[0].SHA != head || statuses[0].State != c.wantStatus || statuses[0].Context != "perfgate/fixture" {
				t.Errorf("statuses %+v, want one %s on %.12s", statuses, c.wantStatus, head)
			}
			if len(comments) != 1 || comments[0].Issue != 7 {
				t.Fatalf("comments %+v, want one on #7", comments)
			}
			for _, w := range c.wantInBody {
				if !strings.Contains(comments[0].Body, w) {
					t.Errorf("the comment lacks %q:\n%s", w, comments[0].Body)
				}
			}
			if !strings.Contains(outputs, "verdict<<") {
				t.Errorf("no verdict output: %q", outputs)
			}
			// the change chart on the assets branch is drawn from the
			// rechecked outcome
			files, _, _ := srv.Branch("perfgate-assets")
			var chart string
			for p, b := range files {
				if strings.HasSuffix(p, "/change.svg") {
					chart = string(b)
				}
			}
			if want := "Change per metric: " + map[string]string{gh.StatusSuccess: "PASS", gh.StatusFailure: "FAIL"}[c.wantStatus]; !strings.Contains(chart, want) {
				t.Errorf("the published change chart lacks %q (%d bytes)", want, len(chart))
			}
		})
	}
}

func isUsage(err error) bool      { var u *fault.UsageError; return errors.As(err, &u) }
func isRegression(err error) bool { var r *fault.RegressionError; return errors.As(err, &r) }
