package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/perfgate/perfgate/internal/ab"
	"github.com/perfgate/perfgate/internal/github/githubtest"
	"github.com/perfgate/perfgate/internal/timingtest"
)

// TestBisectNamesTheCulprit: a fake vLLM repository of 16 commits whose
// 11th slows decode by 30 %; bisect from the 1st to the 16th names the 11th,
// in the bad end's step plus a binary search over 15 commits (≤ 5 steps).
func TestBisectNamesTheCulprit(t *testing.T) {
	if testing.Short() {
		t.Skip("runs several A/Bs")
	}
	repo, shas := fakeRepo16(t)
	// TPOT and end-to-end latency gate: at time scale 8 on a busy machine,
	// TTFT is the client's scheduling noise (see TestABSequential). Up to
	// 10 trials a side: with 6, an A/A step once stopped for futility as a
	// warn (+4.1 % end-to-end) while every package's tests ran at once.
	scen := writeScenario(t, strings.Replace(strings.Replace(abScenarioYAML, "%s", "30s", 1), "%s", "reset", 1)+`gate:
  metrics:
    - {name: median_tpot_ms, warn_pct: 3, fail_pct: 5}
    - {name: median_e2el_ms, warn_pct: 3, fail_pct: 5}
`)
	out := t.TempDir()
	r := runCLI(t, context.Background(), nil, "bisect", scen, "--vllm-repo", repo, "--good", shas[0], "--bad", "main",
		"--install-command", installFake, "--work-dir", t.TempDir(), "--out", out, "--max-trials", "10")
	if r.code != 0 || !strings.Contains(r.stdout, "first bad commit: "+shas[10]+` "change 11"`) {
		t.Fatalf("bisect: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !regexp.MustCompile(`evidence: step \d+, [0-9a-f]{12} FAIL: ab-fake: FAIL: `).MatchString(r.stdout) || strings.Contains(r.stdout, "map[") {
		t.Errorf("the evidence lines:\n%s", r.stdout)
	}
	var res ab.BisectRecord
	b, _ := os.ReadFile(filepath.Join(onlyDir(t, out), "bisect.json"))
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.FirstBad != shas[10] || res.LastGood != shas[9] || len(res.Commits) != 15 || len(res.Steps) > 5 || res.Steps[0].Commit != shas[15] {
		t.Errorf("bisect.json: %+v", res)
	}
	for _, s := range res.Steps {
		if _, err := os.Stat(filepath.Join(onlyDir(t, out), s.Dir, "ab-fake", "comparison.md")); err != nil {
			t.Errorf("step %d has no comparison: %v", s.Step, err)
		}
	}
	// A range that does not regress names no culprit: exit 3, said plainly.
	r = runCLI(t, context.Background(), nil, "bisect", scen, "--vllm-repo", repo, "--good", shas[0], "--bad", shas[5],
		"--install-command", installFake, "--work-dir", t.TempDir(), "--out", t.TempDir(), "--max-trials", "6")
	if r.code != ExitRegression || !strings.Contains(r.stderr, "nothing to bisect") {
		t.Errorf("no regression in range: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, context.Background(), nil, "bisect", abFile(t, "30s", "reset"), "--vllm-repo", repo, "--good", "main", "--bad", shas[0]); r.code != ExitUsage {
		t.Errorf("good after bad: %d %s", r.code, r.stderr)
	}
}

// fakeRepo16 is a fake vLLM repository of 16 commits on main whose 11th
// (and every later one) slows decode by 30 %: one trial a point under -race
// on a busy 2-core machine varies by up to 12 % (measured in CI), and a
// 10 % step hid in it.
func fakeRepo16(t *testing.T) (repo string, shas []string) {
	t.Helper()
	repo = t.TempDir()
	sh(t, repo, "git", "init", "-q", "-b", "main")
	for i := 1; i <= 16; i++ {
		extra := ""
		if i >= 11 {
			extra = "--slowdown-decode 1.30"
		}
		writeFakeVLLM(t, repo, extra)
		os.WriteFile(filepath.Join(repo, "CHANGES"), []byte(fmt.Sprint(i)), 0o644)
		sh(t, repo, "git", "add", "-A")
		sh(t, repo, "git", "commit", "-q", "-m", fmt.Sprintf("change %d", i))
		shas = append(shas, sh(t, repo, "git", "rev-parse", "HEAD"))
	}
	return repo, shas
}

// mode track with bisect: nightly points at the 1st commit, then at the
// 16th — fifteen merges at once, the 11th of them slower. The regression
// opens with suspects 1..16, and bisect names the 11th in the tracking issue.
func TestActionTrackBisects(t *testing.T) {
	if testing.Short() {
		t.Skip("runs many trials and a bisect")
	}
	// One point is one short trial: a stall of the machine inside it reads
	// as a slower decode, opening a false regression or hiding the real one.
	// Each attempt starts from a fresh repository and history; a stalled one
	// is run again.
	var errs []string
	timingtest.Calm(t, 100*time.Millisecond, func() { errs = trackBisects(t) })
	for _, e := range errs {
		t.Error(e)
	}
}

// trackBisects is one attempt of TestActionTrackBisects; it returns what
// went wrong.
func trackBisects(t *testing.T) (errs []string) {
	repo, shas := fakeRepo16(t)
	srv := githubtest.New("vllm-project", "vllm")
	defer srv.Close()
	scen := writeScenario(t, strings.Replace(strings.Replace(abScenarioYAML, "%s", "30s", 1), "%s", "reset", 1)+`gate:
  max_trials: 8
  metrics:
    - {name: median_tpot_ms, warn_pct: 3, fail_pct: 5}
`)
	work, out := t.TempDir(), t.TempDir()
	track := func(commit string) (result, map[string]string) {
		inputs := map[string]string{"mode": "track", "scenarios": scen, "vllm-path": repo, "install-command": installFake, "trials": "1",
			"github-token": githubtest.InstallationToken, "work-dir": work, "output-dir": out, "history-store": "git:perfgate-history",
			"candidate-ref": commit, "bisect": "true"}
		env, outFile, _ := actionEnv(t, srv, "push", `{"after": "`+commit+`"}`, inputs)
		r := runCLI(t, context.Background(), env, "action")
		return r, outputs(t, outFile)
	}
	for range 6 {
		if r, o := track(shas[0]); r.code != 0 {
			return []string{fmt.Sprintf("track of the first commit: exit %d %v\n%s", r.code, o, r.stderr)}
		}
	}
	var body, last string
	// One trial per point: a slow point may still be inside the band of six
	// noisy ones, and the first one alone is only provisional (no bisect);
	// within four points the change point is confirmed and bisected.
	for i := range 4 {
		r, o := track(shas[15])
		last = r.stdout + r.stderr
		if r.code != ExitRegression && r.code != 0 {
			return []string{fmt.Sprintf("track %d of the 16th commit: exit %d %v\n%s", i, r.code, o, r.stderr)}
		}
		_, issues, _ := srv.Snapshot()
		if len(issues) == 1 {
			body = issues[0].Body
		}
		if strings.Contains(body, "perfgate bisect over 15 commits") {
			break
		}
	}
	if !strings.Contains(body, "/commit/"+shas[10]+") (perfgate bisect over 15 commits") {
		errs = append(errs, fmt.Sprintf("the tracking issue does not name the 11th commit (%s):\n%s\nthe last run's output:\n%s", shas[10][:12], body, last))
	}
	return errs
}
