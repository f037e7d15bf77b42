package cli

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/perfgate/perfgate/internal/ab"
	"github.com/perfgate/perfgate/internal/engine"
	"github.com/perfgate/perfgate/internal/scenario"
)

// abOpts are ab's (and bisect's, and the Action's) options: the A/B's
// own, and what each trial adds (its grace period and tags).
type abOpts struct {
	ab.Options
	grace time.Duration
	tags  map[string]string
}

func newABCmd(env Env, log *slog.Logger) *cobra.Command {
	var o abOpts
	var tags []string
	cmd := &cobra.Command{
		Use:   "ab SCENARIO... --vllm-repo PATH --baseline REF --candidate REF",
		Short: "Benchmark two commits of vLLM against each other, fairly, and gate",
		Long: `ab resolves the baseline and candidate refs of a vLLM checkout to commits
(merge-base:BRANCH is the merge base of the candidate and BRANCH — what a pull
request should be compared with), checks each out in a git worktree, installs it
into an environment of its own (--install-command, run in the worktree with
PERFGATE_ENV_DIR set; an environment that installed with the same command is
reused), then for every scenario (engine kind: vllm) runs the trials of both
sides interleaved in a balanced order (B C C B B C …) on the same machine,
each against 'vllm serve' from that side's environment, and compares them as
'perfgate compare' does.

Each trial starts a fresh server (engine.trial_policy: restart), or trials of
one side that follow each other share one and reset its prefix cache between
them (trial_policy: reset) — a vLLM start costs GPU-minutes, so the plan says
how many starts it makes and the report shows GPU time per side. A failed trial
(the engine died) is retried once and reported. When a side cannot start at
all, the verdict is error, never pass.

Output: DIR/<UTC time>_ab/ holding install logs, ab.json (commits, order,
starts, GPU time, and per scenario the verdict, trials used and why they
stopped), and per scenario baseline/ and candidate/ trials with their
engine.log, comparison.json, comparison.md, comparison.html and plots.

Exit codes: 0 pass or warn, 3 fail, 1 error (install, start), 2 bad usage.`,
		Example: `  perfgate ab scenarios/pr.yaml --vllm-repo ~/vllm --baseline merge-base:main --candidate HEAD
  perfgate ab scenarios/pr.yaml --vllm-repo ~/vllm --baseline v0.9.0 --candidate my-branch --trials 10 \
      --install-command 'uv venv "$PERFGATE_ENV_DIR" && VIRTUAL_ENV="$PERFGATE_ENV_DIR" uv pip install -e .'`,
		Args: atLeastOneArg("scenario file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.TrialsSet = cmd.Flags().Changed("trials")
			var err error
			if o.tags, err = parseTags(tags); err != nil {
				return err
			}
			_, err = runAB(cmd.Context(), env, log, args, o)
			return err
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&tags, "tag", nil, "KEY=VALUE recorded in every trial's meta.json and shown in the comparison (repeatable)")
	f.StringVar(&o.Repo, "vllm-repo", "", "the vLLM git checkout (required)")
	f.StringVar(&o.BaseRef, "baseline", "", "baseline ref or SHA, or merge-base:BRANCH (required)")
	f.StringVar(&o.CandRef, "candidate", "", "candidate ref or SHA (required)")
	f.IntVar(&o.Trials, "trials", 0, "a fixed number of trials per side, decided once (default: sequential, from gate.min_trials to gate.max_trials)")
	f.IntVar(&o.MinTrials, "min-trials", 0, "sequential: the first look, and the fewest trials per side a fail may rest on (default: the scenario's gate.min_trials, 3)")
	f.IntVar(&o.MaxTrials, "max-trials", 0, "sequential: the most trials per side (default: the scenario's gate.max_trials, 10)")
	f.StringVarP(&o.Out, "out", "o", "runs", "directory under which the A/B folder is created")
	f.StringVar(&o.WorkDir, "work-dir", "", "where worktrees and environments live (default: the user cache dir, perfgate/<repo>)")
	f.StringVar(&o.Install, "install-command", "", "shell command that installs the worktree into $PERFGATE_ENV_DIR (default: uv pip install -e ., else python -m pip)")
	f.BoolVar(&o.Clean, "clean", false, "remove the work dir's worktrees and environments first")
	f.BoolVar(&o.WarmupTrial, "warmup-trial", false, "run one uncounted trial per side first")
	f.BoolVar(&o.FailOnWarn, "fail-on-warn", false, "exit 3 on warn too")
	f.DurationVar(&o.grace, "grace", 5*time.Second, "after Ctrl-C, how long requests in flight may finish")
	f.StringVar(&o.BaseURL, "baseline-url", "", "endpoint mode: the baseline deployment's base address (no source, no install)")
	f.StringVar(&o.CandURL, "candidate-url", "", "endpoint mode: the candidate deployment's base address")
	f.StringVar(&o.Profile, "profile", "pr", "pr, or release: a fixed 10 trials per side unless --trials, alpha 0.01, two-sided review of large improvements")
	f.BoolVar(&o.Crossover, "crossover", false, "two GPUs: run baseline and candidate at once, on GPU 0 and 1, swapping GPUs every round")
	return cmd
}

// runAB runs perfgate ab (ab.RunRefs) with each trial run as 'perfgate run'
// runs one.
func runAB(ctx context.Context, env Env, log *slog.Logger, files []string, o abOpts) (*ab.Plan, error) {
	return ab.RunRefs(ctx, abEnv(env, log, o), files, o.Options)
}

// abEnv is what an A/B needs: each trial runs as 'perfgate run' runs one,
// with its progress and level table.
func abEnv(env Env, log *slog.Logger, o abOpts) ab.Env {
	return ab.Env{Getenv: env.Getenv, Stdout: env.Stdout, Stderr: env.Stderr, Log: log,
		Trial: func(ctx context.Context, stdout io.Writer, s *scenario.Scenario, dir string, n int, eng engine.Engine, git, versions map[string]string) error {
			te := env
			te.Stdout = stdout
			return runTrial(ctx, te, log, s, s.File, dir, runOpts{grace: o.grace, tags: o.tags}, n, trialEnv{eng: eng, git: git, versions: versions})
		}}
}
