package analysis

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"

	"github.com/perfgate/perfgate/internal/record"
)

// ReadLevels reads a run folder's requests.jsonl and computes the metrics of
// each level. windows gives each level's measurement window; a level missing
// from it (a folder without result.json) has its window inferred from the
// records. Levels come back in index order, one per level that has measured
// records or a window. each, when set, also sees every record (in the same
// single pass), for what a report draws.
func ReadLevels(dir string, windows map[int]Window, o Options, each func(*record.Record)) ([]record.Level, record.ReadStats, error) {
	accs := map[int]*Accumulator{}
	st, err := record.Read(filepath.Join(dir, record.RequestsFile), func(r *record.Record) error {
		if each != nil {
			each(r)
		}
		a := accs[r.Level]
		if a == nil {
			a = newAccumulator(o)
			accs[r.Level] = a
		}
		a.Add(r)
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		return nil, st, err
	}
	maxLevel := -1
	for i := range accs {
		maxLevel = max(maxLevel, i)
	}
	for i := range windows {
		maxLevel = max(maxLevel, i)
	}
	var out []record.Level
	for i := 0; i <= maxLevel; i++ {
		a, w := accs[i], windows[i]
		_, haveWindow := windows[i]
		if a == nil {
			a = newAccumulator(o)
		}
		if a.Len() == 0 && !haveWindow {
			continue
		}
		if !haveWindow {
			w = a.InferWindow()
		}
		l := a.Level(w)
		l.Level = i
		out = append(out, l)
	}
	return out, st, nil
}

// warnSchedDelayMs: a p99 schedule delay above this means perfgate sent late.
const warnSchedDelayMs = 5.0

// clientWarnings are what a reader should know of a level from its records:
// perfgate (or the client that made an imported file) sent late, or the
// server's usage is missing or short.
func clientWarnings(l record.Level, client string) []string {
	var w []string
	if l.P99SchedDelay > warnSchedDelayMs {
		w = append(w, fmt.Sprintf("%s sent late: p99 schedule delay %.1f ms (max %.1f ms); the client, not the server, may limit this level", cmp.Or(client, "perfgate"), l.P99SchedDelay, l.MaxSchedDelay))
	}
	if l.UsageMissing > 0 {
		w = append(w, fmt.Sprintf("%d of %d completed requests had no usage from the server: their prompt tokens count as 0 and their output tokens as the content chunks received", l.UsageMissing, l.Completed))
	}
	if l.UsageShort > 0 {
		w = append(w, fmt.Sprintf("%d of %d completed requests reported fewer completion_tokens than the content chunks received: the server's usage undercounts; output_tokens_from: chunks (or max) makes TPOT and throughput count the chunks", l.UsageShort, l.Completed))
	}
	return w
}
