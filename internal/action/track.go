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
func runTrackMode(ctx context.Context, env Env, a *githubactions.Action, in actionInputs, gctx *githubactions.GitHubContext, ev *gh.Event, client *gh.Client, runURL string) error {
	cand := cmp.Or(in.candRef, ev.After, gctx.SHA, "HEAD")
	repo, err := filepath.Abs(in.vllmPath)
	if err != nil {
		return err
	}
	sha, err := vllmsrc.Resolve(ctx, repo, cand, "")
	if err != nil {
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
	o := ab.Options{Repo: repo, Trials: in.trials, WorkDir: in.workDir, Trust: trustRoot(in.token), Install: in.install}
	if !in.trialsSet {
		o.Trials = 3 // one commit, no comparison: the median of a few trials is a point
	}
	work, install, err := ab.PrepareWork(ctx, env.Env, repo, scenarios, o)
	if err != nil {
		return err
	}
	outDir, err := record.MakeRunDir(in.outputDir, "track", "")
	if err != nil {
		return err
	}
	sd := &ab.Side{Name: ab.Candidate, Ref: cand, SHA: sha}
	fail := func(err error) error {
		rep := &gh.Report{Set: in.set, Verdict: metric.Error, Error: err.Error(), HeadSHA: sha, RunURL: runURL}
		a.AddStepSummary(rep.Summary())
		a.SetOutput("verdict", "error")
		a.SetOutput("report-dir", outDir)
		a.Errorf("perfgate track: %v", err)
		return err
	}
	if err := ab.InstallSide(ctx, env.Env, repo, work, install, outDir, sd); err != nil {
		return fail(err)
	}
	order := make([]string, o.Trials)
	for i := range order {
		order[i] = ab.Candidate
	}
	plan := &ab.Plan{Dir: outDir, Candidate: sha, CandidateRef: cand, Order: order}
	write := func() error { plan.Account(sd, sd); return plan.Write() }
	for _, s := range scenarios {
		// one commit, no comparison: the median of a few trials is a point
		t := ab.NewVLLMTrialer(env.Env, s, sd, sd)
		res, err := ab.RunOneSide(ctx, t, filepath.Join(outDir, s.Name), ab.Candidate, o.Trials, ab.DesignFor(env.Env, s, o))
		t.Stop()
		res.Name = s.Name
		plan.Scenarios = append(plan.Scenarios, res)
		if err != nil {
			plan.Error = err.Error()
			return fail(errors.Join(fmt.Errorf("scenario %s: %w", s.Name, err), write()))
		}
	}
	if err := write(); err != nil {
		return fail(err)
	}

	pts, err := compare.HistoryPoints(outDir, sha, cmp.Or(gctx.RefName, ev.Run.HeadBranch))
	if err != nil {
		return fail(err)
	}
	n, err := store.Append(ctx, pts)
	if err != nil {
		return fail(fmt.Errorf("appending to %s: %w", in.historyStore, err))
	}
	all, err := store.Load(ctx)
	if err != nil {
		return fail(err)
	}
	var mine []history.Point
	names := map[string]bool{}
	for _, s := range scenarios {
		names[s.Name] = true
	}
	for _, p := range all {
		if names[p.Scenario] || (p.Kind == history.KindAccept && p.Scenario == "") {
			mine = append(mine, p)
		}
	}
	hopt := history.Options{}
	results := history.Check(mine, hopt)
	md := history.Markdown(results, hopt)

	// Trend plots: into the run folder, and onto the assets branch for the summary.
	trendDir := filepath.Join(outDir, "trends")
	var files []gh.LocalFile
	if err := os.MkdirAll(trendDir, 0o755); err != nil {
		return fail(err)
	}
	for i, r := range results {
		if err := ctx.Err(); err != nil {
			return fail(fmt.Errorf("stopped while drawing the charts: %w", context.Cause(ctx)))
		}
		c := report.TrendChart(mine, r)
		for ext, f := range map[string]func() ([]byte, error){".svg": c.SVG, ".png": c.PNG} {
			b, err := f()
			if err != nil {
				return fail(err)
			}
			p := filepath.Join(trendDir, gh.TrendPlotName(i, r)+ext)
			if err := record.WriteFileAtomic(p, b); err != nil {
				return fail(err)
			}
			files = append(files, gh.LocalFile{Scenario: "trends", Name: filepath.Base(p), Path: p})
		}
	}
	open := history.OpenRegressions(results)
	verdict := metric.Pass
	if len(open) > 0 {
		verdict = metric.Fail
	}
	// The plots, on the assets branch: the summary shows them, the tracking issue links them.
	plotURL := map[string]string{} // by file name
	var plots []gh.Plot
	if client != nil && len(files) > 0 {
		rep := &gh.Report{Set: in.set, HeadSHA: sha, Scenarios: []gh.ScenarioResult{{Name: "trends"}}}
		_, err := gh.Publish(ctx, client, rep, files, gh.PublishOptions{AssetsBranch: cmp.Or(in.assetsBranch, "perfgate-assets"), ServerURL: gctx.ServerURL,
			Warn: func(s string) { a.Warningf("%s", s) }})
		if err == nil {
			plots = rep.Scenarios[0].Plots
			for _, p := range plots {
				plotURL[p.Name] = p.Link
			}
		}
	}
	// The dashboard: into the run folder, and onto a branch for GitHub Pages.
	siteURL := ""
	pg, err := site.Render(mine, results, site.Options{Title: "perfgate history · " + in.set, CommitURL: gh.CommitURLTemplate(gctx.ServerURL, gctx.Repository)})
	if err == nil {
		err = pg.Write(filepath.Join(outDir, "site"))
	}
	if err != nil {
		return fail(err)
	}
	if in.siteBranch != "" && client != nil {
		sf := []gh.File{{Path: gh.SafeName(in.set) + "/index.html", Data: pg.HTML}, {Path: gh.SafeName(in.set) + "/history.json", Data: pg.JSON}}
		if _, err := client.PushFiles(ctx, in.siteBranch, "perfgate history site for "+sha, sf); err != nil {
			a.Warningf("the history site was not pushed to %s: %v", in.siteBranch, err)
		} else {
			siteURL = fmt.Sprintf("%s/%s/blob/%s/%s/index.html", cmp.Or(gctx.ServerURL, "https://github.com"), gctx.Repository, in.siteBranch, gh.SafeName(in.set))
		}
	}
	head := func(v metric.Verdict) string {
		return fmt.Sprintf("%s\n## %s perfgate tracking: %s · %s\n\ncommit `%s` (%s), %d new point(s) in %s.\n\n", gh.TrackingMarker(in.set),
			v.Mark(), strings.ToUpper(string(v)), gh.Esc(in.set), sha, gh.Esc(cmp.Or(gctx.RefName, "detached")), n, gh.Esc(in.historyStore))
	}
	var b strings.Builder
	b.WriteString(head(verdict))
	b.WriteString(strings.TrimPrefix(md, "# perfgate history\n\n"))
	if siteURL != "" {
		fmt.Fprintf(&b, "\nThe dashboard: `%s/index.html` on the branch %s ([source](%s)); GitHub Pages serves it when the branch is published.\n", gh.SafeName(in.set), gh.Esc(in.siteBranch), siteURL)
	}
	if len(plots) > 0 {
		b.WriteString("\n<details><summary>Trend plots</summary>\n\n")
		for _, p := range plots {
			fmt.Fprintf(&b, "<img src=\"%s\" alt=\"%s\" width=\"720\">\n\n", p.Img, p.Name)
		}
		b.WriteString("</details>\n")
	}
	if runURL != "" {
		fmt.Fprintf(&b, "\n[Workflow run](%s)\n", runURL)
	}
	body := b.String()
	body = numfmt.Cut(body, gh.MaxComment, "\n\n… cut; the job summary has the full table.\n")
	issueURL := ""
	if client != nil && in.comment {
		// The tracking issue keeps the record: every regression it ever saw,
		// its culprit range as first written, and how it was closed.
		links := gh.TrackingLinks{Server: cmp.Or(gctx.ServerURL, "https://github.com"), Repo: gctx.Repository, PlotURL: plotURL, Results: results}
		title := fmt.Sprintf("perfgate: performance regressions on %s (%s)", cmp.Or(gctx.RefName, "main"), in.set)
		u, _, err := client.UpsertIssue(ctx, gh.TrackingMarker(in.set), title, func(old string, exists bool) (string, bool) {
			l, perr := history.ParseLedger(old)
			if perr != nil {
				a.Warningf("the tracking issue's record does not parse (%v): it starts anew", perr)
			}
			l.Update(results, time.Now().UTC())
			if !exists && len(l.Open()) == 0 {
				return "", false // nothing to report, and no issue to keep up to date
			}
			if in.bisect {
				trackBisect(ctx, env, a, in, repo, outDir, &l)
			}
			return gh.TrackingIssueBody(head(verdict), l, links, runURL), true
		}, []string{"performance"})
		switch {
		case err != nil:
			a.Warningf("the tracking issue was not updated: %v", err)
		default:
			issueURL = u
		}
	}
	if client != nil && in.statusContext != "" {
		state := gh.StatusState(verdict, in.failOn)
		desc := fmt.Sprintf("%d series in the band of recent history", len(results))
		if verdict == metric.Fail {
			desc = fmt.Sprintf("%d open regression(s) against recent history", len(open))
		}
		if err := client.SetStatus(ctx, sha, state, in.statusContext, desc, runURL); err != nil {
			a.Warningf("no commit status: %v", err)
		}
	}
	a.AddStepSummary(numfmt.Cut(body, gh.MaxSummary, "\n"))
	if err := record.WriteFileAtomic(filepath.Join(outDir, "history.md"), []byte(md)); err != nil {
		return err
	}
	if err := record.WriteJSONAtomic(filepath.Join(outDir, "history.json"), history.ResultsJSON(results)); err != nil {
		return err
	}
	sumPath, _ := filepath.Abs(filepath.Join(outDir, "history.json"))
	abs, _ := filepath.Abs(outDir)
	a.SetOutput("verdict", string(verdict))
	a.SetOutput("report-dir", abs)
	a.SetOutput("comment-url", issueURL)
	a.SetOutput("summary-json", sumPath)
	fmt.Fprintf(env.Stdout, "perfgate track: %s, %d new point(s), %d open regression(s)\n", verdict, n, len(open))
	if verdict == metric.Fail && in.failOn != "never" {
		return fault.Regression("%d open regression(s) against recent history (see %s)", len(open), outDir)
	}
	return nil
}

// trackStore opens history-store: git:BRANCH through the API, else a directory.
// A torn line the directory store skips is a warning on the step.
func trackStore(in actionInputs, client *gh.Client, a *githubactions.Action) (history.Store, error) {
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
func releaseAgainstHistory(ctx context.Context, a *githubactions.Action, in actionInputs, client *gh.Client, abDir, sha string) (*gh.HistoryGate, error) {
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
func trackBisect(ctx context.Context, env Env, a *githubactions.Action, in actionInputs, repo, outDir string, l *history.Ledger) {
	for i := range l.Entries {
		e := &l.Entries[i]
		if !e.IsOpen() || e.Provisional || e.Bisect != "" {
			continue
		}
		list, err := childenv.Git(ctx, repo, "rev-list", "--first-parent", e.LastGood+".."+e.FirstBad)
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
			Trust: trustRoot(in.token), Install: in.install}
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
