// Package action is the GitHub Action (perfgate action, run by action.yml):
// its inputs, its modes (pr, benchmark, report, release, track), what it
// publishes, and the trust rules between them (docs/action.md). It runs the
// A/Bs through package ab and talks to GitHub through package github; cli
// only wires it to the command line.
package action

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sethvargo/go-githubactions"

	"github.com/perfgate/perfgate/internal/ab"
	"github.com/perfgate/perfgate/internal/childenv"
	"github.com/perfgate/perfgate/internal/fault"
	gh "github.com/perfgate/perfgate/internal/github"
	"github.com/perfgate/perfgate/internal/history"
	"github.com/perfgate/perfgate/internal/metric"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/scenario"
	"github.com/perfgate/perfgate/internal/vllmsrc"
)

// Env is what the Action needs of the outside world: an A/B's (its
// streams, its environment variables, and how a trial runs) and where
// perfgate's own workflow commands go (nil: Stdout).
type Env struct {
	ab.Env
	Commands io.Writer
}

// inputs are the action's inputs, read from INPUT_* variables.
type inputs struct {
	mode          string
	scenarios     []string
	vllmPath      string
	baseRef       string
	candRef       string
	trials        int
	trialsSet     bool
	install       string
	token         string
	comment       bool
	statusContext string
	contextGiven  bool // status-context was an input, not derived
	allowForkCode bool // allow-fork-code: run a fork's head with a write token anyway
	assetsBranch  string
	failOn        string
	outputDir     string
	apiURL        string
	workDir       string
	commentAuthor string
	historyStore  string
	siteBranch    string        // mode track: publish the history site to this branch
	atOnce        float64       // mode track: history.Options.AtOnce
	bisect        bool          // mode track: bisect a new regression's suspects
	clean         bool          // remove this trust's worktrees and environments first
	keepFor       time.Duration // evict worktrees and environments unused this long (0: never)
	set           string
	trust         string // the work dir's part for this event (trustRoot)
}

var actionModes = []string{"pr", "benchmark", "report", "release", "track"}

func readInputs(a *githubactions.Action) (inputs, error) {
	get := func(name string) string { return strings.TrimSpace(a.GetInput(name)) }
	in := inputs{
		mode: cmp.Or(get("mode"), "pr"), vllmPath: get("vllm_path"), baseRef: get("baseline_ref"), candRef: get("candidate_ref"),
		install: get("install_command"), token: get("github_token"), statusContext: get("status_context"),
		assetsBranch: get("assets_branch"), failOn: cmp.Or(get("fail_on"), "fail"), outputDir: cmp.Or(get("output_dir"), "perfgate-results"),
		apiURL: get("api_url"), workDir: get("work_dir"), commentAuthor: get("comment_author"), historyStore: get("history_store"), siteBranch: get("history_site_branch"),
	}
	var errs []string
	if !slices.Contains(actionModes, in.mode) {
		errs = append(errs, fmt.Sprintf("mode %q: one of %s", in.mode, strings.Join(actionModes, ", ")))
	}
	if !slices.Contains([]string{"fail", "warn", "never"}, in.failOn) {
		errs = append(errs, fmt.Sprintf("fail-on %q: one of fail, warn, never", in.failOn))
	}
	boolInput := func(name string, def bool) bool {
		switch c := strings.ToLower(get(strings.ReplaceAll(name, "-", "_"))); c {
		case "":
			return def
		case "true", "yes", "1":
			return true
		case "false", "no", "0":
			return false
		default:
			errs = append(errs, fmt.Sprintf("%s %q: true or false", name, c))
			return def
		}
	}
	in.comment = boolInput("comment", true)
	in.bisect = boolInput("bisect", false)
	in.allowForkCode = boolInput("allow-fork-code", false)
	in.clean = boolInput("clean", false)
	in.keepFor = 14 * 24 * time.Hour
	if d := get("work_dir_keep_days"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 || n > 3650 {
			errs = append(errs, fmt.Sprintf("work-dir-keep-days %q: a whole number of days from 0 (keep everything) to 3650", d))
		}
		in.keepFor = time.Duration(n) * 24 * time.Hour
	}
	in.atOnce = history.DefaultAtOnce
	if v := get("history_at_once"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f >= 1 && f <= 100) {
			errs = append(errs, fmt.Sprintf("history-at-once %q: a number of smallest steps from 1 to 100", v))
		}
		in.atOnce = f
	}
	if t := get("trials"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 || n > 100 {
			errs = append(errs, fmt.Sprintf("trials %q: a whole number from 1 to 100", t))
		}
		in.trials, in.trialsSet = n, true
	} else {
		in.trials = 6
	}
	for _, f := range strings.FieldsFunc(get("scenarios"), func(r rune) bool { return r == '\n' || r == ',' || r == ' ' }) {
		matches, err := filepath.Glob(f)
		if err != nil || len(matches) == 0 {
			errs = append(errs, fmt.Sprintf("scenarios: %q matches no file", f))
		}
		in.scenarios = append(in.scenarios, matches...)
	}
	needsRun := in.mode != "report"
	switch {
	case len(in.scenarios) > 0:
	case needsRun:
		errs = append(errs, "scenarios: name at least one scenario file (one per line, globs allowed)")
	default:
		errs = append(errs, "scenarios: mode report holds the results against its own scenario files, from a checkout of the base branch (the pull request cannot change them): name them as the benchmark job does")
	}
	if needsRun && in.vllmPath == "" {
		errs = append(errs, "vllm-path: the vLLM checkout to benchmark")
	}
	if in.mode == "track" && in.historyStore == "" {
		errs = append(errs, "history-store: mode track needs a store (a directory, or git:BRANCH pushed through the API)")
	}
	// The scenario set names the sticky comment, the status and the assets.
	switch {
	case in.statusContext != "":
		in.contextGiven = true
		in.set = gh.SafeName(strings.TrimPrefix(in.statusContext, "perfgate/"))
	case len(in.scenarios) == 1:
		in.set = gh.SafeName(strings.TrimSuffix(filepath.Base(in.scenarios[0]), filepath.Ext(in.scenarios[0])))
	case len(in.scenarios) > 1:
		in.set = gh.SafeName(filepath.Base(filepath.Dir(in.scenarios[0])))
	default:
		in.set = "default"
	}
	if in.statusContext == "" {
		in.statusContext = "perfgate/" + in.set
	}
	if len(errs) > 0 {
		return in, fault.Usagef("action inputs:\n  %s", strings.Join(errs, "\n  "))
	}
	return in, nil
}

// Run is perfgate action: it reads the inputs and the workflow's context
// from env.Getenv and runs the mode.
func Run(ctx context.Context, env Env) error {
	cmdOut := env.Commands
	if cmdOut == nil {
		cmdOut = env.Stdout
	}
	a := githubactions.New(githubactions.WithGetenv(env.Getenv), githubactions.WithWriter(cmdOut))
	in, err := readInputs(a)
	if err != nil {
		return err
	}
	gctx, err := a.Context()
	if err != nil {
		return fault.Usagef("the workflow context: %v", err)
	}
	ev, err := gh.ReadEvent(gctx.EventName, gctx.EventPath)
	if err != nil {
		return fault.Usagef("%v", err)
	}
	in.trust = trustRoot(ev)
	runURL := runURLOf(gctx)
	var client *gh.Client
	if in.token != "" && gctx.Repository != "" {
		if client, err = gh.NewClient(cmp.Or(in.apiURL, gctx.APIURL), in.token, gctx.Repository); err != nil {
			return fault.Usagef("%v", err)
		}
		if in.commentAuthor != "" {
			client.SetLogin(in.commentAuthor)
		}
	} else if in.mode != "benchmark" {
		a.Warningf("no github-token: the results go to the job summary only (no comment, status or plots on the assets branch)")
	}
	if err := os.MkdirAll(in.outputDir, 0o755); err != nil {
		return err
	}
	if in.mode == "track" {
		return runTrackMode(ctx, env, a, in, gctx, ev, client, runURL)
	}

	var rep *gh.Report
	var files []gh.LocalFile
	resultsDir := in.outputDir
	switch in.mode {
	case "report":
		if ev.Name != "workflow_run" || ev.Run.HeadSHA == "" {
			return fault.Usagef("mode report runs in a workflow_run job (the event is %q): it trusts only that event's head commit", ev.Name)
		}
		if !hasResults(resultsDir) {
			if c := ev.Run.Conclusion; c != "" && c != "success" && c != "skipped" {
				// the benchmark job broke before it wrote results (the
				// pull request broke the build of perfgate, the runner
				// died): the check must still be settled
				rep, pub := settleError(ctx, a, in, ev, client, runURL, fmt.Sprintf("the benchmark run ended %q and left no results: see its log", c))
				return finishAction(a, env, in, rep, pub, resultsDir)
			}
			// the benchmark run uploaded nothing (its job was skipped)
			a.Noticef("perfgate: no results in %s: the benchmark run produced none, nothing to report", resultsDir)
			return nil
		}
		if rep, files, err = loadReported(ctx, a, &in, ev, client); err != nil {
			return notReported(ctx, a, env, in, ev, client, runURL, err)
		}
	default: // pr, benchmark, release
		if rep, files, err = benchmarkReport(ctx, env, a, in, gctx, ev, client); err != nil {
			return err
		}
	}
	rep.RunURL = runURL
	if client == nil || in.mode == "benchmark" {
		return finishAction(a, env, in, rep, gh.Published{}, resultsDir)
	}
	pub, err := publish(ctx, a, in, gctx, client, rep, files, runURL)
	if err != nil {
		return errors.Join(finishAction(a, env, in, rep, pub, resultsDir), err)
	}
	return finishAction(a, env, in, rep, pub, resultsDir)
}

// runURLOf is the workflow run's page ("" when the context has no run).
func runURLOf(gctx *githubactions.GitHubContext) string {
	if gctx.RunID == 0 || gctx.Repository == "" {
		return ""
	}
	return fmt.Sprintf("%s/%s/actions/runs/%d", cmp.Or(gctx.ServerURL, "https://github.com"), gctx.Repository, gctx.RunID)
}

// loadReported reads the results a benchmark run uploaded (mode report),
// trusting only what the workflow_run event and the API say: the head
// commit, the pull request bound to the run (listed by the event, or, for a
// fork's run, which lists none, one whose head is the run's own repository
// and branch), its title, branch and base from the API, and the set, the
// status context, the scenarios and their rules from the reporter's own
// inputs (checked by trustedScenarios).
func loadReported(ctx context.Context, a *githubactions.Action, in *inputs, ev *gh.Event, client *gh.Client) (*gh.Report, []gh.LocalFile, error) {
	resultsDir := in.outputDir
	refused := func(err error) error {
		a.Errorf("the results artifact was refused: %v", err)
		return fault.Usagef("the results in %s were refused: %v", resultsDir, err)
	}
	res, rep, files, err := gh.LoadMerged(resultsDir, gh.Expect{HeadSHA: ev.Run.HeadSHA})
	if err != nil {
		return nil, nil, refused(err)
	}
	if res.Set != in.set {
		return nil, nil, refused(fmt.Errorf("they are of scenario set %q, this reporter's is %q (its status context %s)", res.Set, in.set, in.statusContext))
	}
	if err := trustedScenarios(in, res, rep); err != nil {
		return nil, nil, refused(err)
	}
	if files, err = redrawChanges(rep, files); err != nil {
		return nil, nil, err
	}
	if res.PR == 0 {
		return rep, files, nil
	}
	if len(ev.Run.PRs) > 0 && !slices.Contains(ev.Run.PRs, res.PR) {
		return nil, nil, fault.Usagef("the results name pull request #%d, the workflow run %v", res.PR, ev.Run.PRs)
	}
	if client == nil {
		return nil, nil, fault.Usagef("mode report needs github-token to check pull request #%d", res.PR)
	}
	pull, err := client.Pull(ctx, res.PR)
	if err != nil {
		return nil, nil, err
	}
	if err := boundToRun(pull, res.PR, ev); err != nil {
		return nil, nil, refused(err)
	}
	if pull.HeadSHA != ev.Run.HeadSHA {
		// A push during the benchmark: the results are of the commit
		// the workflow ran on (trusted), and say so; its status goes
		// to that commit, not to the new head.
		rep.Notes = append(rep.Notes, fmt.Sprintf("these results are of %.12s; the pull request's head has moved on to %.12s since", ev.Run.HeadSHA, pull.HeadSHA))
	}
	rep.Title, rep.HeadRef = pull.Title, pull.HeadRef // from the API, not the artifact
	if res.BaseSHA != "" {
		if rep.BaseRef, err = client.CheckBaseline(ctx, pull.BaseRef, res.BaseSHA, res.BaseRef, ev.Run.HeadSHA); err != nil {
			return nil, nil, refused(err)
		}
	}
	return rep, files, nil
}

// notReported settles a report that could not be made — an artifact
// refused, a pull request that could not be read — as an error (see
// settleError), and returns err: a refused artifact fails the job.
func notReported(ctx context.Context, a *githubactions.Action, env Env, in inputs, ev *gh.Event, client *gh.Client, runURL string, err error) error {
	rep, pub := settleError(ctx, a, in, ev, client, runURL, "the results were not reported: "+err.Error())
	// mode report's finishAction fails only on what it could not write
	if ferr := finishAction(a, env, in, rep, pub, in.outputDir); ferr != nil {
		return errors.Join(err, ferr)
	}
	return err
}

// settleError is the error report of mode report when there is nothing
// to publish: its status goes on the run's own head in the reporter's own
// context (so a required check never waits), with the run's link.
func settleError(ctx context.Context, a *githubactions.Action, in inputs, ev *gh.Event, client *gh.Client, runURL, msg string) (*gh.Report, gh.Published) {
	rep := &gh.Report{Set: in.set, Verdict: metric.Error, Error: msg, HeadSHA: ev.Run.HeadSHA, RunURL: runURL}
	var pub gh.Published
	if client != nil && rep.HeadSHA != "" {
		if serr := settleStatus(ctx, client, rep.HeadSHA, in.statusContext, rep.Headline(), runURL); serr != nil {
			a.Errorf("and the commit status could not be set: %v", serr)
		} else {
			pub.Status = true
		}
	}
	return rep, pub
}

// settleStatus sets an error status on sha even when ctx has ended (an
// interrupt): a check must never stay pending.
func settleStatus(ctx context.Context, client *gh.Client, sha, statusContext, description, runURL string) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	return client.SetStatus(sctx, sha, gh.StatusError, statusContext, description, runURL)
}

// boundToRun checks that pull request n is the workflow run's: its head
// is the run's head repository (by id when both have one) and branch. A
// fork's run lists no pull request, so without this an artifact could name
// any other pull request and rewrite its comment.
func boundToRun(pull gh.Pull, n int, ev *gh.Event) error {
	if !gh.SameRepo(pull.HeadRepo, ev.Run.HeadRepo) || pull.HeadRef != ev.Run.HeadBranch {
		return fmt.Errorf("pull request #%d's head is %s:%s, the workflow run's %s:%s: not the run's pull request",
			n, cmp.Or(pull.HeadRepo.String(), "(deleted)"), pull.HeadRef, cmp.Or(ev.Run.HeadRepo.String(), "(none)"), ev.Run.HeadBranch)
	}
	return nil
}

// benchmarkReport runs the A/Bs (modes pr, benchmark, release) and reads
// back what they wrote; a run that failed before any scenario is reported
// as an error.
func benchmarkReport(ctx context.Context, env Env, a *githubactions.Action, in inputs, gctx *githubactions.GitHubContext, ev *gh.Event, client *gh.Client) (*gh.Report, []gh.LocalFile, error) {
	manifest, err := benchmark(ctx, env, a, in, gctx, ev, client)
	if err != nil {
		return nil, nil, err
	}
	var rep *gh.Report
	var files []gh.LocalFile
	if manifest.Verdict == metric.Error && len(manifest.Scenarios) == 0 {
		rep = &gh.Report{Set: manifest.Set, Verdict: metric.Error, Error: manifest.Error, PR: manifest.PR, BaseSHA: manifest.BaseSHA,
			HeadSHA: manifest.HeadSHA, BaseRef: manifest.BaseRef, HeadRef: manifest.HeadRef, Profile: manifest.Profile}
	} else if _, rep, files, err = gh.LoadResults(in.outputDir, gh.Expect{HeadSHA: manifest.HeadSHA}); err != nil {
		return nil, nil, fmt.Errorf("reading back the results: %w", err)
	}
	rep.Title = ev.Title
	return rep, files, nil
}

// publish posts the comment, the plots and the status. It degrades, never
// vanishes: on an error the caller still writes the summary and outputs,
// and a status left pending is settled as error here.
func publish(ctx context.Context, a *githubactions.Action, in inputs, gctx *githubactions.GitHubContext, client *gh.Client, rep *gh.Report, files []gh.LocalFile, runURL string) (gh.Published, error) {
	pub, err := gh.Publish(ctx, client, rep, files, gh.PublishOptions{
		AssetsBranch: cmp.Or(in.assetsBranch, "perfgate-assets"), Comment: in.comment, StatusContext: in.statusContext,
		State: gh.StatusState(rep.Verdict, in.failOn), ServerURL: gctx.ServerURL, Warn: func(s string) { a.Warningf("%s", s) },
	})
	if err == nil {
		return pub, nil
	}
	a.Errorf("publishing the results: %v", err)
	if !pub.Status && in.statusContext != "" && rep.HeadSHA != "" {
		if serr := client.SetStatus(ctx, rep.HeadSHA, gh.StatusError, in.statusContext, "perfgate could not publish: "+err.Error(), runURL); serr != nil {
			a.Errorf("and the commit status could not be set: %v", serr)
		}
	}
	return pub, err
}

// finishAction writes the job summary, the outputs and perfgate-summary.json,
// and turns the verdict into the exit code.
func finishAction(a *githubactions.Action, env Env, in inputs, rep *gh.Report, pub gh.Published, resultsDir string) error {
	a.AddStepSummary(rep.Summary())
	// One annotation per failing (error) and warning (warning) metric, so
	// the run's page says what regressed without opening the log.
	for _, s := range rep.Scenarios {
		if s.Comparison == nil {
			continue
		}
		for _, x := range s.Comparison.Outcome.Results {
			if !x.Gating || (x.Verdict != metric.Fail && x.Verdict != metric.Warn) || x.ChangePct == nil {
				continue
			}
			msg := fmt.Sprintf("%s: level %d %s %+.1f %% (%s)", s.Name, x.Level, x.Metric, *x.ChangePct, x.Verdict)
			f := a.WithFieldsMap(map[string]string{"title": "perfgate " + string(x.Verdict)})
			if x.Verdict == metric.Fail {
				f.Errorf("%s", msg)
			} else {
				f.Warningf("%s", msg)
			}
		}
	}
	type scen struct {
		Name, Headline, Error string
		Verdict               metric.Verdict
	}
	sum := struct {
		Verdict      metric.Verdict `json:"verdict"`
		Headline     string         `json:"headline"`
		CommentURL   string         `json:"comment_url,omitempty"`
		AssetsCommit string         `json:"assets_commit,omitempty"`
		Degraded     bool           `json:"degraded,omitempty"`
		Scenarios    []scen         `json:"scenarios"`
	}{Verdict: rep.Verdict, Headline: rep.Headline(), CommentURL: pub.CommentURL, AssetsCommit: pub.AssetsCommit, Degraded: pub.Degraded}
	for _, s := range rep.Scenarios {
		x := scen{Name: s.Name, Error: s.Error, Verdict: metric.Error}
		if s.Comparison != nil {
			x.Verdict, x.Headline = s.Comparison.Outcome.Verdict, s.Comparison.Outcome.Headline
		}
		sum.Scenarios = append(sum.Scenarios, x)
	}
	sumPath, _ := filepath.Abs(filepath.Join(in.outputDir, "perfgate-summary.json"))
	if err := record.WriteJSONAtomic(sumPath, sum); err != nil {
		return err
	}
	dir, _ := filepath.Abs(resultsDir)
	a.SetOutput("verdict", string(rep.Verdict))
	a.SetOutput("report-dir", dir)
	a.SetOutput("comment-url", pub.CommentURL)
	a.SetOutput("summary-json", sumPath)
	fmt.Fprintf(env.Stdout, "perfgate: %s\n", rep.Headline())
	switch {
	case in.mode == "report":
		// The reporter's job says whether it reported; the verdict is the
		// status's (fail-on maps it). GitHub shows a workflow_run job on
		// the default branch's latest commit, which a red job for every
		// failing pull request would mark.
		if rep.Verdict == metric.Error {
			a.Errorf("perfgate: %s", rep.Error)
		}
	case rep.Verdict == metric.Error && (in.mode == "benchmark" || in.failOn == "never"):
		// mode benchmark: the reporter job reads the error from the
		// results and settles the check, so this job must end green for
		// it to run; fail-on never: the status carries the verdict
		a.Errorf("perfgate: %s", rep.Error)
	case rep.Verdict == metric.Error:
		a.Errorf("perfgate: %s", rep.Error)
		return errors.New(rep.Error)
	case rep.Verdict == metric.Fail && in.failOn != "never", rep.Verdict == metric.Warn && in.failOn == "warn":
		return &fault.RegressionError{Headline: rep.Headline()}
	}
	return nil
}

// benchmark runs the A/B that modes pr, benchmark and release share and
// writes the results folder with its manifest. An A/B that could not finish
// is verdict error, never pass; only bad inputs are returned as errors.
func benchmark(ctx context.Context, env Env, a *githubactions.Action, in inputs, gctx *githubactions.GitHubContext, ev *gh.Event, client *gh.Client) (res *gh.Results, err error) {
	var pendingOn string // the commit whose status is pending
	defer func() {
		if err != nil && pendingOn != "" {
			// never leave a check pending: an interrupt or an error settles it
			if serr := settleStatus(ctx, client, pendingOn, in.statusContext, "perfgate stopped: "+err.Error(), runURLOf(gctx)); serr != nil {
				a.Errorf("the commit status could not be settled: %v", serr)
			}
		}
	}()
	// pull_request_target from a fork: its code would run beside a token
	// that can write (a fork's pull_request gets a read-only one). Refused
	// unless the maintainer says, in the workflow, that they know.
	if ev.Name == "pull_request_target" && ev.Fork && in.token != "" && !in.allowForkCode {
		return nil, fault.Usagef("the %s event's head is a fork (%s), and this job holds a github-token: its code would run beside a token that can write. Use the benchmark/report split (docs/action.md), or set allow-fork-code: true after reviewing the change", ev.Name, ev.HeadRef)
	}
	m, err := resolveRefs(ctx, a, in, gctx, ev)
	if err != nil {
		return nil, err
	}
	if client != nil && in.mode != "benchmark" {
		err := client.SetStatus(ctx, m.HeadSHA, gh.StatusPending, in.statusContext, "benchmarking against "+gh.ShortSHA(m.BaseSHA), runURLOf(gctx))
		if err != nil && !errors.Is(err, gh.ErrNoPermission) {
			a.Warningf("could not set the pending status: %v", err)
		}
		if err == nil {
			pendingOn = m.HeadSHA
		}
	}
	plan, err := runAB(ctx, env, a, in, m)
	if err != nil {
		return nil, err
	}
	verdicts := scenarioResults(in, plan, m)
	if in.mode == "release" && in.historyStore != "" && plan.Dir != "" && m.Verdict != metric.Error {
		// The release candidate against main's recent history as well as against the last release.
		h, err := releaseAgainstHistory(ctx, a, in, client, plan.Dir, m.HeadSHA)
		if err != nil {
			a.Warningf("the release candidate was not checked against the history: %v", err)
		} else {
			m.History = h
			verdicts = append(verdicts, h.Verdict)
			a.Infof("release gate: against %s: %s", h.Against, h.Verdict)
		}
	}
	m.Verdict = metric.Worst(verdicts...)
	if m.Verdict == metric.Error && m.Error == "" {
		m.Error = cmp.Or(plan.Error, "a scenario did not finish")
	}
	if err := gh.WriteResults(in.outputDir, *m); err != nil {
		return nil, err
	}
	return m, nil
}

// resolveRefs finds the two commits: the candidate (the input, else the
// event's head), the baseline (the input; in release mode the last release
// tag before the candidate; else the pull request's merge base), both
// resolved to SHAs; the manifest starts with them.
func resolveRefs(ctx context.Context, a *githubactions.Action, in inputs, gctx *githubactions.GitHubContext, ev *gh.Event) (m *gh.Results, err error) {
	profile := "pr"
	if in.mode == "release" {
		profile = "release"
	}
	cand := cmp.Or(in.candRef, ev.HeadSHA, ev.After, gctx.SHA)
	base := in.baseRef
	switch {
	case base != "":
	case in.mode == "release":
		tag, err := lastReleaseTag(ctx, in.vllmPath, cand)
		if err != nil {
			return nil, fault.Usagef("baseline-ref: no release tag (v*) before %s to compare with (%v); name one", cand, err)
		}
		base = tag
		a.Infof("release gate: candidate %s against the last release tag %s", cand, tag)
	case ev.BaseSHA != "":
		base = "merge-base:" + ev.BaseSHA
	default:
		return nil, fault.Usagef("baseline-ref: the %q event names no pull request base; give baseline-ref", ev.Name)
	}
	if cand == "" {
		return nil, fault.Usagef("candidate-ref: the event names no commit; give candidate-ref")
	}
	m = &gh.Results{Set: in.set, Profile: profile, PR: ev.PR, BaseRef: strings.TrimPrefix(base, "merge-base:"), HeadRef: cmp.Or(ev.HeadRef, in.candRef)}
	if ev.BaseRef != "" && strings.HasPrefix(base, "merge-base:") {
		m.BaseRef = "merge base with " + ev.BaseRef
	}
	if m.HeadSHA, err = vllmsrc.Resolve(ctx, in.vllmPath, cand, ""); err != nil {
		return nil, fault.Usagef("candidate-ref: %v", err)
	}
	if m.BaseSHA, err = vllmsrc.Resolve(ctx, in.vllmPath, base, m.HeadSHA); err != nil {
		return nil, fault.Usagef("baseline-ref: %v", err)
	}
	return m, nil
}

// runAB runs the A/B of every scenario into the output folder (sequential
// unless trials is given). A usage error, an invalid scenario or an
// interrupt ends the job; any other failure is the manifest's error verdict,
// reported like a result.
func runAB(ctx context.Context, env Env, a *githubactions.Action, in inputs, m *gh.Results) (*ab.Plan, error) {
	o := ab.Options{Repo: in.vllmPath, BaseRef: m.BaseSHA, CandRef: m.HeadSHA, Trials: in.trials, TrialsSet: in.trialsSet, Out: in.outputDir,
		WorkDir: in.workDir, Trust: in.trust, Install: in.install, Profile: m.Profile, Clean: in.clean, EvictAfter: in.keepFor}
	if !in.trialsSet {
		o.Trials = 0 // sequential
	}
	a.Group("perfgate ab")
	plan, runErr := ab.RunRefs(ctx, env.Env, in.scenarios, o)
	a.EndGroup()
	var regression *fault.RegressionError
	var ue *fault.UsageError
	switch {
	case runErr == nil, errors.As(runErr, &regression):
	case errors.As(runErr, &ue), scenario.IsValidation(runErr):
		return nil, runErr
	default:
		var interrupted *fault.InterruptedError
		if errors.As(runErr, &interrupted) {
			return nil, runErr
		}
		m.Verdict, m.Error = metric.Error, runErr.Error()
	}
	if plan == nil {
		plan = &ab.Plan{}
	}
	return plan, nil
}

// scenarioResults lists each scenario's result folder (or why it did not
// finish) in the manifest and returns the verdicts to combine.
func scenarioResults(in inputs, plan *ab.Plan, m *gh.Results) []metric.Verdict {
	verdicts := []metric.Verdict{cmp.Or(m.Verdict, metric.Pass)}
	for _, s := range plan.Scenarios {
		rel, _ := filepath.Rel(in.outputDir, filepath.Join(plan.Dir, s.Name))
		rs := gh.ResultScenario{Name: s.Name, Dir: rel}
		if s.Verdict == "" {
			rs.Error, rs.Dir = cmp.Or(plan.Error, "did not finish"), ""
		}
		verdicts = append(verdicts, cmp.Or(s.Verdict, metric.Error))
		m.Scenarios = append(m.Scenarios, rs)
	}
	return verdicts
}

// hasResults reports whether a folder holds a results manifest, itself or
// in a shard folder.
func hasResults(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, gh.ResultsFile)); err == nil {
		return true
	}
	m, _ := filepath.Glob(filepath.Join(dir, "*", gh.ResultsFile))
	return len(m) > 0
}

// trustRoot names the part of the work dir a run may use, by whose code
// it runs — never by whether it holds a token: a fork's pull request
// ("fork": anyone's code), a pull request from a branch of this repository
// ("pull-request": a collaborator's, not yet reviewed), or the repository's
// own events ("trusted": push, schedule, a manual or release run). Worktrees
// and environments built by one are never reused by another, so a fork's
// install cannot plant what the nightly that holds a write token runs.
// That is a separation of folders only: on a runner where every job runs
// as one user, code from a pull request can still write anywhere that
// user can (docs/action.md says what that means).
func trustRoot(ev *gh.Event) string {
	switch ev.Name {
	case "pull_request", "pull_request_target":
		if ev.Fork {
			return "fork"
		}
		return "pull-request"
	case "push", "schedule", "workflow_dispatch", "release", "workflow_run", "repository_dispatch":
		return "trusted"
	}
	return "other-" + gh.SafeName(ev.Name) // an event perfgate does not know: kept apart
}

// lastReleaseTag is the newest v* tag reachable from cand's parent.
func lastReleaseTag(ctx context.Context, repo, cand string) (string, error) {
	return childenv.Git(ctx, repo, "describe", "--tags", "--abbrev=0", "--match", "v*", "--end-of-options", cand+"^")
}
