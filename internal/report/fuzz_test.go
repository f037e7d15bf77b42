package report

import (
	"os"
	"path/filepath"
	"testing"
)

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

func TestValidateComparison(t *testing.T) {
	a, b := fixtures(t)
	base, err := LoadTrials([]string{a})
	must(t, err)
	cand, err := LoadTrials([]string{b})
	must(t, err)
	c, err := Compare(base, cand, CompareOptions{})
	must(t, err)
	out := t.TempDir()
	must(t, WriteComparison(c, base, cand, out))
	data, _ := os.ReadFile(filepath.Join(out, "comparison.json"))
	if _, err := ValidateComparison(data); err != nil {
		t.Fatalf("perfgate's own comparison is rejected: %v", err)
	}
	os.MkdirAll("testdata/fuzz-seeds", 0o755)
	if *update {
		os.WriteFile("testdata/fuzz-seeds/comparison.json", data, 0o644)
	}
	for name, bad := range map[string]string{
		"tampered verdict": `{"schema_version":1,"outcome":{"verdict":"pass<script>","results":[]}}`,
		"wrong schema":     `{"schema_version":2,"outcome":{"verdict":"pass"}}`,
		"unknown field":    `{"schema_version":1,"outcome":{"verdict":"pass"},"extra":1}`,
		"trailing":         `{"schema_version":1,"outcome":{"verdict":"pass"}} {}`,
		"bad metric":       `{"schema_version":1,"outcome":{"verdict":"pass","results":[{"level":1,"metric":"x](javascript:alert(1))","verdict":"pass","p":0.5}]}}`,
		"p out of range":   `{"schema_version":1,"outcome":{"verdict":"pass","results":[{"level":1,"metric":"m","verdict":"pass","p":7}]}}`,
	} {
		if _, err := ValidateComparison([]byte(bad)); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if _, err := ValidateComparison(data, "0123456789abcdef"); err == nil {
		t.Error("a comparison that does not name the expected commit must be rejected")
	}
}
