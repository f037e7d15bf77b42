package comparison

import (
	"os"
	"path/filepath"
	"testing"
)

// ValidateComparison never panics and never accepts a file without its
// schema version, whatever the bytes (seeds: a real comparison.json that
// internal/compare's TestValidateComparison writes with -update).
func FuzzValidateComparison(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/fuzz-seeds/*.json")
	for _, s := range seeds {
		b, _ := os.ReadFile(s)
		f.Add(b)
	}
	f.Add([]byte(`{"schema_version":1,"outcome":{"verdict":"pass","results":[]}}`))
	f.Add([]byte(`{"schema_version":1,"outcome":{"verdict":"fail","results":[{"level":1,"metric":"p99_ttft_ms","verdict":"fail","change_pct":12.5,"p":0.001}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ValidateComparison(data)
		if err == nil && (c == nil || c.SchemaVersion != 1) {
			t.Fatal("accepted without a schema version")
		}
	})
}
