package vllmsrc

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func git_(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestResolveWorktreeInstall(t *testing.T) {
	ctx := context.Background()
	repo := t.TempDir()
	git_(t, repo, "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(repo, "f"), []byte("1"), 0o644)
	git_(t, repo, "add", "f")
	git_(t, repo, "commit", "-q", "-m", "one")
	one := git_(t, repo, "rev-parse", "HEAD")
	git_(t, repo, "checkout", "-q", "-b", "pr")
	os.WriteFile(filepath.Join(repo, "f"), []byte("2"), 0o644)
	git_(t, repo, "commit", "-q", "-am", "two")
	two := git_(t, repo, "rev-parse", "HEAD")
	git_(t, repo, "checkout", "-q", "main")
	os.WriteFile(filepath.Join(repo, "g"), []byte("3"), 0o644)
	git_(t, repo, "add", "g")
	git_(t, repo, "commit", "-q", "-m", "three")

	if sha, err := Resolve(ctx, repo, "pr", ""); err != nil || sha != two {
		t.Fatalf("pr: %s %v", sha, err)
	}
	if sha, err := Resolve(ctx, repo, "merge-base:main", two); err != nil || sha != one {
		t.Fatalf("merge-base: %s %v", sha, err)
	}
	if _, err := Resolve(ctx, repo, "nope", ""); err == nil {
		t.Error("an unknown ref must fail")
	}
	work := t.TempDir()
	wt, err := Worktree(ctx, repo, work, two)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(wt, "f")); string(b) != "2" {
		t.Errorf("the worktree holds %q", b)
	}
	if again, err := Worktree(ctx, repo, work, two); err != nil || again != wt {
		t.Errorf("reuse: %s %v", again, err)
	}
	env := EnvDir(work, two)
	log := filepath.Join(t.TempDir(), "install.log")
	cmd := `echo installing; mkdir -p "$PERFGATE_ENV_DIR/bin"; cat f > "$PERFGATE_ENV_DIR/bin/marker"`
	if reused, err := Install(ctx, "candidate", two, wt, env, cmd, log); err != nil || reused {
		t.Fatalf("install: %v %v", reused, err)
	}
	if b, _ := os.ReadFile(filepath.Join(env, "bin", "marker")); string(b) != "2" {
		t.Errorf("the install ran elsewhere: %q", b)
	}
	if reused, err := Install(ctx, "candidate", two, wt, env, cmd, log); err != nil || !reused {
		t.Errorf("the same command must reuse the environment: %v %v", reused, err)
	}
	if reused, _ := Install(ctx, "candidate", two, wt, env, cmd+" # changed", log); reused {
		t.Error("a changed command must install again")
	}
	_, err = Install(ctx, "baseline", one, wt, t.TempDir(), "echo nope; exit 3", log)
	var ie *InstallError
	if !errors.As(err, &ie) || ie.Side != "baseline" || !strings.Contains(ie.Tail, "nope") {
		t.Errorf("failure: %v", err)
	}
	if err := Clean(ctx, repo, work); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(wt); !os.IsNotExist(err) {
		t.Error("Clean must remove the worktrees")
	}
}

// A checkout interrupted halfway — files missing, git's record of it
// locked — is made again, not reused and not waited on.
func TestInterruptedWorktreeIsRepaired(t *testing.T) {
	ctx := context.Background()
	repo, work := t.TempDir(), t.TempDir()
	git_(t, repo, "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(repo, "f"), []byte("1"), 0o644)
	os.WriteFile(filepath.Join(repo, "g"), []byte("2"), 0o644)
	git_(t, repo, "add", "f", "g")
	git_(t, repo, "commit", "-q", "-m", "one")
	sha := git_(t, repo, "rev-parse", "HEAD")
	dir, err := Worktree(ctx, repo, work, sha)
	if err != nil {
		t.Fatal(err)
	}
	// As an interrupted checkout leaves it: no marker, a file missing, the record locked.
	os.Remove(dir + ".done")
	os.Remove(filepath.Join(dir, "g"))
	git_(t, repo, "worktree", "lock", dir)
	again, err := Worktree(ctx, repo, work, sha)
	if err != nil || again != dir {
		t.Fatalf("repair: %s %v", again, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "g")); err != nil {
		t.Errorf("the repaired checkout lacks g: %v", err)
	}
	if list := git_(t, repo, "worktree", "list", "--porcelain"); strings.Contains(list, "prunable") || strings.Count(list, "worktree ") != 2 {
		t.Errorf("worktrees:\n%s", list)
	}
	// A folder with no checkout at all (interrupted before git wrote anything).
	os.Remove(dir + ".done")
	os.RemoveAll(dir)
	os.MkdirAll(filepath.Join(dir, "partial"), 0o755)
	if _, err := Worktree(ctx, repo, work, sha); err != nil {
		t.Fatalf("a half-made folder: %v", err)
	}
	// A locked worktree whose folder is gone: git keeps its record (prune
	// skips locked ones) and refused a plain add over it.
	os.Remove(dir + ".done")
	git_(t, repo, "worktree", "lock", dir)
	os.RemoveAll(dir)
	if _, err := Worktree(ctx, repo, work, sha); err != nil {
		t.Fatalf("a locked worktree whose folder is gone: %v", err)
	}
}

// Evict removes what no run has used for the given time and keeps what a
// run used since, however old: every reuse touches its stamp.
func TestEvictRemovesOnlyUnused(t *testing.T) {
	ctx := context.Background()
	repo := t.TempDir()
	git_(t, repo, "init", "-q", "-b", "main")
	git_(t, repo, "commit", "-q", "--allow-empty", "-m", "one")
	one := git_(t, repo, "rev-parse", "HEAD")
	git_(t, repo, "commit", "-q", "--allow-empty", "-m", "two")
	two := git_(t, repo, "rev-parse", "HEAD")
	work := t.TempDir()
	for _, sha := range []string{one, two} {
		wt, err := Worktree(ctx, repo, work, sha)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Install(ctx, "side", sha, wt, EnvDir(work, sha), "true", filepath.Join(t.TempDir(), "log")); err != nil {
			t.Fatal(err)
		}
	}
	month := time.Now().Add(-30 * 24 * time.Hour)
	for _, sha := range []string{one, two} {
		os.Chtimes(filepath.Join(work, "src", sha+".done"), month, month)
		os.Chtimes(filepath.Join(EnvDir(work, sha), marker), month, month)
	}
	// two is used again today: its stamps are touched
	if _, err := Worktree(ctx, repo, work, two); err != nil {
		t.Fatal(err)
	}
	if reused, err := Install(ctx, "side", two, filepath.Join(work, "src", two), EnvDir(work, two), "true", filepath.Join(t.TempDir(), "log")); err != nil || !reused {
		t.Fatalf("reuse: %v %v", reused, err)
	}
	gone, err := Evict(ctx, repo, work, 14*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(gone) != 2 || fileExists(filepath.Join(work, "src", one)) || fileExists(EnvDir(work, one)) ||
		!fileExists(filepath.Join(work, "src", two)) || !fileExists(EnvDir(work, two)) {
		t.Errorf("evicted %v", gone)
	}
	if list := git_(t, repo, "worktree", "list"); strings.Contains(list, one[:7]) && strings.Contains(list, filepath.Join(work, "src", one)) {
		t.Errorf("git still records the evicted worktree:\n%s", list)
	}
}
