package childenv

import (
	"context"
	"strings"
	"testing"
)

func TestGitRunsWithTheChildEnvironment(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	if _, err := Git(ctx, dir, "init", "-q"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GITHUB_TOKEN", "ghs_secret")
	t.Setenv("PERFGATE_ENV_DIR", "/env")
	// A shell alias is the kind of thing a repository's config or hooks run.
	out, err := GitWith(ctx, GitOpts{Env: []string{"GIT_EXTRA=1"}, Stdin: []byte("from stdin")}, dir,
		"-c", "alias.pgenv=!env; cat", "pgenv")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "ghs_secret") || !strings.Contains(out, "PERFGATE_ENV_DIR=/env") ||
		!strings.Contains(out, "GIT_EXTRA=1") || !strings.HasSuffix(out, "from stdin") {
		t.Errorf("git's environment and input:\n%s", out)
	}
	_, err = Git(ctx, dir, "rev-parse", "--verify", "no-such-ref")
	if err == nil || !strings.Contains(err.Error(), "git rev-parse --verify no-such-ref: exit status") || !strings.Contains(err.Error(), "fatal:") {
		t.Errorf("the error must name the command and hold git's message: %v", err)
	}
}
