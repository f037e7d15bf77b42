package compare

import (
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/perfgate/perfgate/internal/history"
	"github.com/perfgate/perfgate/internal/metric"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/stats"
)

// HistoryPoints turns a run folder, a trials folder or an A/B folder (its
// candidates) into history points: per scenario, level and gating metric,
// the median over the trials. commit and branch default to meta.json's.
func HistoryPoints(dir, commit, branch string) ([]history.Point, error) {
	var sets [][]string // trial dirs, one set per scenario
	if _, err := os.Stat(filepath.Join(dir, record.ABFile)); err == nil {
		subs, _ := filepath.Glob(filepath.Join(dir, "*", "candidate"))
		for _, s := range subs {
			sets = append(sets, []string{s})
		}
	} else {
		sets = append(sets, []string{dir})
	}
	var out []history.Point
	for _, set := range sets {
		trials, err := LoadTrials(set)
		if err != nil {
			return nil, err
		}
		t0 := trials[0]
		c := commit
		if c == "" {
			c = t0.Meta.Git["sha"]
		}
		if c == "" {
			return nil, &MismatchError{Reason: fmt.Sprintf("%s: no commit is known (meta.json has none); give --commit SHA", dir)}
		}
		b := branch
		if b == "" {
			b = t0.Meta.Git["ref"]
		}
		for _, l := range t0.Summary.Levels {
			for _, m := range t0.Scenario.Gate.Metrics {
				var xs []float64
				for _, t := range trials {
					for _, tl := range t.Summary.Levels {
						if tl.Level == l.Level {
							if v, ok := metric.Value(tl, m.Name); ok && !math.IsNaN(v) {
								xs = append(xs, v)
							}
						}
					}
				}
				if len(xs) == 0 {
					continue
				}
				out = append(out, history.Point{Version: history.FormatVersion, Scenario: t0.Scenario.Name, Level: l.Level + 1, Metric: m.Name,
					Value: stats.Median(xs), Commit: c, Branch: b, Time: t0.Meta.StartWall, Env: EnvKey(t0),
					RunID: filepath.Base(filepath.Clean(dir)), Trials: len(xs), FailPct: m.FailPct})
			}
		}
	}
	return out, nil
}
