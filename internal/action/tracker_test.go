package action

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sethvargo/go-githubactions"

	gh "github.com/perfgate/perfgate/internal/github"
	"github.com/perfgate/perfgate/internal/github/githubtest"
	"github.com/perfgate/perfgate/internal/history"
	"github.com/perfgate/perfgate/internal/metric"
	"github.com/perfgate/perfgate/internal/report/reporttest"
	"github.com/perfgate/perfgate/internal/scenario"
)

// Track mode's steps after the benchmark, over a directory store and the
// fake GitHub, from canned trials: eight quiet commits, then one whose
// decode is 30 % slower. The quiet ones raise nothing; the slow one is
// appended, opens a regression, writes the tracking issue and a failing
// status, and the outputs — deterministic, no engine.
func TestTrackerSteps(t *testing.T) {
	srv := githubtest.New("o", "r")
	defer srv.Close()
	client, err := gh.NewClient(srv.URL, githubtest.InstallationToken, "o/r")
	if err != nil {
		t.Fatal(err)
	}
	s, err := scenario.Parse("fixture.yaml", []byte(reporttest.Scenario))
	if err != nil {
		t.Fatal(err)
	}
	store := &history.DirStore{Dir: t.TempDir()}
	outputs := filepath.Join(t.TempDir(), "outputs")
	vars := map[string]string{"GITHUB_OUTPUT": outputs, "GITHUB_STEP_SUMMARY": filepath.Join(t.TempDir(), "summary")}
	a := githubactions.New(githubactions.WithGetenv(func(k string) string { return vars[k] }), githubactions.WithWriter(&strings.Builder{}))
	in := inputs{set: "nightly", comment: true, statusContext: "perfgate/nightly", failOn: "fail", historyStore: store.Dir}
	gctx := &githubactions.GitHubContext{Repository: "o/r", RefName: "main"}

	step := func(i int, slow float64) (*tracker, []history.Result) {
		t.Helper()
		tr := &tracker{a: a, in: in, gctx: gctx, client: client, sha: fmt.Sprintf("%02x%038x", i+1, 0), outDir: t.TempDir()}
		for k := range 3 {
			reporttest.WriteRun(t, filepath.Join(tr.outDir, fmt.Sprintf("trial-%02d", k+1)), "main", uint64(100*i+k), slow)
		}
		n, err := tr.record(context.Background(), store, "main", []*scenario.Scenario{s})
		if err != nil || n == 0 {
			t.Fatalf("commit %d: %d points appended, %v", i+1, n, err)
		}
		return tr, history.Check(tr.mine, history.Options{})
	}
	for i := range 8 {
		_, results := step(i, 1)
		if open := history.OpenRegressions(results); len(open) > 0 {
			t.Fatalf("quiet commit %d opened %v", i+1, open)
		}
	}
	tr, results := step(8, 1.3)
	open := history.OpenRegressions(results)
	if len(open) == 0 {
		t.Fatal("a 30 % slower commit opened no regression")
	}
	head := gh.TrackingMarker("nightly") + "\n## perfgate tracking\n"
	issue := tr.updateIssue(context.Background(), head, results, nil)
	tr.setStatus(context.Background(), metric.Fail, len(results), len(open))
	if err := tr.writeOutputs(history.Markdown(results, history.Options{}), results, metric.Fail, issue); err != nil {
		t.Fatal(err)
	}
	_, issues, statuses := srv.Snapshot()
	if len(issues) != 1 || !strings.Contains(issues[0].Body, gh.TrackingMarker("nightly")) || !strings.Contains(issues[0].Body, tr.sha[:12]) {
		t.Errorf("tracking issue: %+v", issues)
	}
	if len(statuses) != 1 || statuses[0].State != gh.StatusFailure || statuses[0].SHA != tr.sha || !strings.Contains(statuses[0].Description, "open regression") {
		t.Errorf("statuses %+v", statuses)
	}
	for _, f := range []string{"history.md", "history.json"} {
		if _, err := os.Stat(filepath.Join(tr.outDir, f)); err != nil {
			t.Error(err)
		}
	}
	if b, _ := os.ReadFile(outputs); !strings.Contains(string(b), "verdict<<") || !strings.Contains(string(b), "fail") {
		t.Errorf("outputs %q", b)
	}
	// The same commit again adds nothing.
	if n, err := tr.record(context.Background(), store, "main", []*scenario.Scenario{s}); err != nil || n != 0 {
		t.Errorf("appending the same run again: %d new, %v", n, err)
	}
}
