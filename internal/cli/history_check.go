package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/perfgate/perfgate/internal/fault"
	"github.com/perfgate/perfgate/internal/history"
	"github.com/perfgate/perfgate/internal/record"
)

// newHistoryCheckCmd is perfgate history check: change points, bands and open regressions (exit 3).
func newHistoryCheckCmd(env Env, st *historyStore) *cobra.Command {
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
accept'. A newest segment of two points is listed already. The newest two
points beyond their segment together are a provisional regression, named by
the older; the newest point alone only when it is also at least --at-once
smallest steps beyond (4: 20 % on a 5 % threshold), since one slow run is
not a step. Every band is corrected for the number of series checked
together, so that a quiet night seldom raises one anywhere in the store.

It prints markdown (and writes history.md and history.json with --out) and exits
3 while any regression is open. --profile release makes the bands two-sided for
review. docs/history.md has the method and its measured error rates.`,
		Example: `  perfgate history check --store perf-history --scenario quickstart`,
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			pts, err := loadPoints(cmd, st, scen)
			if err != nil {
				return err
			}
			if !(o.AtOnce >= 1) {
				return fault.Usagef("--at-once is a number of smallest steps, at least 1, got %g", o.AtOnce)
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
	check.Flags().Float64Var(&o.AtOnce, "at-once", history.DefaultAtOnce, "how far, in smallest steps, the newest point alone must be beyond its segment to open a provisional regression (1: every step at its first commit)")
	check.Flags().StringVar(&profile, "profile", "", "release: two-sided (unexplained improvements are flagged for review)")
	return check
}
