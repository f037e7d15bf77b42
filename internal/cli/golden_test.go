package cli

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	gh "github.com/perfgate/perfgate/internal/github"
	"github.com/perfgate/perfgate/internal/history"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// golden compares got with testdata/golden/name (-update rewrites it).
func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cli -run %s -update to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs from its golden file (go test ./internal/cli -run %s -update after an intended change):\n--- got\n%s--- want\n%s", p, t.Name(), got, want)
	}
}

// goldenHistory is a fixed history: twelve nightly commits, decode 10 %
// slower from the ninth on, throughput steady; and a tracking-issue record
// with one regression open and one closed as accepted.
func goldenHistory() ([]history.Point, []history.Result, history.Ledger) {
	t0 := time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
	var pts []history.Point
	for i := range 12 {
		commit := fmt.Sprintf("%02x%038x", i+1, 0)
		tpot := 10 + 0.02*float64(i%3)
		if i >= 8 {
			tpot *= 1.10
		}
		for _, m := range []struct {
			name string
			v    float64
		}{{"median_tpot_ms", tpot}, {"output_throughput", 4000 + float64(i%2)}} {
			pts = append(pts, history.Point{Version: history.FormatVersion, Scenario: "nightly", Level: 1, Metric: m.name, Value: m.v,
				Commit: commit, Branch: "main", Time: t0.Add(time.Duration(i) * 24 * time.Hour), Env: "sim", FailPct: 5})
		}
	}
	res := history.Check(pts, history.Options{})
	l := history.Ledger{Entries: []history.Entry{{Scenario: "nightly", Level: 1, Metric: "p99_ttft_ms", Env: "sim", FirstBad: fmt.Sprintf("%02x%038x", 3, 0),
		LastGood: fmt.Sprintf("%02x%038x", 2, 0), ChangePct: 14.2, Opened: t0.Add(48 * time.Hour), Closed: t0.Add(96 * time.Hour),
		Why: "accepted at 0300000000: larger prefill chunks"}}}
	l.Update(res, t0.Add(11*24*time.Hour))
	return pts, res, l
}

// The markdown history check prints (and writes as history.md).
func TestHistoryMarkdownGolden(t *testing.T) {
	_, res, _ := goldenHistory()
	golden(t, "history-check.md", history.Markdown(res, history.Options{}))
}

// The tracking issue's body, ledger included.
func TestTrackingIssueGolden(t *testing.T) {
	_, res, l := goldenHistory()
	head := "<!-- perfgate:tracking:nightly -->\n## ❌ perfgate tracking: FAIL · nightly\n\n"
	links := gh.TrackingLinks{Server: "https://github.com", Repo: "vllm-project/vllm", Results: res,
		PlotURL: map[string]string{gh.TrendPlotName(0, res[0]) + ".svg": "https://github.com/vllm-project/vllm/blob/perfgate-assets/t/trend-01.svg"}}
	golden(t, "tracking-issue.md", gh.TrackingIssueBody(head, l, links, "https://github.com/vllm-project/vllm/actions/runs/1"))
}
