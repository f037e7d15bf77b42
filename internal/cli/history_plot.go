package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/perfgate/perfgate/internal/fault"
	"github.com/perfgate/perfgate/internal/history"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/report"
)

// newHistoryPlotCmd is perfgate history plot: a trend chart per series.
func newHistoryPlotCmd(env Env, st *historyStore) *cobra.Command {
	var scen string
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
			pts, err := loadPoints(cmd, st, scen)
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
	return plotCmd
}
