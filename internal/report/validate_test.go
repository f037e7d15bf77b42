package report

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/perfgate/perfgate/internal/comparison"
)

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
	if _, err := comparison.ValidateComparison(data); err != nil {
		t.Fatalf("perfgate's own comparison is rejected: %v", err)
	}
	if *update { // the seed of internal/comparison's fuzz target
		os.WriteFile("../comparison/testdata/fuzz-seeds/comparison.json", data, 0o644)
	}
	for name, bad := range map[string]string{
		"tampered verdict": `{"schema_version":1,"outcome":{"verdict":"pass<script>","results":[]}}`,
		"wrong schema":     `{"schema_version":2,"outcome":{"verdict":"pass"}}`,
		"unknown field":    `{"schema_version":1,"outcome":{"verdict":"pass"},"extra":1}`,
		"trailing":         `{"schema_version":1,"outcome":{"verdict":"pass"}} {}`,
		"bad metric":       `{"schema_version":1,"outcome":{"verdict":"pass","results":[{"level":1,"metric":"x](javascript:alert(1))","verdict":"pass","p":0.5}]}}`,
		"p out of range":   `{"schema_version":1,"outcome":{"verdict":"pass","results":[{"level":1,"metric":"m","verdict":"pass","p":7}]}}`,
	} {
		if _, err := comparison.ValidateComparison([]byte(bad)); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if _, err := comparison.ValidateComparison(data, "0123456789abcdef"); err == nil {
		t.Error("a comparison that does not name the expected commit must be rejected")
	}
}
