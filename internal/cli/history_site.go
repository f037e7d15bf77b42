package cli

import (
	"cmp"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/perfgate/perfgate/internal/fault"
	gh "github.com/perfgate/perfgate/internal/github"
	"github.com/perfgate/perfgate/internal/history"
	"github.com/perfgate/perfgate/internal/history/site"
)

// newHistorySiteCmd is perfgate history site: the dashboard page.
func newHistorySiteCmd(env Env, st *historyStore) *cobra.Command {
	var scen string
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
			pts, err := loadPoints(cmd, st, scen)
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
	return siteCmd
}
