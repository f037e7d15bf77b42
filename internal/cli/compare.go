package cli

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/perfgate/perfgate/internal/compare"
	"github.com/perfgate/perfgate/internal/fault"
	"github.com/perfgate/perfgate/internal/metric"
	"github.com/perfgate/perfgate/internal/report"
)

func newCompareCmd(env Env) *cobra.Command {
	var base, cand []string
	var out string
	var allowEnv, failOnWarn bool
	var profile string
	cmd := &cobra.Command{
		Use:   "compare --baseline DIR... --candidate DIR...",
		Short: "Decide with statistics whether the candidate regressed",
		Long: `compare takes the trials of a baseline and of a candidate (run folders, or
folders of trial-NN run folders from 'perfgate run --trials N') of the same
scenario, and decides per level and gating metric (the scenario's gate:
section): the median of each side, the change (Hodges-Lehmann estimate of the
ratio, with a 95 % interval), one-sided t-tests on log values with the
metric's noise pooled over its levels (error_rate: Fisher's exact test on
pooled request counts), Benjamini-Hochberg q-values over all gating tests,
and a verdict:

  fail  significantly worse (q ≤ alpha) than the margin — the warn threshold
        plus a quarter of the way to the fail threshold — and estimated past
        the fail threshold
  warn  significantly worse than the warn threshold, or past the fail
        threshold without significance (inconclusive: more trials would tell)
  pass  otherwise; significant improvements are reported too

This is a fixed-sample decision on the trials given; 'perfgate ab' runs
trials sequentially and stops when the verdict is clear. A fail needs
gate.min_trials (3) trials per side; with fewer, compare says so.

It writes comparison.json, comparison.md (verdict headline, the change-per-
metric chart, table, a "why it moved" section from the telemetry of both
sides, the environment), comparison.html (the same on one page that opens
offline, in light or dark mode, with every chart inline) and plots/: change
(each gating result's change toward worse, coloured by verdict, with its
interval and thresholds), metric-NAME (each gating metric's trials, baseline
beside candidate) and compare-hockey (both sides' p99 E2EL against output
throughput, with bands).
Runs from different GPUs, drivers or simulator profiles are refused unless
--allow-env-mismatch. docs/statistics.md explains the method and its measured
false-alarm rate and power.

Exit codes: 0 pass or warn, 3 fail (or warn with --fail-on-warn), 2 bad input.`,
		Example: `  perfgate run scenarios/quickstart.yaml --trials 6 --label base
  perfgate run scenarios/quickstart.yaml --trials 6 --label cand
  perfgate compare --baseline runs/*_base --candidate runs/*_cand --out /tmp/cmp`,
		Args: exactArgs(0, "no positional arguments (use --baseline and --candidate)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(base) == 0 || len(cand) == 0 {
				return fault.Usagef("compare needs --baseline DIR... and --candidate DIR...")
			}
			if profile != "" && profile != "pr" && profile != "release" {
				return fault.Usagef("--profile is pr or release, got %q", profile)
			}
			bt, err := compare.LoadTrials(base)
			if err != nil {
				return asUsage(err)
			}
			ct, err := compare.LoadTrials(cand)
			if err != nil {
				return asUsage(err)
			}
			c, err := compare.Compare(bt, ct, compare.Options{AllowEnvMismatch: allowEnv, Release: profile == "release"})
			if err != nil {
				return asUsage(err)
			}
			dir := out
			if dir == "" {
				dir = "comparison"
			}
			if err := compare.Write(cmd.Context(), c, bt, ct, dir); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "%s\n\n%s\n", c.Outcome.Headline, "details: "+filepath.Join(dir, "comparison.md"))
			for _, n := range c.Notes {
				fmt.Fprintf(env.Stderr, "perfgate: %s\n", n)
			}
			if c.Outcome.Verdict == metric.Fail || (failOnWarn && c.Outcome.Verdict == metric.Warn) {
				return &fault.RegressionError{Headline: c.Outcome.Headline}
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&base, "baseline", nil, "baseline trials: run folders or folders of trial-NN run folders (repeat or comma-separate)")
	cmd.Flags().StringSliceVar(&cand, "candidate", nil, "candidate trials, likewise")
	cmd.Flags().StringVarP(&out, "out", "o", "", "directory for comparison.json, .md, .html and plots (default ./comparison)")
	cmd.Flags().BoolVar(&allowEnv, "allow-env-mismatch", false, "compare runs from different GPUs, drivers or simulator profiles anyway")
	cmd.Flags().BoolVar(&failOnWarn, "fail-on-warn", false, "exit 3 on warn too")
	cmd.Flags().StringVar(&profile, "profile", "pr", "pr, or release: alpha 0.01 and two-sided review of large improvements")
	return cmd
}

// asUsage marks input problems (not a run folder, unlike runs) as exit code 2.
func asUsage(err error) error {
	var nr *report.NotRunFolderError
	var mm *compare.MismatchError
	if errors.As(err, &nr) || errors.As(err, &mm) {
		return fault.Usage(err)
	}
	return err
}
