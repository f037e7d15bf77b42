package childenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
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

// What code from a pull request can plant as the runner's user — a global
// git configuration with a hooks path, an fsmonitor command, and hooks in
// the repository itself — never runs when perfgate runs git (the attack: a
// `git worktree add` in the next trusted job ran a planted global hook).
func TestGitRunsNoPlantedConfigOrHook(t *testing.T) {
	home := t.TempDir()
	dir := t.TempDir()
	ctx := context.Background()
	if _, err := Git(ctx, dir, "init", "-q", "-b", "main"); err != nil {
		t.Fatal(err)
	}
	ran := filepath.Join(home, "ran")
	hook := "#!/bin/sh\necho \"$0\" >> " + ran + "\n"
	hooks := filepath.Join(home, "hooks")
	os.MkdirAll(hooks, 0o755)
	for _, h := range []string{"post-checkout", "post-commit", "reference-transaction", "pre-commit"} {
		os.WriteFile(filepath.Join(hooks, h), []byte(hook), 0o755)
		os.WriteFile(filepath.Join(dir, ".git", "hooks", h), []byte(hook), 0o755)
	}
	monitor := filepath.Join(home, "fsmonitor")
	os.WriteFile(monitor, []byte(hook), 0o755)
	global := filepath.Join(home, ".gitconfig")
	os.WriteFile(global, []byte("[core]\n\thooksPath = "+hooks+"\n\tfsmonitor = "+monitor+"\n"), 0o644)
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", home)
	t.Setenv("GIT_CONFIG_GLOBAL", global) // even when named outright
	committer := []string{"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t"}
	if _, err := GitWith(ctx, GitOpts{Env: committer}, dir, "commit", "-q", "--allow-empty", "-m", "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := Git(ctx, dir, "worktree", "add", "-q", filepath.Join(t.TempDir(), "wt"), "HEAD"); err != nil {
		t.Fatal(err)
	}
	if _, err := Git(ctx, dir, "status"); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(ran); err == nil {
		t.Errorf("planted hooks ran:\n%s", b)
	}
	// The same commands with the user's configuration do run them: the
	// test can fail.
	cmd := exec.Command("git", "-C", dir, "commit", "-q", "--allow-empty", "-m", "y")
	cmd.Env = append(os.Environ(), committer...)
	cmd.Run()
	if _, err := os.ReadFile(ran); err != nil {
		t.Error("the planted hooks never run, even for a plain git: the test proves nothing")
	}
}
