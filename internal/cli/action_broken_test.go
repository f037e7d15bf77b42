package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perfgate/perfgate/internal/github/githubtest"
)

// A pull request whose vLLM answers every request with an error — the
// broken commit a gate exists for — fails the Action's check at the first
// look (1 + 1 trials), in seconds, with the first error in the comment;
// the gate hung drawing its charts before.
func TestActionBrokenCandidateFailsFast(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an A/B")
	}
	repo := t.TempDir()
	sh(t, repo, "git", "init", "-q", "-b", "main")
	writeFakeVLLM(t, repo, "")
	sh(t, repo, "git", "add", "vllm")
	sh(t, repo, "git", "commit", "-q", "-m", "works")
	good := sh(t, repo, "git", "rev-parse", "HEAD")
	writeFakeVLLM(t, repo, "--fault-error-rate 1")
	sh(t, repo, "git", "commit", "-q", "-am", "broken")
	broken := sh(t, repo, "git", "rev-parse", "HEAD")

	srv := githubtest.New("vllm-project", "vllm")
	defer srv.Close()
	inputs := map[string]string{"mode": "pr", "scenarios": abFileAA(t, "30s", "reset"), "vllm-path": repo, "install-command": installFake,
		"github-token": githubtest.InstallationToken, "work-dir": t.TempDir(), "output-dir": filepath.Join(t.TempDir(), "results")}
	env, _, _ := actionEnv(t, srv, "pull_request", prEvent(good, broken), inputs)
	start := time.Now()
	r := runCLI(t, context.Background(), env, "action")
	took := time.Since(start)
	if r.code != ExitRegression {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// Two installs, two engine starts and one trial a side: well under a
	// minute here, against the hang (or the 6 + 6 trials) before.
	if took > 3*time.Minute {
		t.Errorf("the broken candidate took %s to fail", took)
	}
	cs, _, st := srv.Snapshot()
	var body string
	for _, c := range cs {
		if c.User == "github-actions[bot]" {
			body = c.Body
		}
	}
	if !strings.Contains(body, "perfgate: FAIL") || !strings.Contains(body, "every candidate request failed") || !strings.Contains(body, "HTTP 500") ||
		!strings.Contains(body, "1 + 1 trials") {
		t.Errorf("comment:\n%s", body)
	}
	if last := st[len(st)-1]; last.State != "failure" {
		t.Errorf("statuses %+v", st)
	}
}
