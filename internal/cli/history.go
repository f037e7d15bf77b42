package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/perfgate/perfgate/internal/fault"
	gh "github.com/perfgate/perfgate/internal/github"
	"github.com/perfgate/perfgate/internal/history"
)

// newHistoryCmd is perfgate history; each subcommand is in its own file
// (history_*.go).
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
	st := &historyStore{env: env}
	cmd.PersistentFlags().StringVar(&st.store, "store", "", "a directory, git:BRANCH of --repo, or github:BRANCH of $GITHUB_REPOSITORY through the API (required)")
	cmd.PersistentFlags().StringVar(&st.repo, "repo", ".", "the git repository of a git: store")
	cmd.AddCommand(newHistoryAddCmd(env, st), newHistoryCheckCmd(env, st), newHistoryPlotCmd(env, st), newHistoryAcceptCmd(env, st), newHistorySiteCmd(env, st))
	return cmd
}

// historyStore is the store the history subcommands share (--store, --repo).
type historyStore struct {
	env         Env
	store, repo string
}

// open opens the store the flags name.
func (h *historyStore) open() (history.Store, error) {
	env, store, repo := h.env, h.store, h.repo
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

func forScenario(s string) string {
	if s == "" {
		return ""
	}
	return " for scenario " + s
}

// loadPoints opens the store, loads its points and keeps those of scen (all
// when scen is empty); an empty result is a usage error naming the scenario.
func loadPoints(cmd *cobra.Command, st *historyStore, scen string) ([]history.Point, error) {
	store, err := st.open()
	if err != nil {
		return nil, err
	}
	pts, err := store.Load(cmd.Context())
	if err != nil {
		return nil, err
	}
	pts = history.FilterScenario(pts, scen)
	if len(pts) == 0 {
		return nil, fault.Usagef("the store has no points%s", forScenario(scen))
	}
	return pts, nil
}
