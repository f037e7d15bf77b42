package cli

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/perfgate/perfgate/internal/compare"
	"github.com/perfgate/perfgate/internal/fault"
	gh "github.com/perfgate/perfgate/internal/github"
	"github.com/perfgate/perfgate/internal/history"
	"github.com/perfgate/perfgate/internal/history/site"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/report"
)

func newHistoryCmd(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "history",
		Short: "Track results over commits and find where a metric stepped",
		Long: `history keeps one point per commit, scenario, level and gating metric (the
median over trials) in a store: a directory of JSON Lines files, or git:BRANCH,
an orphan branch of a local git repository (--repo, default .). docs/history.md
describes the format and the checks.`,
		Example: `  perfgate history add runs/20261128T180239Z_ab --store perf-history
  perfgate history check --store perf-history
  perfgate history plot --store git:perf-history --out /tmp/trends
  perfgate history site --store git:perf-history --out site`,
		Args: exactArgs(0, "a subcommand (add, check, plot, accept or site)"),
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	var store, repo string
	cmd.PersistentFlags().StringVar(&store, "store", "", "a directory, git:BRANCH of --repo, or github:BRANCH of $GITHUB_REPOSITORY through the API (required)")
	cmd.PersistentFlags().StringVar(&repo, "repo", ".", "the git repository of a git: store")
	open := func() (history.Store, error) {
		if branch, ok := strings.CutPrefix(store, "github:"); ok {
			// The branch of the GitHub repository, through the API (as the action's track mode keeps it).
			token, repository := env.Getenv("GITHUB_TOKEN"), env.Getenv("GITHUB_REPOSITORY")
			if branch == "" || token == "" || repository == "" {
				return nil, fault.Usagef("--store github:BRANCH needs a branch, and GITHUB_TOKEN and GITHUB_REPOSITORY (OWNER/NAME) in the environment")
			}
			c, err := gh.NewClient(env.Getenv("GITHUB_API_URL"), token, repository)
			if err != nil {
				return nil, fault.Usagef("%v", err)
			}
			return &gh.HistoryStore{C: c, Branch: branch}, nil
		}
		s, err := history.Open(store, repo)
		if err != nil {
			return nil, fault.Usagef("%v", err)
		}
		if d, ok := s.(*history.DirStore); ok {
			d.Warn = func(msg string) { fmt.Fprintf(env.Stderr, "perfgate: warning: %s\n", msg) }
		}
		return s, nil
	}

	var commit, branch string
	add := &cobra.Command{
		Use:   "add RUN_OR_AB_DIR... --store STORE",
		Short: "Append the results of run folders (or an ab folder's candidate) to the store",
		Long: `add appends, per scenario, level and gating metric, the median over the trials
of a run folder, a folder of trial-NN folders, or an ab folder (its candidate
side), with the commit (from meta.json; --commit overrides), time, branch and the
environment fingerprint. Appending the same run again adds nothing.`,
		Example: `  perfgate history add runs/20261128T180239Z_ab --store perf-history --branch main`,
		Args:    atLeastOneArg("folder"),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := open()
			if err != nil {
				return err
			}
			var pts []history.Point
			for _, dir := range args {
				p, err := compare.HistoryPoints(dir, commit, branch)
				if err != nil {
					return asUsage(err)
				}
				pts = append(pts, p...)
			}
			n, err := st.Append(cmd.Context(), pts)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "added %d point(s) to %s (%d already there)\n", n, store, len(pts)-n)
			return nil
		},
	}
	add.Flags().StringVar(&commit, "commit", "", "the commit the results belong to (default: meta.json's)")
	add.Flags().StringVar(&branch, "branch", "", "the branch to record")

	var scen, out, profile string
	var o history.Options
	check := &cobra.Command{
		Use:   "check --store STORE [--scenario S]",
		Short: "Is the newest point a regression? Where did each metric step?",
		Long: `check finds, per series (scenario, level, metric and environment), the change
points over the whole series — the optimal partition into steady segments, each
step kept only when a t-test between its segments is significant and it is at
least the smallest step that counts (the metric's fail_pct) — and compares the
newest point with a prediction band drawn from its current segment (on the log
scale for latencies and throughputs). A step for the worse is a regression: it
stays open, naming its first bad commit and the suspects (last good … first
bad), until a later step brings the metric back or someone runs 'history
accept'. A newest segment of two points is listed already; a single point
outside the band is a provisional regression.

It prints markdown (and writes history.md and history.json with --out) and exits
3 while any regression is open. --profile release makes the bands two-sided for
review. docs/history.md has the method and its measured error rates.`,
		Example: `  perfgate history check --store perf-history --scenario quickstart`,
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			pts, err := loadPoints(cmd, open, scen)
			if err != nil {
				return err
			}
			if profile == "release" {
				o.TwoSided = true
			} else if profile != "" && profile != "pr" {
				return fault.Usagef("--profile is pr or release, got %q", profile)
			}
			res := history.Check(pts, o)
			md := history.Markdown(res, o)
			fmt.Fprint(env.Stdout, md)
			if out != "" {
				if err := os.MkdirAll(out, 0o755); err != nil {
					return err
				}
				if err := record.WriteFileAtomic(filepath.Join(out, "history.md"), []byte(md)); err != nil {
					return err
				}
				if err := record.WriteJSONAtomic(filepath.Join(out, "history.json"), history.ResultsJSON(res)); err != nil {
					return err
				}
			}
			if open := history.OpenRegressions(res); len(open) > 0 {
				return fault.Regression("%d open regression(s); the first: %s", len(open), open[0])
			}
			return nil
		},
	}
	check.Flags().StringVar(&scen, "scenario", "", "only this scenario")
	check.Flags().StringVar(&out, "out", "", "also write history.md and history.json here")
	check.Flags().IntVar(&o.Window, "window", 30, "points of recent history for the band")
	check.Flags().Float64Var(&o.MinMagnitude, "min-change", 0, "smallest step that counts, relative (0.05: 5 %; absolute for error_rate); default: each metric's fail_pct from the scenario, else 0.03")
	check.Flags().IntVar(&o.MinSegment, "min-segment", 5, "fewest points between two change points (the newest segment may have 2)")
	check.Flags().StringVar(&profile, "profile", "", "release: two-sided (unexplained improvements are flagged for review)")

	var plotOut string
	plotCmd := &cobra.Command{
		Use:     "plot --store STORE --out DIR [--scenario S]",
		Short:   "Trend charts per metric, with the band and the change points",
		Example: `  perfgate history plot --store perf-history --out /tmp/trends`,
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if plotOut == "" {
				return fault.Usagef("history plot needs --out DIR")
			}
			pts, err := loadPoints(cmd, open, scen)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(plotOut, 0o755); err != nil {
				return err
			}
			n := 0
			for _, r := range history.Check(pts, history.Options{}) {
				if err := cmd.Context().Err(); err != nil {
					return fmt.Errorf("stopped while drawing the charts (%d written to %s): %w", n, plotOut, context.Cause(cmd.Context()))
				}
				c := report.TrendChart(pts, r)
				name := strings.NewReplacer("/", "-", " ", "-", ":", "-").Replace(fmt.Sprintf("trend-%s-l%d-%s", r.Series.Scenario, r.Series.Level, r.Series.Metric))
				if n > 0 && r.Series.Env != "" {
					name += fmt.Sprintf("-%d", n)
				}
				for ext, f := range map[string]func() ([]byte, error){".svg": c.SVG, ".png": c.PNG} {
					b, err := f()
					if err != nil {
						return err
					}
					if err := record.WriteFileAtomic(filepath.Join(plotOut, name+ext), b); err != nil {
						return err
					}
				}
				n++
			}
			fmt.Fprintf(env.Stdout, "wrote %d trend chart(s) to %s\n", n, plotOut)
			return nil
		},
	}
	plotCmd.Flags().StringVar(&plotOut, "out", "", "directory for the charts")
	plotCmd.Flags().StringVar(&scen, "scenario", "", "only this scenario")
	var from, reason, metric string
	accept := &cobra.Command{
		Use:   "accept --from SHA --store STORE [--scenario S] [--metric M] --reason TEXT",
		Short: "Mark an intended change: later checks start from the new level",
		Long: `accept records that a step at commit SHA is intended (a new default, a
trade-off someone signed off), so that checks stop flagging it: from the
first point of that commit on, each series (all of them, or those of
--scenario and --metric) starts anew. The marker is one line in the store,
kept like the points; the newest marker that applies to a series wins.`,
		Example: `  perfgate history accept --store perf-history --from 3f2a9c1 --reason "chunked prefill on by default (#1234)"`,
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if from == "" || reason == "" {
				return fault.Usagef("history accept needs --from SHA and --reason (why the change is intended)")
			}
			st, err := open()
			if err != nil {
				return err
			}
			m := history.Point{Version: history.FormatVersion, Kind: history.KindAccept, Scenario: scen, Metric: metric, Commit: from,
				Reason: reason, Time: time.Now().UTC(), RunID: "accept-" + from}
			n, err := st.Append(cmd.Context(), []history.Point{m})
			if err != nil {
				return err
			}
			if n == 0 {
				fmt.Fprintf(env.Stdout, "%s is accepted already%s\n", from, forScenario(scen))
				return nil
			}
			fmt.Fprintf(env.Stdout, "accepted the change at %s%s: later checks start from it\n", from, forScenario(scen))
			return nil
		},
	}
	accept.Flags().StringVar(&from, "from", "", "the commit the new level starts at")
	accept.Flags().StringVar(&reason, "reason", "", "why the change is intended (kept in the store)")
	accept.Flags().StringVar(&scen, "scenario", "", "only this scenario's series")
	accept.Flags().StringVar(&metric, "metric", "", "only this metric's series")
	var siteOut, siteTitle, commitURL string
	siteCmd := &cobra.Command{
		Use:   "site --store STORE --out DIR [--scenario S] [--commit-url URL]",
		Short: "Write the history dashboard: one static HTML page to publish on GitHub Pages",
		Long: `site writes DIR/index.html — one self-contained page (no external assets, no
server) with, per scenario, level and metric, the trend over commits, the band
of the current segment, the change points and the open regressions, a filter by
scenario and metric, and each point's commit and value on hover — and
DIR/history.json, the same data for scripts. --commit-url makes every point a
link ({sha} is replaced; default: $GITHUB_SERVER_URL/$GITHUB_REPOSITORY/commit/{sha}
when those are set).`,
		Example: `  perfgate history site --store git:perfgate-history --out site --commit-url 'https://github.com/vllm-project/vllm/commit/{sha}'`,
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if siteOut == "" {
				return fault.Usagef("history site needs --out DIR")
			}
			pts, err := loadPoints(cmd, open, scen)
			if err != nil {
				return err
			}
			commitURL = cmp.Or(commitURL, gh.CommitURLTemplate(env.Getenv("GITHUB_SERVER_URL"), env.Getenv("GITHUB_REPOSITORY")))
			pg, err := site.Render(pts, history.Check(pts, history.Options{}), site.Options{Title: siteTitle, CommitURL: commitURL})
			if err != nil {
				return err
			}
			if err := pg.Write(siteOut); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "wrote %s: %d series, %d open regression(s)\n", filepath.Join(siteOut, "index.html"), pg.Series, pg.Open)
			return nil
		},
	}
	siteCmd.Flags().StringVar(&siteOut, "out", "", "directory for index.html and history.json")
	siteCmd.Flags().StringVar(&scen, "scenario", "", "only this scenario")
	siteCmd.Flags().StringVar(&siteTitle, "title", "", "the page's title (default: perfgate history)")
	siteCmd.Flags().StringVar(&commitURL, "commit-url", "", "link for each point, {sha} replaced by its commit (http or https)")
	cmd.AddCommand(add, check, plotCmd, accept, siteCmd)
	return cmd
}

func forScenario(s string) string {
	if s == "" {
		return ""
	}
	return " for scenario " + s
}

// loadPoints opens the store, loads its points and keeps those of scen (all
// when scen is empty); an empty result is a usage error naming the scenario.
func loadPoints(cmd *cobra.Command, open func() (history.Store, error), scen string) ([]history.Point, error) {
	st, err := open()
	if err != nil {
		return nil, err
	}
	pts, err := st.Load(cmd.Context())
	if err != nil {
		return nil, err
	}
	pts = history.FilterScenario(pts, scen)
	if len(pts) == 0 {
		return nil, fault.Usagef("the store has no points%s", forScenario(scen))
	}
	return pts, nil
}
