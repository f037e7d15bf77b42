package cli

import (
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/perfgate/perfgate/internal/action"
)

func newActionCmd(env Env, log *slog.Logger) *cobra.Command {
	return &cobra.Command{
		Use:   "action",
		Short: "Run as the GitHub Action (inputs from INPUT_* environment variables)",
		Long: `action is what action.yml runs. It reads the action's inputs from environment
variables (INPUT_MODE, INPUT_SCENARIOS, INPUT_VLLM_PATH, INPUT_BASELINE_REF,
INPUT_CANDIDATE_REF, INPUT_TRIALS, INPUT_INSTALL_COMMAND, INPUT_GITHUB_TOKEN,
INPUT_COMMENT, INPUT_STATUS_CONTEXT, INPUT_ASSETS_BRANCH, INPUT_FAIL_ON,
INPUT_OUTPUT_DIR, INPUT_API_URL, INPUT_WORK_DIR, INPUT_COMMENT_AUTHOR,
INPUT_HISTORY_STORE, INPUT_HISTORY_SITE_BRANCH, INPUT_BISECT) and the workflow's GITHUB_* variables and event payload.

Modes:
  pr         A/B of the pull request's merge base against its head, then the
             sticky comment, the plots on the assets branch, the commit status,
             the job summary and the outputs.
  benchmark  the A/B only, no token needed: a results folder (output-dir) for
             actions/upload-artifact — the GPU job of a fork-safe pair.
  report     the reporter of that pair (a workflow_run job): reads the
             downloaded results folder strictly, checks it against the trusted
             event, and comments, sets the status and pushes the plots.
  release    candidate (default: this commit) against the last release tag
             (v*), 10 trials, alpha 0.01, two-sided review of large changes.
  track      this commit's trials into the history store, a check against
             recent history, trend plots, and one tracking issue on a
             regression.

A token that may not write (a pull request from a fork) degrades to the job
summary with a warning. docs/action.md has the workflows and the security model.

Exit codes: 0 pass (or warn), 3 a regression per fail-on, 1 error, 2 bad input.`,
		Args: exactArgs(0, "no arguments (the inputs come from INPUT_* variables)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ae := abEnv(env, log, abOpts{grace: 5 * time.Second})
			return action.Run(cmd.Context(), action.Env{Env: ae, Commands: env.Commands})
		},
	}
}
