package github

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// The PR comment and the job summary, pinned: a failing report with the
// change chart and a folded plot, as markdown, byte for byte.
// go test ./internal/github -run Golden -update rewrites them.
func TestGoldenCommentAndSummary(t *testing.T) {
	rep := sampleReport("fail")
	u := func(n string) string {
		return "https://raw.githubusercontent.com/o/r/0123abcd/pr-42/" + headSHA + "/chat/" + n + ".svg?sanitize=true"
	}
	rep.Scenarios[0].Plots = []Plot{{Name: "change", Img: u("change"), Link: u("change")}, {Name: "compare-hockey", Img: u("compare-hockey"), Link: u("compare-hockey")}}
	for name, got := range map[string]string{"comment.md": rep.Comment(rep.RunURL), "summary.md": rep.Summary()} {
		path := filepath.Join("testdata", "golden", name)
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test ./internal/github -run Golden -update creates it)", err)
		}
		if !bytes.Equal([]byte(got), want) {
			t.Errorf("%s differs from testdata/golden/%s (-update after an intended change):\n%s", name, name, got)
		}
	}
}
