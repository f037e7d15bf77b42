package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/perfgate/perfgate/internal/compare"
	gh "github.com/perfgate/perfgate/internal/github"
	"github.com/perfgate/perfgate/internal/github/githubtest"
	"github.com/perfgate/perfgate/internal/report/reporttest"
	"github.com/perfgate/perfgate/internal/scenario"
)

// actionEnv is what a workflow step gives perfgate action: inputs and the
// GITHUB_* variables, with output and summary files.
func actionEnv(t *testing.T, srv *githubtest.Server, event, eventJSON string, inputs map[string]string) (map[string]string, string, string) {
	t.Helper()
	dir := t.TempDir()
	ev := filepath.Join(dir, "event.json")
	os.WriteFile(ev, []byte(eventJSON), 0o644)
	out, sum := filepath.Join(dir, "output"), filepath.Join(dir, "summary.md")
	env := srv.ActionVars(event, ev, out, sum)
	for k, v := range inputs {
		env["INPUT_"+strings.ToUpper(strings.ReplaceAll(k, "-", "_"))] = v
	}
	return env, out, sum
}

func outputs(t *testing.T, path string) map[string]string {
	b, _ := os.ReadFile(path)
	m := map[string]string{}
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		// name<<DELIM / value / DELIM
		if name, delim, ok := strings.Cut(lines[i], "<<"); ok && i+2 < len(lines) {
			m[name] = lines[i+1]
			for i++; i < len(lines) && lines[i] != delim; i++ {
			}
		}
	}
	return m
}

func prEvent(base, head string) string {
	return `{"number": 7, "pull_request": {"number": 7, "title": "Speed up <decode> --> @everyone",
	  "base": {"sha": "` + base + `", "ref": "main", "repo": {"full_name": "vllm-project/vllm"}},
	  "head": {"sha": "` + head + `", "ref": "perf/<b>x</b>", "repo": {"full_name": "vllm-project/vllm"}}}}`
}

// forkPREvent is prEvent from a fork's branch.
func forkPREvent(base, head string) string {
	return strings.Replace(prEvent(base, head), `"head": {"sha": "`+head+`", "ref": "perf/<b>x</b>", "repo": {"full_name": "vllm-project/vllm"}}`,
		`"head": {"sha": "`+head+`", "ref": "perf/<b>x</b>", "repo": {"id": 99, "full_name": "mallory/vllm"}}`, 1)
}

func TestActionPullRequestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two A/Bs")
	}
	repo, first, slow := fakeRepo(t)
	featureTip := sh(t, repo, "git", "rev-parse", "feature")
	srv := githubtest.New("vllm-project", "vllm")
	defer srv.Close()
	srv.PerPage = 1
	srv.AddComment(7, "mallory", gh.Marker("s")+" fake verdict: PASS")
	scen := abFileAA(t, "30s", "reset") // its same-code benchmark must pass or warn
	work := t.TempDir()
	results := filepath.Join(t.TempDir(), "results")
	// The runner's credentials are in perfgate's real environment too, as on
	// a runner; the install and the PR's vllm dump what they can see.
	t.Setenv("INPUT_GITHUB_TOKEN", githubtest.InstallationToken)
	t.Setenv("ACTIONS_RUNTIME_TOKEN", "runtime-credential")
	dumpEnv := installFake + ` && env > "$PERFGATE_ENV_DIR/install.env" && sed -i 's|^exec env|env > "$PERFGATE_ENV_DIR/serve.env"\nexec env|' "$PERFGATE_ENV_DIR/bin/vllm"`
	// no trials input: sequential, as a PR check runs by default
	inputs := map[string]string{"mode": "pr", "scenarios": scen, "vllm-path": repo, "install-command": dumpEnv,
		"github-token": githubtest.InstallationToken, "work-dir": work, "output-dir": results}

	// mode pr: merge base of the head and the base branch tip (the first commit) against the slow head.
	env, outFile, sumFile := actionEnv(t, srv, "pull_request", prEvent(featureTip, slow), inputs)
	r := runCLI(t, context.Background(), env, "action")
	if r.code != ExitRegression {
		t.Fatalf("mode pr: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	os.Unsetenv("INPUT_GITHUB_TOKEN") // the jobs below hold none (t.Setenv restores it)
	os.Unsetenv("ACTIONS_RUNTIME_TOKEN")
	if strings.Contains(r.stdout+r.stderr, githubtest.InstallationToken) {
		t.Error("the token reached the log")
	}
	var dumps []string
	filepath.WalkDir(work, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".env") {
			dumps = append(dumps, p)
		}
		return nil
	})
	if len(dumps) < 2 {
		t.Errorf("the planted vllm dumped nothing: %v", dumps)
	}
	for _, d := range dumps {
		b, _ := os.ReadFile(d)
		if strings.Contains(string(b), githubtest.InstallationToken) || strings.Contains(string(b), "runtime-credential") {
			t.Errorf("a credential reached the pull request's code: %s", d)
		}
	}
	cs, _, st := srv.Snapshot()
	var mine []githubtest.Comment
	for _, c := range cs {
		if c.User == "github-actions[bot]" {
			mine = append(mine, c)
		}
	}
	if len(mine) != 1 || !strings.HasPrefix(mine[0].Body, gh.Marker("s")) || !strings.Contains(mine[0].Body, "perfgate: FAIL") ||
		!strings.Contains(mine[0].Body, "median\\_tpot\\_ms") || !strings.Contains(mine[0].Body, "/change.svg") || strings.Contains(mine[0].Body, "xychart-beta") ||
		!strings.Contains(mine[0].Body, "https://raw.githubusercontent.com/vllm-project/vllm/") || !strings.Contains(mine[0].Body, "actions/runs/77") {
		t.Fatalf("comment: %+v", mine)
	}
	t.Logf("the comment:\n%s", mine[0].Body)
	if !regexp.MustCompile(`\(\d+ \+ \d+ trials; stopped after \d+ trials per side: a regression is clear\)`).MatchString(mine[0].Body) {
		t.Error("the comment must say how many trials ran and why they stopped")
	}
	for _, bad := range []string{"<decode>", "<b>x</b>", "@everyone"} {
		if strings.Contains(mine[0].Body, bad) {
			t.Errorf("%q reached the comment unescaped", bad)
		}
	}
	if !strings.Contains(mine[0].Body, first[:12]) || !strings.Contains(mine[0].Body, slow[:12]) {
		t.Error("the comment names both commits")
	}
	last := st[len(st)-1]
	if len(st) != 2 || st[0].State != "pending" || !strings.Contains(st[0].TargetURL, "actions/runs/77") || last.State != "failure" || last.Context != "perfgate/s" || last.SHA != slow {
		t.Errorf("statuses %+v", st)
	}
	files, _, _ := srv.Branch("perfgate-assets")
	var svgs int
	for p := range files {
		if strings.HasPrefix(p, "pr-7/"+slow+"/ab-fake/") && strings.HasSuffix(p, ".svg") {
			svgs++
		}
	}
	if svgs == 0 {
		t.Errorf("assets branch: %v", files)
	}
	o := outputs(t, outFile)
	if o["verdict"] != "fail" || o["comment-url"] == "" || o["summary-json"] == "" || o["report-dir"] == "" {
		t.Errorf("outputs %v", o)
	}
	var sj struct{ Verdict string }
	b, _ := os.ReadFile(o["summary-json"])
	if json.Unmarshal(b, &sj); sj.Verdict != "fail" {
		t.Errorf("summary json %s", b)
	}
	if s, _ := os.ReadFile(sumFile); !strings.Contains(string(s), "perfgate: FAIL") {
		t.Errorf("job summary:\n%s", s)
	}

	// The fork-safe split: benchmark without a token, then report from the
	// artifact in a workflow_run job. The same sticky comment is edited.
	split := filepath.Join(t.TempDir(), "artifact")
	inputs = map[string]string{"mode": "benchmark", "scenarios": scen, "vllm-path": repo, "trials": "4", "install-command": installFake,
		"work-dir": work, "output-dir": split, "fail-on": "never"}
	env, outFile, _ = actionEnv(t, srv, "pull_request", forkPREvent(first, featureTip), inputs)
	before := len(srv.Requests)
	r = runCLI(t, context.Background(), env, "action")
	if v := outputs(t, outFile)["verdict"]; r.code != 0 || (v != "pass" && v != "warn") {
		t.Fatalf("mode benchmark (the same code on both sides): exit %d %v\n%s\n%s", r.code, outputs(t, outFile), r.stdout, r.stderr)
	}
	if len(srv.Requests) != before {
		t.Error("mode benchmark must not call the API")
	}
	// A fork's run never shares environments with a run of this
	// repository's own branches, though the work-dir is the same.
	// (The baseline, the merge base, was installed by the pr run above.)
	if _, err := os.Stat(filepath.Join(work, "fork")); err != nil || strings.Contains(r.stderr, "installed already") {
		t.Errorf("mode benchmark (a fork's code) reused the environments of another trust (%v):\n%s", err, r.stderr)
	}
	// A fork's workflow_run lists no pull request: the artifact's is
	// bound to the run by its head repository and branch.
	runEvent := `{"workflow_run": {"id": 5, "head_sha": "` + featureTip + `", "head_branch": "feature", "event": "pull_request", "conclusion": "success", "pull_requests": [],
	  "head_repository": {"id": 99, "full_name": "mallory/vllm"}, "repository": {"id": 1, "full_name": "vllm-project/vllm"}}}`
	srv.Pulls[7] = &githubtest.Pull{Number: 7, HeadSHA: featureTip, Title: "Docs only", HeadRef: "feature", BaseRef: "main", HeadRepo: "mallory/vllm", HeadRepoID: 99}
	srv.Git = repo // the baseline is checked against the repository's history
	report := map[string]string{"mode": "report", "github-token": githubtest.InstallationToken, "output-dir": split, "scenarios": scen}
	for range 2 {
		env, outFile, _ = actionEnv(t, srv, "workflow_run", runEvent, report)
		if r = runCLI(t, context.Background(), env, "action"); r.code != 0 {
			t.Fatalf("mode report: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	}
	cs, _, st = srv.Snapshot()
	mine = nil
	for _, c := range cs {
		if c.User == "github-actions[bot]" {
			mine = append(mine, c)
		}
	}
	if len(mine) != 1 || strings.Contains(mine[0].Body, "perfgate: FAIL") || !strings.Contains(mine[0].Body, "Docs only") || !strings.Contains(mine[0].Body, "(merge base with main)") {
		t.Fatalf("after the reports, one edited comment: %+v", mine)
	}
	if last := st[len(st)-1]; last.State != "success" || last.SHA != featureTip || last.Context != "perfgate/s" {
		t.Errorf("status %+v (report mode names the check perfgate/<set>, as the benchmark job's set)", last)
	}

	// Transient API errors are retried (502s, a secondary rate limit with
	// Retry-After); a comment that keeps failing still leaves a status, the
	// job summary and the outputs, and exits 1.
	srv.Faults = []*githubtest.Fault{
		{Method: "POST", Path: "/issues/7/comments", Status: 502, Message: "Bad Gateway", Times: 2},
		{Method: "PATCH", Path: "/issues/comments/", Status: 502, Message: "Bad Gateway", Times: 2},
		{Method: "POST", Path: "/statuses/", Status: 403, Message: "You have exceeded a secondary rate limit.", Header: map[string]string{"Retry-After": "1"}, Times: 1},
	}
	nst := len(st)
	env, _, _ = actionEnv(t, srv, "workflow_run", runEvent, report)
	if r = runCLI(t, context.Background(), env, "action"); r.code != 0 {
		t.Fatalf("transient errors: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if _, _, st = srv.Snapshot(); len(st) != nst+1 {
		t.Errorf("after retries, one more status: %d → %d", nst, len(st))
	}
	srv.Faults = []*githubtest.Fault{{Path: "/issues/", Status: 500, Message: "Server Error", Times: 100}}
	env, outFile, sumFile = actionEnv(t, srv, "workflow_run", runEvent, report)
	r = runCLI(t, context.Background(), env, "action")
	if r.code != ExitFailed || !strings.Contains(r.stderr+r.stdout, "the comment on #7") {
		t.Errorf("a comment that keeps failing: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if _, _, st = srv.Snapshot(); st[len(st)-1].State != "success" || len(st) != nst+2 {
		t.Errorf("the status is still set: %+v", st[len(st)-1])
	}
	o = outputs(t, outFile)
	if o["verdict"] != "pass" && o["verdict"] != "warn" {
		t.Errorf("the outputs are still written: %v", o)
	}
	if b, _ := os.ReadFile(sumFile); !strings.Contains(string(b), "perfgate: "+strings.ToUpper(o["verdict"])) {
		t.Errorf("the job summary is still written:\n%s", b)
	}
	srv.Faults = nil

	// A tampered artifact: the verdict softened is refused; nothing of it
	// is published, and the check on the run's head is settled as an error.
	manifest := filepath.Join(split, gh.ResultsFile)
	b, _ = os.ReadFile(manifest)
	os.WriteFile(manifest, []byte(strings.Replace(string(b), `"head_sha": "`+featureTip, `"head_sha": "`+slow, 1)), 0o644)
	before = len(srv.Requests)
	env, _, _ = actionEnv(t, srv, "workflow_run", runEvent, report)
	if r = runCLI(t, context.Background(), env, "action"); r.code != ExitUsage || !strings.Contains(r.stderr, "refused") {
		t.Errorf("tampered artifact: exit %d\n%s", r.code, r.stderr)
	}
	if got := srv.Requests[before:]; len(got) != 1 || got[0] != "POST /repos/vllm-project/vllm/statuses/"+featureTip {
		t.Errorf("a refused artifact: only an error status on the run's head, got %v", got)
	}
	if _, _, st = srv.Snapshot(); st[len(st)-1].State != "error" || st[len(st)-1].Context != "perfgate/s" {
		t.Errorf("a refused artifact's status: %+v", st[len(st)-1])
	}
	// A push during the benchmark: the pull request's head moved on. The
	// results are of the commit the workflow ran on, posted and marked so.
	os.WriteFile(manifest, b, 0o644)
	srv.Pulls[7].HeadSHA = slow
	env, _, _ = actionEnv(t, srv, "workflow_run", runEvent, report)
	if r = runCLI(t, context.Background(), env, "action"); r.code != 0 {
		t.Errorf("PR head moved on: exit %d\n%s", r.code, r.stderr)
	}
	cs, _, st = srv.Snapshot()
	if last := st[len(st)-1]; last.SHA != featureTip {
		t.Errorf("the status belongs to the benchmarked commit: %+v", last)
	}
	if body := cs[len(cs)-1].Body; !strings.Contains(body, "has moved on to "+slow[:12]) {
		t.Errorf("the comment must say the head moved on:\n%s", body)
	}
	// A benchmark run that uploaded nothing (its job was skipped): nothing
	// to report, exit 0.
	env, _, _ = actionEnv(t, srv, "workflow_run", runEvent, map[string]string{"mode": "report", "github-token": githubtest.InstallationToken, "output-dir": t.TempDir(), "scenarios": scen})
	if r = runCLI(t, context.Background(), env, "action"); r.code != 0 || !strings.Contains(r.stdout, "nothing to report") {
		t.Errorf("no results: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if s := survivors(t); len(s) > 0 {
		t.Errorf("processes survived: %v", s)
	}
}

func TestActionReadOnlyTokenAndBadInputs(t *testing.T) {
	srv := githubtest.New("o", "r")
	defer srv.Close()
	// Bad inputs: exit 2, every problem named.
	env, _, _ := actionEnv(t, srv, "pull_request", "{}", map[string]string{"mode": "prr", "fail-on": "sometimes", "comment": "maybe", "bisect": "often", "scenarios": "/no/such/*.yaml"})
	r := runCLI(t, context.Background(), env, "action")
	for _, want := range []string{`mode "prr"`, `fail-on "sometimes"`, `comment "maybe"`, `bisect "often"`, `"/no/such/*.yaml" matches no file`, "vllm-path"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("missing %q in:\n%s", want, r.stderr)
		}
	}
	if r.code != ExitUsage {
		t.Errorf("exit %d", r.code)
	}
	// mode report outside workflow_run is refused.
	dir := t.TempDir()
	scen := writeResultsFixture(t, dir)
	env, _, _ = actionEnv(t, srv, "pull_request", "{}", map[string]string{"mode": "report", "github-token": githubtest.ReadOnlyToken, "output-dir": t.TempDir(), "scenarios": scen})
	if r := runCLI(t, context.Background(), env, "action"); r.code != ExitUsage || !strings.Contains(r.stderr, "workflow_run") {
		t.Errorf("report on pull_request: %d %s", r.code, r.stderr)
	}
	// A read-only token (a fork's) degrades to warnings and the job summary.
	runEvent := `{"workflow_run": {"id": 5, "head_sha": "` + strings.Repeat("2", 40) + `", "pull_requests": []}}`
	env, outFile, sumFile := actionEnv(t, srv, "workflow_run", runEvent, map[string]string{"mode": "report", "github-token": githubtest.ReadOnlyToken, "output-dir": dir, "scenarios": scen})
	r = runCLI(t, context.Background(), env, "action")
	if r.code != 0 || !strings.Contains(r.stdout, "::warning::") || outputs(t, outFile)["verdict"] != "pass" {
		t.Errorf("read-only: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if s, _ := os.ReadFile(sumFile); !strings.Contains(string(s), "perfgate: PASS") {
		t.Errorf("summary %s", s)
	}
}

// writeResultsFixture writes a results folder of one passing scenario
// without a pull request (so the reporter needs no API read), decided by
// the rules of the scenario file it returns (the reporter's own).
func writeResultsFixture(t *testing.T, dir string) (scenarioFile string) {
	t.Helper()
	scenarioFile = filepath.Join(t.TempDir(), "chat.yaml")
	os.WriteFile(scenarioFile, []byte(strings.Replace(reporttest.Scenario, "name: fixture", "name: chat", 1)), 0o644)
	sc, err := scenario.LoadFile(scenarioFile)
	if err != nil {
		t.Fatal(err)
	}
	rules, _ := json.Marshal(compare.GateRules(sc, compare.Options{}))
	base, head := strings.Repeat("1", 40), strings.Repeat("2", 40)
	sdir := filepath.Join(dir, "ab", "chat")
	os.MkdirAll(filepath.Join(sdir, "plots"), 0o755)
	os.WriteFile(filepath.Join(sdir, "comparison.json"), []byte(`{"schema_version":1,"scenario":"chat","baseline":["b"],"candidate":["c"],"environment":"engine sim",
"commits":{"baseline":"`+base+`","candidate":"`+head+`"},"rules":`+string(rules)+`,"outcome":{"verdict":"pass","headline":"PASS","results":[]},"explain":[]}`), 0o644)
	os.WriteFile(filepath.Join(sdir, "plots", "a.svg"), []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`), 0o644)
	if err := gh.WriteResults(dir, gh.Results{Set: "chat", Profile: "pr", BaseSHA: base, HeadSHA: head, Verdict: "pass",
		Scenarios: []gh.ResultScenario{{Name: "chat", Dir: "ab/chat"}}}); err != nil {
		t.Fatal(err)
	}
	return scenarioFile
}

func TestActionTrackMode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs many trials")
	}
	// One point per commit, from a simulator sharing two cores with other
	// tests: thresholds at 15 % (what such a runner's noise asks for, and
	// the smallest step history counts), and a regression far beyond them
	// (+40 % decode). The statistics of small steps are history's own tests.
	repo, first, slow := fakeRepoSlowdown(t, "1.40")
	srv := githubtest.New("vllm-project", "vllm")
	defer srv.Close()
	scen := writeScenario(t, strings.Replace(strings.Replace(abScenarioYAML, "%s", "30s", 1), "%s", "reset", 1)+`gate:
  metrics:
    - {name: median_tpot_ms, warn_pct: 10, fail_pct: 15}
    - {name: median_e2el_ms, warn_pct: 10, fail_pct: 15}
    - {name: output_throughput, warn_pct: 10, fail_pct: 15}
    - {name: error_rate, warn_pct: 0.5, fail_pct: 1}
`)
	work, out := t.TempDir(), t.TempDir()
	track := func(commit string) (result, map[string]string) {
		// track's default of 3 trials: a point is their median, so one run's
		// outlier (a p99 TTFT of 23 ms against 11, on a busy machine) is not a
		// regression; with one trial per point it was.
		// history-at-once 1: the slow commit's one point raises the alarm
		// (+32 % TPOT is under the default's four 15 % steps, which would
		// wait for a second point); this test is of the flow, history's
		// rules are history's own tests.
		inputs := map[string]string{"mode": "track", "scenarios": scen, "vllm-path": repo, "install-command": installFake,
			"github-token": githubtest.InstallationToken, "work-dir": work, "output-dir": out, "history-store": "git:perfgate-history", "candidate-ref": commit,
			"history-site-branch": "gh-pages", "history-at-once": "1"}
		env, outFile, sumFile := actionEnv(t, srv, "push", `{"after": "`+commit+`"}`, inputs)
		r := runCLI(t, context.Background(), env, "action")
		o := outputs(t, outFile)
		sum, _ := os.ReadFile(sumFile)
		o["summary"] = string(sum)
		return r, o
	}
	for i := range 5 {
		if r, o := track(first); r.code != 0 || o["verdict"] != "pass" {
			t.Fatalf("track %d of the first commit: exit %d %v\n%s\n%s", i, r.code, o, r.stdout, r.stderr)
		}
	}
	// The slow commit: outside the band, one tracking issue naming the range.
	r, o := track(slow)
	if r.code != ExitRegression || o["verdict"] != "fail" || o["comment-url"] == "" {
		t.Fatalf("track of the slow commit: exit %d %v\n%s\n%s", r.code, o, r.stdout, r.stderr)
	}
	if !strings.Contains(o["summary"], "perfgate tracking: FAIL") || !strings.Contains(o["summary"], "<img src=\"https://raw.githubusercontent.com/vllm-project/vllm/") {
		t.Errorf("the job summary has the verdict and the trend plots:\n%s", o["summary"])
	}
	_, issues, st := srv.Snapshot()
	if len(issues) != 1 || !strings.Contains(issues[0].Body, "median\\_tpot\\_ms") || !strings.Contains(issues[0].Body, "### Open regressions") ||
		!strings.Contains(issues[0].Body, "[`"+first[:12]+".."+slow[:12]+"`](https://github.com/vllm-project/vllm/compare/"+first+"..."+slow+")") ||
		!strings.Contains(issues[0].Body, "/vllm-project/vllm/commit/"+slow) || !strings.HasPrefix(issues[0].Body, "<!-- perfgate:ledger-gz:") {
		t.Fatalf("tracking issue %+v", issues)
	}
	// The dashboard is on gh-pages (under the set's name), with the open regression.
	site, _, _ := srv.Branch("gh-pages")
	var page, data string
	for k, v := range site {
		switch {
		case strings.HasSuffix(k, "/index.html"):
			page = string(v)
		case strings.HasSuffix(k, "/history.json"):
			data = string(v)
		}
	}
	if !strings.Contains(page, "perfgate history") || !strings.Contains(data, `"first_bad":"`+slow+`"`) {
		t.Errorf("gh-pages: %d files", len(site))
	}
	if last := st[len(st)-1]; last.State != "failure" || last.SHA != slow {
		t.Errorf("status %+v", last)
	}
	files, _, _ := srv.Branch("perfgate-history")
	if len(files) != 1 || strings.Count(string(files["history-ab-fake.jsonl"]), "\n") != 6*4 || !strings.Contains(string(files["history-ab-fake.jsonl"]), `"trials":3,"fail_pct":15`) {
		t.Errorf("history branch: %d lines", strings.Count(string(files["history-ab-fake.jsonl"]), "\n"))
	}
	// Accepting the change (through the API, as a maintainer would from a
	// workflow) makes the next run of the slow commit pass; the issue stays one.
	henv := map[string]string{"GITHUB_TOKEN": githubtest.InstallationToken, "GITHUB_REPOSITORY": "vllm-project/vllm", "GITHUB_API_URL": srv.URL}
	if r := runCLI(t, context.Background(), henv, "history", "accept", "--store", "github:perfgate-history", "--from", slow, "--reason", "slower decode, faster everything else"); r.code != 0 {
		t.Fatalf("accept: %d %s", r.code, r.stderr)
	}
	if r, o := track(slow); r.code != 0 || o["verdict"] != "pass" {
		t.Fatalf("after accept: exit %d %v\n%s", r.code, o, r.stdout)
	}
	// The issue stays one, and keeps the record: the regression is closed as accepted, its range as first written.
	if _, issues, _ = srv.Snapshot(); len(issues) != 1 || !strings.Contains(issues[0].Body, "No open regressions") ||
		!strings.Contains(issues[0].Body, "slower decode, faster everything else") || !strings.Contains(issues[0].Body, first[:12]+".."+slow[:12]) {
		t.Errorf("tracking issues %+v", issues)
	}
}

func TestActionReleaseMode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an A/B")
	}
	repo, first, slow := fakeRepo(t)
	srv := githubtest.New("vllm-project", "vllm")
	defer srv.Close()
	inputs := map[string]string{"mode": "release", "scenarios": abFile(t, "30s", "reset"), "vllm-path": repo, "trials": "6", "install-command": installFake,
		"github-token": githubtest.InstallationToken, "work-dir": t.TempDir(), "output-dir": t.TempDir(), "status-context": "perfgate/release"}
	// No release tag yet: say so, exit 2.
	env, _, _ := actionEnv(t, srv, "workflow_dispatch", "{}", inputs)
	env["GITHUB_SHA"] = slow
	if r := runCLI(t, context.Background(), env, "action"); r.code != ExitUsage || !strings.Contains(r.stderr, "no release tag (v*)") {
		t.Fatalf("no tag: %d %s", r.code, r.stderr)
	}
	sh(t, repo, "git", "tag", "v0.1.0", first)
	env, outFile, sumFile := actionEnv(t, srv, "workflow_dispatch", "{}", inputs)
	env["GITHUB_SHA"] = slow
	r := runCLI(t, context.Background(), env, "action")
	if r.code != ExitRegression || outputs(t, outFile)["verdict"] != "fail" || !strings.Contains(r.stdout, "against the last release tag v0.1.0") {
		t.Fatalf("release: exit %d %v\n%s\n%s", r.code, outputs(t, outFile), r.stdout, r.stderr)
	}
	if s, _ := os.ReadFile(sumFile); !strings.Contains(string(s), "release gate") || !strings.Contains(string(s), first) {
		t.Errorf("summary:\n%s", s)
	}
	cs, _, st := srv.Snapshot()
	if len(cs) != 0 || st[len(st)-1].Context != "perfgate/release" || st[len(st)-1].State != "failure" || st[len(st)-1].SHA != slow {
		t.Errorf("no comment without a pull request, a failure status: %+v %+v", cs, st)
	}
	var m gh.Results
	b, _ := os.ReadFile(filepath.Join(inputs["output-dir"], gh.ResultsFile))
	if json.Unmarshal(b, &m); m.Profile != "release" || m.BaseSHA != first || m.BaseRef != "v0.1.0" {
		t.Errorf("manifest %+v", m)
	}
	// With a history store, the candidate is also checked against the recent
	// history of main (here: the baseline's trials recorded as five commits of main).
	store := t.TempDir()
	abDirs, _ := filepath.Glob(filepath.Join(inputs["output-dir"], "*_ab"))
	for i := range 5 {
		if r := runCLI(t, context.Background(), nil, "history", "add", filepath.Join(abDirs[0], "ab-fake", "baseline"), "--store", store,
			"--commit", fmt.Sprintf("%040d", i+1), "--branch", "main"); r.code != 0 {
			t.Fatalf("history add: %d %s", r.code, r.stderr)
		}
	}
	inputs["history-store"], inputs["output-dir"], inputs["trials"] = store, t.TempDir(), "3"
	env, outFile, sumFile = actionEnv(t, srv, "workflow_dispatch", "{}", inputs)
	env["GITHUB_SHA"] = slow
	r = runCLI(t, context.Background(), env, "action")
	s, _ := os.ReadFile(sumFile)
	if r.code != ExitRegression || outputs(t, outFile)["verdict"] != "fail" || !strings.Contains(string(s), "against the recent history in") ||
		!strings.Contains(string(s), "level 1 median\\_tpot\\_ms: ") || !strings.Contains(string(s), "Gated on both") {
		t.Errorf("release against history: exit %d\n%s\n%s", r.code, s, r.stderr)
	}
}

// Report mode asks GitHub what the artifact's baseline is: the merge base
// with the base branch, or an ancestor of the head; anything else is refused.
func TestCheckBaseline(t *testing.T) {
	repo, first, slow := fakeRepo(t)
	featureTip := sh(t, repo, "git", "rev-parse", "feature")
	srv := githubtest.New("vllm-project", "vllm")
	defer srv.Close()
	srv.Git = repo
	client, err := gh.NewClient(srv.URL, githubtest.InstallationToken, "vllm-project/vllm")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if got, err := client.CheckBaseline(ctx, "main", first, "merge base with main", featureTip); err != nil || got != "merge base with main" {
		t.Errorf("the merge base: %q %v", got, err)
	}
	if got, err := client.CheckBaseline(ctx, "feature", slow, "v1.0", slow); err != nil || got != "v1.0; an ancestor of the head, not its merge base with feature" {
		t.Errorf("an ancestor: %q %v", got, err)
	}
	if _, err := client.CheckBaseline(ctx, "main", slow, "merge base with main", featureTip); err == nil || !strings.Contains(err.Error(), `not an ancestor of the pull request's head`) || !strings.Contains(err.Error(), `"diverged"`) {
		t.Errorf("off the head's history: %v", err)
	}
	if _, err := client.CheckBaseline(ctx, "main", strings.Repeat("d", 40), "", featureTip); err == nil || !strings.Contains(err.Error(), "not a commit of this repository") {
		t.Errorf("an unknown commit: %v", err)
	}
}

// Issue 17: text from a pull request (here an install's log tail, printed
// when the install fails) cannot start a workflow command.
func TestActionOutputIsInert(t *testing.T) {
	repo, first, _ := fakeRepo(t)
	srv := githubtest.New("vllm-project", "vllm")
	defer srv.Close()
	hostile := `echo '::error::pwned'; echo '  ::stop-commands::abc'; echo '##[error]old form'; exit 1`
	inputs := map[string]string{"mode": "benchmark", "scenarios": abFile(t, "30s", "restart"), "vllm-path": repo, "trials": "2",
		"install-command": hostile, "work-dir": t.TempDir(), "output-dir": t.TempDir(), "baseline-ref": first, "candidate-ref": "main"}
	env, outFile, _ := actionEnv(t, srv, "push", `{"after": "`+first+`"}`, inputs)
	r := runCLI(t, context.Background(), env, "action")
	// mode benchmark ends green on an error: its reporter settles the check
	if r.code != 0 || outputs(t, outFile)["verdict"] != "error" || !strings.Contains(r.stdout+r.stderr, "pwned") {
		t.Fatalf("the install must fail, be an error verdict, and its tail be shown: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, line := range strings.Split(r.stdout+r.stderr, "\n") {
		l := strings.TrimSpace(line)
		if strings.HasPrefix(l, "::error::pwned") || strings.HasPrefix(l, "::stop-commands::") || strings.HasPrefix(l, "##[") {
			t.Errorf("a workflow command from the pull request's output: %q", line)
		}
	}
	if !strings.Contains(r.stdout, "::error::") {
		t.Errorf("perfgate's own annotation must still be a command:\n%s", r.stdout)
	}
}

// Issue 17: pull_request_target with a fork's head and a token is refused
// before anything runs; a run that fails after setting the pending status
// settles it as error.
func TestActionRefusesForkCodeAndNeverLeavesPending(t *testing.T) {
	repo, first, _ := fakeRepo(t)
	featureTip := sh(t, repo, "git", "rev-parse", "feature")
	srv := githubtest.New("vllm-project", "vllm")
	defer srv.Close()
	fork := strings.Replace(prEvent(first, featureTip), `"head": {"sha": "`+featureTip+`", "ref": "perf/<b>x</b>", "repo": {"full_name": "vllm-project/vllm"}}`,
		`"head": {"sha": "`+featureTip+`", "ref": "evil", "repo": {"full_name": "mallory/vllm"}}`, 1)
	inputs := map[string]string{"mode": "pr", "scenarios": abFile(t, "30s", "restart"), "vllm-path": repo, "trials": "2",
		"install-command": installFake, "github-token": githubtest.InstallationToken, "work-dir": t.TempDir(), "output-dir": t.TempDir()}
	env, _, _ := actionEnv(t, srv, "pull_request_target", fork, inputs)
	r := runCLI(t, context.Background(), env, "action")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "allow-fork-code") {
		t.Errorf("pull_request_target from a fork: exit %d\n%s", r.code, r.stderr)
	}
	if _, _, st := srv.Snapshot(); len(st) != 0 {
		t.Errorf("nothing may happen before the refusal: %+v", st)
	}
	// A scenario that perfgate ab refuses (it does not start vllm) fails
	// after the pending status: the status is settled as error.
	inputs["scenarios"] = writeScenario(t, tiny)
	env, _, _ = actionEnv(t, srv, "pull_request", prEvent(first, featureTip), inputs)
	r = runCLI(t, context.Background(), env, "action")
	_, _, st := srv.Snapshot()
	if r.code != ExitUsage || len(st) != 2 || st[0].State != "pending" || st[1].State != "error" {
		t.Errorf("exit %d, statuses %+v\n%s", r.code, st, r.stderr)
	}
}
