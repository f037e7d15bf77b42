package action

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sethvargo/go-githubactions"

	"github.com/perfgate/perfgate/internal/ab"
	"github.com/perfgate/perfgate/internal/childenv"
	"github.com/perfgate/perfgate/internal/compare"
	"github.com/perfgate/perfgate/internal/fault"
	gh "github.com/perfgate/perfgate/internal/github"
	"github.com/perfgate/perfgate/internal/history"
	"github.com/perfgate/perfgate/internal/history/site"
	"github.com/perfgate/perfgate/internal/metric"
	"github.com/perfgate/perfgate/internal/numfmt"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/report"
	"github.com/perfgate/perfgate/internal/scenario"
	"github.com/perfgate/perfgate/internal/vllmsrc"
)

// runTrackMode benchmarks the current commit alone, appends the medians to
// the history store, checks the newest point against recent history, and
// reports: the job summary with trend plots and, on a regression, one sticky
// tracking issue naming the suspected commit range.
func runTrackMode(ctx context.Context, env Env, a *githubactions.Action, in inputs, gctx *githubactions.GitHubContext, ev *gh.Event, client *gh.Client, runURL string) error {
	t := &tracker{env: env, a: a, in: in, gctx: gctx, client: client, runURL: runURL}
	cand := cmp.Or(in.candRef, ev.After, gctx.SHA, "HEAD")
	var err error
	if t.repo, err = filepath.Abs(in.vllmPath); err != nil {
		return err
	}
	if t.sha, err = vllmsrc.Resolve(ctx, t.repo, cand, ""); err != nil {
		return fault.Usagef("candidate-ref: %v", err)
	}
	store, err := trackStore(in, client, a)
	if err != nil {
		return err
	}
	scenarios, err := ab.LoadScenarios(in.scenarios, true)
	if err != nil {
		return err
	}
	if err := t.benchmark(ctx, cand, scenarios); err != nil {
		return err
	}
	n, err := t.record(ctx, store, cmp.Or(gctx.RefName, ev.Run.HeadBranch), scenarios)
	if err != nil {
		return t.fail(err)
	}
	results := history.Check(t.mine, history.Options{AtOnce: t.in.atOnce})
	md := history.Markdown(results, history.Options{AtOnce: t.in.atOnce})
	files, err := t.drawTrends(ctx, results)
	if err != nil {
		return t.fail(err)
	}
	open := history.OpenRegressions(results)
	verdict := metric.Pass
	if len(open) > 0 {
		verdict = metric.Fail
	}
	plots, plotURL := t.publishPlots(ctx, files)
	siteURL, err := t.site(ctx, results)
	if err != nil {
		return t.fail(err)
	}
	head := func(v metric.Verdict) string {
		return fmt.Sprintf("%s\n## %s perfgate tracking: %s · %s\n\ncommit `%s` (%s), %d new point(s) in %s.\n\n", gh.TrackingMarker(in.set),
			v.Mark(), strings.ToUpper(string(v)), gh.Esc(in.set), t.sha, gh.Esc(cmp.Or(gctx.RefName, "detached")), n, gh.Esc(in.historyStore))
	}
	body := t.body(head(verdict), md, siteURL, plots)
	issueURL := t.updateIssue(ctx, head(verdict), results, plotURL)
	t.setStatus(ctx, verdict, len(results), len(open))
	a.AddStepSummary(numfmt.Cut(body, gh.MaxSummary, "\n"))
	if err := t.writeOutputs(md, results, verdict, issueURL); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "perfgate track: %s, %d new point(s), %d open regression(s)\n", verdict, n, len(open))
	if verdict == metric.Fail && in.failOn != "never" {
		return fault.Regression("%d open regression(s) against recent history (see %s)", len(open), t.outDir)
	}
	return nil
}

// tracker is one track-mode job: what its steps share.
type tracker struct {
	env    Env
	a      *githubactions.Action
	in     inputs
	gctx   *githubactions.GitHubContext
	client *gh.Client
	runURL string

	repo, sha, outDir string
	mine              []history.Point // the store's points of this set's scenarios
}

// fail reports err as the job's error (summary, outputs, an error
// annotation) and returns it.
func (t *tracker) fail(err error) error {
	rep := &gh.Report{Set: t.in.set, Verdict: metric.Error, Error: err.Error(), HeadSHA: t.sha, RunURL: t.runURL}
	t.a.AddStepSummary(rep.Summary())
	t.a.SetOutput("verdict", "error")
	t.a.SetOutput("report-dir", t.outDir)
	t.a.Errorf("perfgate track: %v", err)
	return err
}

// benchmark installs the commit and runs every scenario's trials (one side,
// no comparison: the median of a few trials is a point) into the run
// folder, with its ab.json.
func (t *tracker) benchmark(ctx context.Context, cand string, scenarios []*scenario.Scenario) error {
	in := t.in
	o := ab.Options{Repo: t.repo, Trials: in.trials, WorkDir: in.workDir, Trust: in.trust, Install: in.install, Clean: in.clean, EvictAfter: in.keepFor}
	if !in.trialsSet {
		o.Trials = 3
	}
	work, install, err := ab.PrepareWork(ctx, t.env.Env, t.repo, scenarios, o)
	if err != nil {
		return err
	}
	if t.outDir, err = record.MakeRunDir(in.outputDir, "track", ""); err != nil {
		return err
	}
	sd := &ab.Side{Name: ab.Candidate, Ref: cand, SHA: t.sha}
	if err := ab.InstallSide(ctx, t.env.Env, t.repo, work, install, t.outDir, sd); err != nil {
		return t.fail(err)
	}
	order := make([]string, o.Trials)
	for i := range order {
		order[i] = ab.Candidate
	}
	plan := &ab.Plan{Dir: t.outDir, Candidate: t.sha, CandidateRef: cand, Order: order}
	write := func() error { plan.Account(sd, sd); return plan.Write() }
	for _, s := range scenarios {
		tr := ab.NewVLLMTrialer(t.env.Env, s, sd, sd)
		res, err := ab.RunOneSide(ctx, tr, filepath.Join(t.outDir, s.Name), ab.Candidate, o.Trials, ab.DesignFor(t.env.Env, s, o))
		tr.Stop()
		res.Name = s.Name
		plan.Scenarios = append(plan.Scenarios, res)
		if err != nil {
			plan.Error = err.Error()
			return t.fail(errors.Join(fmt.Errorf("scenario %s: %w", s.Name, err), write()))
		}
	}
	if err := write(); err != nil {
		return t.fail(err)
	}
	return nil
}

// record appends the run's points to the store and keeps the store's points
// of these scenarios (and the accept markers for every scenario) in t.mine;
// n is how many points were new.
func (t *tracker) record(ctx context.Context, store history.Store, branch string, scenarios []*scenario.Scenario) (n int, err error) {
	pts, err := compare.HistoryPoints(t.outDir, t.sha, branch)
	if err != nil {
		return 0, err
	}
	if n, err = store.Append(ctx, pts); err != nil {
		return 0, fmt.Errorf("appending to %s: %w", t.in.historyStore, err)
	}
	all, err := store.Load(ctx)
	if err != nil {
		return 0, err
	}
	names := map[string]bool{}
	for _, s := range scenarios {
		names[s.Name] = true
	}
	for _, p := range all {
		if names[p.Scenario] || (p.Kind == history.KindAccept && p.Scenario == "") {
			t.mine = append(t.mine, p)
		}
	}
	return n, nil
}

// drawTrends writes a trend chart per series into the run folder's trends/.
func (t *tracker) drawTrends(ctx context.Context, results []history.Result) ([]gh.LocalFile, error) {
	trendDir := filepath.Join(t.outDir, "trends")
	if err := os.MkdirAll(trendDir, 0o755); err != nil {
		return nil, err
	}
	var files []gh.LocalFile
	for i, r := range results {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("stopped while drawing the charts: %w", context.Cause(ctx))
		}
		c := report.TrendChart(t.mine, r)
		for ext, f := range map[string]func() ([]byte, error){".svg": c.SVG, ".png": c.PNG} {
			b, err := f()
			if err != nil {
				return nil, err
			}
			p := filepath.Join(trendDir, gh.TrendPlotName(i, r)+ext)
			if err := record.WriteFileAtomic(p, b); err != nil {
				return nil, err
			}
			files = append(files, gh.LocalFile{Scenario: "trends", Name: filepath.Base(p), Path: p})
		}
	}
	return files, nil
}

// publishPlots puts the trend charts on the assets branch: the summary shows
// them, the tracking issue links them (plotURL, by file name). Without a
// token, or when publishing fails (a warning), there are none.
func (t *tracker) publishPlots(ctx context.Context, files []gh.LocalFile) (plots []gh.Plot, plotURL map[string]string) {
	plotURL = map[string]string{}
	if t.client == nil || len(files) == 0 {
		return nil, plotURL
	}
	rep := &gh.Report{Set: t.in.set, HeadSHA: t.sha, Scenarios: []gh.ScenarioResult{{Name: "trends"}}}
	_, err := gh.Publish(ctx, t.client, rep, files, gh.PublishOptions{AssetsBranch: cmp.Or(t.in.assetsBranch, "perfgate-assets"), ServerURL: t.gctx.ServerURL,
		Warn: func(s string) { t.a.Warningf("%s", s) }})
	if err != nil {
		return nil, plotURL
	}
	plots = rep.Scenarios[0].Plots
	for _, p := range plots {
		plotURL[p.Name] = p.Link
	}
	return plots, plotURL
}

// site writes the dashboard into the run folder and, with site-branch,
// pushes it there for GitHub Pages; it returns the page's URL on GitHub
// ("" when not pushed).
func (t *tracker) site(ctx context.Context, results []history.Result) (string, error) {
	in, gctx := t.in, t.gctx
	pg, err := site.Render(t.mine, results, site.Options{Title: "perfgate history · " + in.set, CommitURL: gh.CommitURLTemplate(gctx.ServerURL, gctx.Repository)})
	if err == nil {
		err = pg.Write(filepath.Join(t.outDir, "site"))
	}
	if err != nil {
		return "", err
	}
	if in.siteBranch == "" || t.client == nil {
		return "", nil
	}
	sf := []gh.File{{Path: gh.SafeName(in.set) + "/index.html", Data: pg.HTML}, {Path: gh.SafeName(in.set) + "/history.json", Data: pg.JSON}}
	if _, err := t.client.PushFiles(ctx, in.siteBranch, "perfgate history site for "+t.sha, sf); err != nil {
		t.a.Warningf("the history site was not pushed to %s: %v", in.siteBranch, err)
		return "", nil
	}
	return fmt.Sprintf("%s/%s/blob/%s/%s/index.html", cmp.Or(gctx.ServerURL, "https://github.com"), gctx.Repository, in.siteBranch, gh.SafeName(in.set)), nil
}

// body is the job summary's markdown: the head, the check, the dashboard's
// link and the trend plots, cut at GitHub's comment limit.
func (t *tracker) body(head, md, siteURL string, plots []gh.Plot) string {
	var b strings.Builder
	b.WriteString(head)
	b.WriteString(strings.TrimPrefix(md, "# perfgate history\n\n"))
	if siteURL != "" {
		fmt.Fprintf(&b, "\nThe dashboard: `%s/index.html` on the branch %s ([source](%s)); GitHub Pages serves it when the branch is published.\n", gh.SafeName(t.in.set), gh.Esc(t.in.siteBranch), siteURL)
	}
	if len(plots) > 0 {
		b.WriteString("\n<details><summary>Trend plots</summary>\n\n")
		for _, p := range plots {
			fmt.Fprintf(&b, "<img src=\"%s\" alt=\"%s\" width=\"720\">\n\n", p.Img, p.Name)
		}
		b.WriteString("</details>\n")
	}
	if t.runURL != "" {
		fmt.Fprintf(&b, "\n[Workflow run](%s)\n", t.runURL)
	}
	return numfmt.Cut(b.String(), gh.MaxComment, "\n\n… cut; the job summary has the full table.\n")
}

// updateIssue keeps the tracking issue (with comment: true): every
// regression it ever saw, its culprit range as first written (bisected
// with bisect: true), and how it was closed. It returns the issue's URL.
func (t *tracker) updateIssue(ctx context.Context, head string, results []history.Result, plotURL map[string]string) string {
	in, gctx := t.in, t.gctx
	if t.client == nil || !in.comment {
		return ""
	}
	links := gh.TrackingLinks{Server: cmp.Or(gctx.ServerURL, "https://github.com"), Repo: gctx.Repository, PlotURL: plotURL, Results: results}
	title := fmt.Sprintf("perfgate: performance regressions on %s (%s)", cmp.Or(gctx.RefName, "main"), in.set)
	u, _, err := t.client.UpsertIssue(ctx, gh.TrackingMarker(in.set), title, func(old string, exists bool) (string, bool) {
		l, perr := history.ParseLedger(old)
		if perr != nil {
			t.a.Warningf("the tracking issue's record does not parse (%v): it starts anew", perr)
		}
		l.Update(results, time.Now().UTC())
		if !exists && len(l.Open()) == 0 {
			return "", false // nothing to report, and no issue to keep up to date
		}
		if in.bisect {
			trackBisect(ctx, t.env, t.a, in, t.repo, t.outDir, &l)
		}
		return gh.TrackingIssueBody(head, l, links, t.runURL), true
	}, []string{"performance"})
	if err != nil {
		t.a.Warningf("the tracking issue was not updated: %v", err)
		return ""
	}
	return u
}

// setStatus sets the commit status (with status-context).
func (t *tracker) setStatus(ctx context.Context, verdict metric.Verdict, series, open int) {
	if t.client == nil || t.in.statusContext == "" {
		return
	}
	desc := fmt.Sprintf("%d series in the band of recent history", series)
	if verdict == metric.Fail {
		desc = fmt.Sprintf("%d open regression(s) against recent history", open)
	}
	if err := t.client.SetStatus(ctx, t.sha, gh.StatusState(verdict, t.in.failOn), t.in.statusContext, desc, t.runURL); err != nil {
		t.a.Warningf("no commit status: %v", err)
	}
}

// writeOutputs writes history.md and history.json into the run folder and
// sets the step's outputs.
func (t *tracker) writeOutputs(md string, results []history.Result, verdict metric.Verdict, issueURL string) error {
	if err := record.WriteFileAtomic(filepath.Join(t.outDir, "history.md"), []byte(md)); err != nil {
		return err
	}
	if err := record.WriteJSONAtomic(filepath.Join(t.outDir, "history.json"), history.ResultsJSON(results)); err != nil {
		return err
	}
	sumPath, _ := filepath.Abs(filepath.Join(t.outDir, "history.json"))
	abs, _ := filepath.Abs(t.outDir)
	t.a.SetOutput("verdict", string(verdict))
	t.a.SetOutput("report-dir", abs)
	t.a.SetOutput("comment-url", issueURL)
	t.a.SetOutput("summary-json", sumPath)
	return nil
}

// trackStore opens history-store: git:BRANCH through the API, else a directory.
// A torn line the directory store skips is a warning on the step.
func trackStore(in inputs, client *gh.Client, a *githubactions.Action) (history.Store, error) {
	if branch, ok := strings.CutPrefix(in.historyStore, "git:"); ok {
		if client == nil {
			return nil, fault.Usagef("history-store %s is kept through the API: give github-token", in.historyStore)
		}
		return &gh.HistoryStore{C: client, Branch: branch}, nil
	}
	d := &history.DirStore{Dir: in.historyStore}
	if a != nil {
		d.Warn = func(s string) { a.Warningf("%s", s) }
	}
	return d, nil
}

// releaseAgainstHistory checks a release candidate's medians (the ab
// folder's candidate side) against the recent history of the store: each
// series' newest point would be the candidate's, compared two-sided with
// the band of its current segment. Outside on the worse side fails, on the
// better side warns (an unexplained improvement: review it).
func releaseAgainstHistory(ctx context.Context, a *githubactions.Action, in inputs, client *gh.Client, abDir, sha string) (*gh.HistoryGate, error) {
	store, err := trackStore(in, client, a)
	if err != nil {
		return nil, err
	}
	all, err := store.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", in.historyStore, err)
	}
	cand, err := compare.HistoryPoints(abDir, sha, "release-candidate")
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, p := range cand {
		names[p.Scenario] = true
	}
	var pts []history.Point
	var newest time.Time
	for _, p := range all {
		if (names[p.Scenario] || p.Kind == history.KindAccept && p.Scenario == "") && p.Commit != sha {
			pts = append(pts, p)
			if t := p.Time.Add(time.Second); t.After(newest) {
				newest = t
			}
		}
	}
	h := &gh.HistoryGate{Against: fmt.Sprintf("the recent history in %s (%d points)", in.historyStore, len(pts)), Verdict: metric.Pass}
	for i := range cand {
		if newest.After(cand[i].Time) {
			cand[i].Time = newest // the newest point of its series
		}
	}
	for _, r := range history.Check(append(pts, cand...), history.Options{TwoSided: true}) {
		if r.Newest.Commit != sha || math.IsNaN(r.BandLow) {
			continue
		}
		where := fmt.Sprintf("%s level %d %s: %.4g against the band %.4g … %.4g of %d point(s)", r.Series.Scenario, r.Series.Level, r.Series.Metric,
			r.Newest.Value, r.BandLow, r.BandHigh, r.Points-1-r.BandFrom)
		switch {
		case r.Regressed:
			h.Verdict = metric.Fail
			h.Lines = append(h.Lines, "worse: "+where)
		case r.Improved:
			h.Verdict = metric.Worst(h.Verdict, metric.Warn)
			h.Lines = append(h.Lines, "better, unexplained (review it): "+where)
		}
	}
	return h, nil
}

// trackBisect names the culprit of each open regression the ledger has not
// bisected yet: the only suspect when the range holds one commit, else the
// first bad commit perfgate bisect finds over the first-parent commits
// between the last good and the first bad point. A provisional regression
// (one point) is left for the next run to confirm: a bisect costs GPU time.
func trackBisect(ctx context.Context, env Env, a *githubactions.Action, in inputs, repo, outDir string, l *history.Ledger) {
	for i := range l.Entries {
		e := &l.Entries[i]
		if !e.IsOpen() || e.Provisional || e.Bisect != "" {
			continue
		}
		list, err := childenv.Git(ctx, repo, "rev-list", "--first-parent", "--end-of-options", e.LastGood+".."+e.FirstBad)
		if err != nil {
			e.Bisect = "not bisected: " + err.Error()
			continue
		}
		if commits := strings.Fields(list); len(commits) == 1 {
			e.Culprit, e.Bisect = commits[0], "the only commit between the last good and the first bad point"
			continue
		}
		var file string
		for _, f := range in.scenarios {
			if s, err := scenario.LoadFile(f); err == nil && s.Name == e.Scenario {
				file = f
			}
		}
		if file == "" {
			e.Bisect = "not bisected: no scenario file of this run is named " + e.Scenario
			continue
		}
		a.Group("perfgate bisect " + e.Scenario)
		o := ab.Options{Repo: repo, BaseRef: e.LastGood, CandRef: e.FirstBad, Out: filepath.Join(outDir, "bisect"), WorkDir: in.workDir,
			Trust: in.trust, Install: in.install}
		quiet := env.Env
		quiet.Stdout = env.Stderr // bisect's answer goes to the log; the ledger says it
		res, err := ab.BisectRefs(ctx, quiet, []string{file}, o)
		a.EndGroup()
		switch {
		case err != nil:
			e.Bisect = "bisect did not name a culprit: " + numfmt.Clip(err.Error(), 300)
		default:
			e.Culprit = res.FirstBad
			e.Bisect = fmt.Sprintf("perfgate bisect over %d commits, %d A/B steps", len(res.Commits), len(res.Steps))
		}
	}
}
