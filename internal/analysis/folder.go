package analysis

import (
	"os"
	"path/filepath"

	"github.com/perfgate/perfgate/internal/record"
)

// ReadLevels reads a run folder's requests.jsonl and computes the metrics of
// each level. windows gives each level's measurement window; a level missing
// from it (a folder without summary.json) has its window inferred from the
// records. Levels come back in index order, one per level that has measured
// records or a window.
func ReadLevels(dir string, windows map[int]Window, o Options) ([]record.Level, record.ReadStats, error) {
	accs := map[int]*Accumulator{}
	st, err := record.Read(filepath.Join(dir, record.RequestsFile), func(r *record.Record) error {
		a := accs[r.Level]
		if a == nil {
			a = NewAccumulator(o)
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
			a = NewAccumulator(o)
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
