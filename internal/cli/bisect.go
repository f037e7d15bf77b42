package cli

import (
	"context"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/perfgate/perfgate/internal/ab"
)

func newBisectCmd(env Env, log *slog.Logger) *cobra.Command {
	var o abOpts
	var good, bad string
	cmd := &cobra.Command{
		Use:   "bisect SCENARIO... --vllm-repo PATH --good A --bad B",
		Short: "Name the commit that made vLLM slower: a binary search with the A/B gate as the oracle",
		Long: `bisect searches the first-parent commits after --good up to --bad for the first
one that regressed, with 'perfgate ab' as the oracle: each step benchmarks a
commit of the range against the known-good commit (sequential trials,
interleaved, as ab runs them); fail means the commit is bad, pass that it is
good. The bad end is checked first, so a range that does not regress says so
instead of naming a culprit. A step whose verdict is warn (a change the trials
could not settle) stops the search and names the range that is left.

Every step is an ab folder of its own under DIR/<UTC time>_bisect/, and
bisect.json records the commits, each step's verdict and the result. The
known-good commit is installed once and reused by every step (as is every
commit's environment, by ab's work dir); about log2(N) + 1 steps for N commits.

Exit codes: 0 a first bad commit was named, 3 the bad end does not regress,
1 an error or an inconclusive step, 2 bad usage.`,
		Example: `  perfgate bisect scenarios/nightly.yaml --vllm-repo ~/vllm --good 3f2a9c1 --bad main
  perfgate bisect s.yaml --vllm-repo ~/vllm --good v0.10.0 --bad v0.10.1 --max-trials 6`,
		Args: atLeastOneArg("scenario file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.TrialsSet = cmd.Flags().Changed("trials")
			o.BaseRef, o.CandRef = good, bad
			return runBisect(cmd.Context(), env, log, args, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Repo, "vllm-repo", "", "the vLLM git checkout (required)")
	f.StringVar(&good, "good", "", "a commit known to be good (required)")
	f.StringVar(&bad, "bad", "", "a later commit known (or thought) to be bad (required)")
	f.IntVar(&o.Trials, "trials", 0, "a fixed number of trials per side at each step (default: sequential)")
	f.IntVar(&o.MinTrials, "min-trials", 0, "sequential: the first look (default: the scenario's gate.min_trials)")
	f.IntVar(&o.MaxTrials, "max-trials", 0, "sequential: the most trials per side at each step (default: the scenario's gate.max_trials)")
	f.StringVarP(&o.Out, "out", "o", "runs", "directory under which the bisect folder is created")
	f.StringVar(&o.WorkDir, "work-dir", "", "where worktrees and environments live (default: the user cache dir, perfgate/<repo>)")
	f.StringVar(&o.Install, "install-command", "", "shell command that installs the worktree into $PERFGATE_ENV_DIR (as for ab)")
	f.DurationVar(&o.grace, "grace", 5*time.Second, "after Ctrl-C, how long requests in flight may finish")
	return cmd
}

func runBisect(ctx context.Context, env Env, log *slog.Logger, files []string, o abOpts) error {
	_, err := ab.BisectRefs(ctx, abEnv(env, log, o), files, o.Options)
	return err
}
