package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTagsReachMetaReportAndComparison(t *testing.T) {
	t.Parallel() // an end-to-end test of its own folders and servers
	scen := writeScenario(t, tiny)
	out := t.TempDir()
	for _, side := range []string{"base", "cand"} {
		r := runCLI(t, context.Background(), nil, "run", scen, "--out", filepath.Join(out, side), "--trials", "2", "--tag", "side="+side, "--tag", "clock=locked")
		if r.code != 0 {
			t.Fatalf("run: %d %s", r.code, r.stderr)
		}
	}
	base, cand := onlyDir(t, filepath.Join(out, "base")), onlyDir(t, filepath.Join(out, "cand"))
	var meta struct{ Tags map[string]string }
	b, _ := os.ReadFile(filepath.Join(base, "trial-01", "meta.json"))
	if json.Unmarshal(b, &meta); meta.Tags["side"] != "base" || meta.Tags["clock"] != "locked" {
		t.Errorf("meta tags %v", meta.Tags)
	}
	rep := t.TempDir()
	if r := runCLI(t, context.Background(), nil, "report", filepath.Join(base, "trial-01"), "--out", rep); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if md, _ := os.ReadFile(filepath.Join(rep, "report.md")); !strings.Contains(string(md), "tags clock=locked, side=base") {
		t.Errorf("report.md has no tags:\n%s", md)
	}
	cmp := t.TempDir()
	runCLI(t, context.Background(), nil, "compare", "--baseline", base, "--candidate", cand, "--out", cmp)
	var c struct{ Tags map[string]map[string]string }
	b, err := os.ReadFile(filepath.Join(cmp, "comparison.json"))
	if err != nil {
		t.Fatal(err)
	}
	if json.Unmarshal(b, &c); c.Tags["baseline"]["side"] != "base" || c.Tags["candidate"]["side"] != "cand" {
		t.Errorf("comparison tags %v", c.Tags)
	}
	if md, _ := os.ReadFile(filepath.Join(cmp, "comparison.md")); !strings.Contains(string(md), "candidate tags: clock=locked, side=cand") {
		t.Errorf("comparison.md:\n%s", md)
	}
	for _, bad := range [][]string{{"--tag", "novalue"}, {"--tag", "a=1", "--tag", "a=2"}, {"--tag", "k y=1"}} {
		if r := runCLI(t, context.Background(), nil, append([]string{"run", scen}, bad...)...); r.code != ExitUsage {
			t.Errorf("%v: exit %d", bad, r.code)
		}
	}
}
