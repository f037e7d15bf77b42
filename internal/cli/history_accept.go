package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/perfgate/perfgate/internal/fault"
	"github.com/perfgate/perfgate/internal/history"
)

// newHistoryAcceptCmd is perfgate history accept: a marker that an intended step starts a series anew.
func newHistoryAcceptCmd(env Env, st *historyStore) *cobra.Command {
	var scen string
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
			store, err := st.open()
			if err != nil {
				return err
			}
			m := history.Point{Version: history.FormatVersion, Kind: history.KindAccept, Scenario: scen, Metric: metric, Commit: from,
				Reason: reason, Time: time.Now().UTC(), RunID: "accept-" + from}
			n, err := store.Append(cmd.Context(), []history.Point{m})
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
	return accept
}
