package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/perfgate/perfgate/internal/compare"
	"github.com/perfgate/perfgate/internal/history"
)

// newHistoryAddCmd is perfgate history add: run folders to points in the store.
func newHistoryAddCmd(env Env, st *historyStore) *cobra.Command {
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
			store, err := st.open()
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
			n, err := store.Append(cmd.Context(), pts)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "added %d point(s) to %s (%d already there)\n", n, st.store, len(pts)-n)
			return nil
		},
	}
	add.Flags().StringVar(&commit, "commit", "", "the commit the results belong to (default: meta.json's)")
	add.Flags().StringVar(&branch, "branch", "", "the branch to record")
	return add
}
