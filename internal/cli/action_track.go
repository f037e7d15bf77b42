package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sethvargo/go-githubactions"

	"github.com/perfgate/perfgate/internal/ab"
	gh "github.com/perfgate/perfgate/internal/github"
	"github.com/perfgate/perfgate/internal/history"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/vllmsrc"
)

// runTrackMode benchmarks the current commit alone, appends the medians to
// the history store, checks the newest point against recent history, and
// reports: the job summary with trend plots and, on a regression, one sticky
// tracking issue naming the suspected commit range.
func runTrackMode(ctx context.Context, env Env, log *slog.Logger, a *githubactions.Action, in actionInputs, gctx *githubactions.GitHubContext, ev *gh.Event, client *gh.Client, runURL string) error {
	cand := cmp.Or(in.candRef, ev.After, gctx.SHA, "HEAD")
	repo, err := filepath.Abs(in.vllmPath)
	if err != nil {
		return err
	}
	sha, err := vllmsrc.Resolve(ctx, repo, cand, "")
	if err != nil {
		return usagef("candidate-ref: %v", err)
	}
	var store history.Store
	if branch, ok := strings.CutPrefix(in.historyStore, "git:"); ok {
		if client == nil {
			return usagef("history-store %s is pushed through the API: give github-token (contents: write)", in.historyStore)
		}
		store = &gh.HistoryStore{C: client, Branch: branch}
	} else {
		store = &history.DirStore{Dir: in.historyStore}
	}
	scenarios, err := loadABScenarios(in.scenarios, true)
	if err != nil {
		return err
	}
	o := abOpts{repo: repo, trials: in.trials, workDir: in.workDir, trust: trustRoot(in.token), install: in.install, grace: 5 * time.Second}
	if !in.trialsSet {
		o.trials = 3 // one commit, no comparison: the median of a few trials is a point
	}
	work, install, err := prepareWork(ctx, repo, scenarios, o)
	if err != nil {
		return err
	}
	outDir, err := makeRunDir(in.outputDir, "track", "")
	if err != nil {
		return err
	}
	sd := &side{name: "candidate", ref: cand, sha: sha}
	fail := func(err error) error {
		rep := &gh.Report{Set: in.set, Verdict: "error", Error: err.Error(), HeadSHA: sha, RunURL: runURL}
		a.AddStepSummary(rep.Summary())
		a.SetOutput("verdict", "error")
		a.SetOutput("report-dir", outDir)
		a.Errorf("perfgate track: %v", err)
		return err
	}
	if err := installSide(ctx, env, repo, work, install, outDir, sd); err != nil {
		return fail(err)
	}
	order := make([]string, o.trials)
	for i := range order {
		order[i] = "candidate"
	}
	plan := &abPlan{Dir: outDir, Candidate: sha, CandidateRef: cand, Order: order}
	for _, s := range scenarios {
		// one commit, no comparison: the median of a few trials is a point
		t := newVLLMTrialer(env, log, s, o, sd, sd)
		res, err := ab.RunOneSide(ctx, t, filepath.Join(outDir, s.Name), ab.Candidate, o.trials, abDesign(env, s, o))
		t.stop()
		res.Name = s.Name
		plan.Scenarios = append(plan.Scenarios, res)
		if err != nil {
			plan.Error = err.Error()
			return fail(errors.Join(fmt.Errorf("scenario %s: %w", s.Name, err), writePlan(plan, sd, sd)))
		}
	}
	if err := writePlan(plan, sd, sd); err != nil {
		return fail(err)
	}

	pts, err := pointsOf(outDir, sha, cmp.Or(gctx.RefName, ev.Run.HeadBranch))
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
	md := historyMarkdown(results, hopt)

	// Trend plots: into the run folder, and onto the assets branch for the summary.
	trendDir := filepath.Join(outDir, "trends")
	var files []gh.LocalFile
	if err := os.MkdirAll(trendDir, 0o755); err != nil {
		return fail(err)
	}
	for i, r := range results {
		c := trendChart(mine, r)
		name := fmt.Sprintf("trend-%02d-%s-l%d-%s", i+1, gh.SafeName(r.Series.Scenario), r.Series.Level, gh.SafeName(r.Series.Metric))
		for ext, f := range map[string]func() ([]byte, error){".svg": c.SVG, ".png": c.PNG} {
			b, err := f()
			if err != nil {
				return fail(err)
			}
			p := filepath.Join(trendDir, strings.ToLower(name)+ext)
			if err := record.WriteFileAtomic(p, b); err != nil {
				return fail(err)
			}
			files = append(files, gh.LocalFile{Scenario: "trends", Name: filepath.Base(p), Path: p})
		}
	}
	var regressed []history.Result
	for _, r := range results {
		if r.Regressed {
			regressed = append(regressed, r)
		}
	}
	verdict := "pass"
	if len(regressed) > 0 {
		verdict = "fail"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n## %s perfgate tracking: %s · %s\n\ncommit `%s` (%s), %d new point(s) in %s.\n\n", trackMarker(in.set),
		map[string]string{"pass": "✅", "fail": "❌"}[verdict], strings.ToUpper(verdict), gh.Esc(in.set), sha, gh.Esc(cmp.Or(gctx.RefName, "detached")), n, gh.Esc(in.historyStore))
	for _, r := range regressed {
		fmt.Fprintf(&b, "- ❌ %s level %d %s: %s; %s\n", gh.Esc(r.Series.Scenario), r.Series.Level, gh.Esc(r.Series.Metric),
			outsideBand(r), suspectRange(mine, r))
	}
	b.WriteString("\n" + strings.TrimPrefix(md, "# perfgate history\n\n"))
	if client != nil && len(files) > 0 {
		rep := &gh.Report{Set: in.set, HeadSHA: sha, Scenarios: []gh.ScenarioResult{{Name: "trends"}}}
		_, err := gh.Publish(ctx, client, rep, files, gh.PublishOptions{AssetsBranch: cmp.Or(in.assetsBranch, "perfgate-assets"), ServerURL: gctx.ServerURL,
			Warn: func(s string) { a.Warningf("%s", s) }})
		if err == nil && len(rep.Scenarios[0].Plots) > 0 {
			b.WriteString("\n<details><summary>Trend plots</summary>\n\n")
			for _, p := range rep.Scenarios[0].Plots {
				fmt.Fprintf(&b, "<img src=\"%s\" alt=\"%s\" width=\"720\">\n\n", p.Img, p.Name)
			}
			b.WriteString("</details>\n")
		}
	}
	if runURL != "" {
		fmt.Fprintf(&b, "\n[Workflow run](%s)\n", runURL)
	}
	body := b.String()
	if len(body) > gh.MaxComment {
		body = body[:gh.MaxComment-200] + "\n\n… cut; the job summary has the full table.\n"
	}
	issueURL := ""
	if verdict == "fail" && client != nil && in.comment {
		title := fmt.Sprintf("perfgate: performance regression on %s (%s)", cmp.Or(gctx.RefName, "main"), in.set)
		u, _, err := client.UpsertIssue(ctx, trackMarker(in.set), title, body, []string{"performance"})
		switch {
		case errors.Is(err, gh.ErrNoPermission):
			a.Warningf("the tracking issue was not updated: %v", err)
		case err != nil:
			a.Warningf("the tracking issue was not updated: %v", err)
		default:
			issueURL = u
		}
	}
	if client != nil && in.statusContext != "" {
		state := statusState(verdict, in.failOn)
		desc := fmt.Sprintf("%d series in the band of recent history", len(results))
		if verdict == "fail" {
			desc = fmt.Sprintf("%d series regressed against recent history", len(regressed))
		}
		if err := client.SetStatus(ctx, sha, state, in.statusContext, desc, runURL); err != nil {
			a.Warningf("no commit status: %v", err)
		}
	}
	summary := body
	if len(summary) > gh.MaxSummary {
		summary = summary[:gh.MaxSummary-100]
	}
	a.AddStepSummary(summary)
	if err := record.WriteFileAtomic(filepath.Join(outDir, "history.md"), []byte(md)); err != nil {
		return err
	}
	if err := record.WriteJSONAtomic(filepath.Join(outDir, "history.json"), cleanResults(results)); err != nil {
		return err
	}
	sumPath, _ := filepath.Abs(filepath.Join(outDir, "history.json"))
	abs, _ := filepath.Abs(outDir)
	a.SetOutput("verdict", verdict)
	a.SetOutput("report-dir", abs)
	a.SetOutput("comment-url", issueURL)
	a.SetOutput("summary-json", sumPath)
	fmt.Fprintf(env.Stdout, "perfgate track: %s, %d new point(s), %d series regressed\n", verdict, n, len(regressed))
	if verdict == "fail" && in.failOn != "never" {
		return &regressionError{fmt.Sprintf("%d series regressed against recent history (see %s)", len(regressed), outDir)}
	}
	return nil
}

func trackMarker(set string) string { return "<!-- perfgate:tracking:" + gh.SafeName(set) + " -->" }

// suspectRange names the commits between the last point inside the band
// and the newest: where to look.
func suspectRange(pts []history.Point, r history.Result) string {
	var prev string
	var at time.Time
	for _, p := range pts {
		if p.Kind == "" && p.Scenario == r.Series.Scenario && p.Level == r.Series.Level && p.Metric == r.Series.Metric && p.Env == r.Series.Env &&
			p.Commit != r.Newest.Commit && p.Time.Before(r.Newest.Time) && !p.Time.Before(at) {
			prev, at = p.Commit, p.Time
		}
	}
	if prev == "" {
		return fmt.Sprintf("suspect: `%.12s`", r.Newest.Commit)
	}
	return fmt.Sprintf("suspected range: `%.12s..%.12s` (git log %.12s..%.12s)", prev, r.Newest.Commit, prev, r.Newest.Commit)
}

// outsideBand says how far the newest point is from its band, with as many
// digits as it takes for the value and the edges to read differently.
func outsideBand(r history.Result) string {
	v, lo, hi := r.Newest.Value, r.BandLow, r.BandHigh
	prec := 4
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', prec, 64) }
	for prec < 10 && (f(v) == f(lo) || f(v) == f(hi)) {
		prec++
	}
	s := fmt.Sprintf("%s is outside the band %s … %s", f(v), f(lo), f(hi))
	if mid := (lo + hi) / 2; mid != 0 && r.Series.Metric != "error_rate" {
		s += fmt.Sprintf(" (%+.1f %% from its centre)", 100*(v/mid-1))
	}
	return s
}
