// Package vllmsrc prepares vLLM source trees for benchmarking: it resolves
// refs to commits, checks each commit out in a git worktree, installs it into
// an environment directory of its own, and records versions.
package vllmsrc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/perfgate/perfgate/internal/childenv"
	"github.com/perfgate/perfgate/internal/fault"
	"github.com/perfgate/perfgate/internal/proctree"
)

// DefaultInstall installs a vLLM checkout into $PERFGATE_ENV_DIR: with uv when
// it is there, else with python's venv and pip; precompiled kernels, so a
// Python-only change installs in minutes.
const DefaultInstall = `set -e
export VLLM_USE_PRECOMPILED=1
if command -v uv >/dev/null 2>&1; then
  uv venv --allow-existing "$PERFGATE_ENV_DIR"
  VIRTUAL_ENV="$PERFGATE_ENV_DIR" uv pip install -e .
else
  python3 -m venv "$PERFGATE_ENV_DIR"
  "$PERFGATE_ENV_DIR/bin/python" -m pip install -e .
fi`

// Resolve turns a ref into a commit SHA. "merge-base:BRANCH" is the merge
// base of against (the candidate's SHA) and BRANCH — what a pull request
// should be compared with, not the branch's tip.
func Resolve(ctx context.Context, repo, ref, against string) (string, error) {
	if branch, ok := strings.CutPrefix(ref, "merge-base:"); ok {
		if against == "" {
			return "", errors.New("merge-base: needs the candidate's commit")
		}
		sha, err := childenv.Git(ctx, repo, "merge-base", "--end-of-options", against, branch)
		if err != nil {
			return "", fmt.Errorf("resolve %s: %w", ref, err)
		}
		return sha, nil
	}
	sha, err := childenv.Git(ctx, repo, "rev-parse", "--verify", "--quiet", "--end-of-options", ref+"^{commit}")
	if err != nil || sha == "" {
		return "", fmt.Errorf("%q is not a commit, branch or tag of %s", ref, repo)
	}
	return sha, nil
}

// Worktree checks sha out under workDir/src/<sha> (reusing it when a
// checkout finished there) and returns its path. A checkout that was
// interrupted — the folder half written, git's record of it stale or
// locked — is removed and made again, never reused and never waited on: a
// marker beside the folder (src/<sha>.done) says a checkout finished.
func Worktree(ctx context.Context, repo, workDir, sha string) (string, error) {
	dir, err := filepath.Abs(filepath.Join(workDir, "src", sha))
	if err != nil {
		return "", err
	}
	done := dir + ".done"
	if _, err := os.Stat(done); err == nil {
		if head, err := childenv.Git(ctx, dir, "rev-parse", "HEAD"); err == nil && head == sha {
			touch(done) // used: Evict keeps it
			return dir, nil
		}
	}
	// Whatever is there did not finish: remove it, and git's record of it.
	_ = os.Remove(done)
	if _, err := os.Stat(dir); err == nil {
		_, _ = childenv.Git(ctx, repo, "worktree", "remove", "--force", "--force", dir) // --force twice: even when locked
		if err := os.RemoveAll(dir); err != nil {
			return "", err
		}
	}
	_, _ = childenv.Git(ctx, repo, "worktree", "prune")
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	// --force twice: also over git's record of a worktree that is locked
	// and whose folder is gone (git refuses it otherwise, and prune keeps it).
	if _, err := childenv.Git(ctx, repo, "worktree", "add", "--detach", "--force", "--force", "--end-of-options", dir, sha); err != nil {
		return "", err
	}
	if err := os.WriteFile(done, []byte(sha+"\n"), 0o644); err != nil {
		return "", err
	}
	return dir, nil
}

// Clean removes every worktree and environment under workDir.
func Clean(ctx context.Context, repo, workDir string) error {
	if err := os.RemoveAll(workDir); err != nil {
		return err
	}
	_, err := childenv.Git(ctx, repo, "worktree", "prune")
	return err
}

// touch marks a stamp file as used now.
func touch(p string) {
	now := time.Now()
	_ = os.Chtimes(p, now, now)
}

// Evict removes the worktrees and environments under workDir that no run
// has used for longer than unused (their stamps: src/<sha>.done and
// env/<sha>/.perfgate-installed, touched on every use; an unfinished one
// is judged by its folder), and says which. A work dir on a persistent
// runner otherwise grows by a checkout and an environment per commit.
func Evict(ctx context.Context, repo, workDir string, unused time.Duration) (removed []string, err error) {
	cutoff := time.Now().Add(-unused)
	old := func(stamp, dir string) bool {
		fi, err := os.Stat(stamp)
		if err != nil {
			if fi, err = os.Stat(dir); err != nil {
				return false
			}
		}
		return fi.ModTime().Before(cutoff)
	}
	for _, kind := range []string{"src", "env"} {
		ents, err := os.ReadDir(filepath.Join(workDir, kind))
		if err != nil {
			continue
		}
		for _, e := range ents {
			if !e.IsDir() {
				continue
			}
			dir := filepath.Join(workDir, kind, e.Name())
			stamp := dir + ".done"
			if kind == "env" {
				stamp = filepath.Join(dir, marker)
			}
			if !old(stamp, dir) {
				continue
			}
			if kind == "src" {
				_, _ = childenv.Git(ctx, repo, "worktree", "remove", "--force", "--force", "--end-of-options", dir)
				_ = os.Remove(stamp)
			}
			if err := os.RemoveAll(dir); err != nil {
				return removed, err
			}
			removed = append(removed, kind+"/"+e.Name())
		}
	}
	if len(removed) > 0 {
		_, _ = childenv.Git(ctx, repo, "worktree", "prune")
	}
	return removed, nil
}

// EnvDir is where sha's environment lives.
func EnvDir(workDir, sha string) string { return filepath.Join(workDir, "env", sha) }

const marker = ".perfgate-installed"

// InstallError is a failed install: the side, its log and the log's tail.
type InstallError struct {
	Side, SHA, Log, Tail string
	Err                  error
}

func (e *InstallError) Error() string {
	return fmt.Sprintf("installing the %s (%.12s) failed: %v; the log is %s, its last lines:\n%s", e.Side, e.SHA, e.Err, e.Log, e.Tail)
}

// ExitCode is 1: a failed install is the tool (or the checkout) failing,
// not bad input, even when its cause is an error that would be.
func (e *InstallError) ExitCode() int { return fault.ExitFailed }

// Install runs command in the worktree with PERFGATE_ENV_DIR set to envDir,
// writing its output to logPath. An environment that installed successfully
// with the same command is reused.
func Install(ctx context.Context, side, sha, worktree, envDir, command, logPath string) (reused bool, err error) {
	sum := sha256.Sum256([]byte(command))
	want := hex.EncodeToString(sum[:])
	if b, err := os.ReadFile(filepath.Join(envDir, marker)); err == nil && strings.TrimSpace(string(b)) == want {
		touch(filepath.Join(envDir, marker)) // used: Evict keeps it
		return true, nil
	}
	if err := os.MkdirAll(envDir, 0o755); err != nil {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return false, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return false, err
	}
	defer logf.Close()
	cmd := exec.Command("bash", "-c", command)
	cmd.Dir = worktree
	cmd.Env = childenv.Env("PERFGATE_ENV_DIR="+envDir, "VLLM_USE_PRECOMPILED=1") // the install runs the checkout's code
	cmd.Stdout, cmd.Stderr = logf, logf
	fmt.Fprintf(logf, "# %s: %s\n# in %s\n", time.Now().UTC().Format(time.RFC3339), strings.ReplaceAll(command, "\n", "\n# "), worktree)
	// The install and everything it starts (pip, compilers, a setsid
	// daemon) is one tree: stopped whole when perfgate is interrupted, and
	// when the command ends, so nothing keeps writing into the environment.
	tree, err := proctree.Start("install", cmd)
	if err != nil {
		return false, &InstallError{Side: side, SHA: sha, Log: logPath, Tail: Tail(logPath, 20), Err: err}
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err = <-waited:
	case <-ctx.Done():
		err = ctx.Err()
	}
	exited := make(chan struct{})
	close(exited)
	if serr := tree.Stop(InstallStopGrace, 10*time.Second, exited); serr != nil && err == nil {
		err = fmt.Errorf("what the install command started could not be stopped: %w", serr)
	}
	if ctx.Err() != nil {
		<-waited
	}
	if err != nil {
		logf.Sync()
		return false, &InstallError{Side: side, SHA: sha, Log: logPath, Tail: Tail(logPath, 20), Err: err}
	}
	return false, os.WriteFile(filepath.Join(envDir, marker), []byte(want+"\n"), 0o644)
}

// InstallStopGrace is how long an interrupted install (or what it left
// running) has between SIGTERM and SIGKILL.
var InstallStopGrace = 5 * time.Second

// Tail returns the last n lines of a file.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Versions asks the environment what it holds: vllm --version, and torch and
// its CUDA when python can import them. Missing pieces are left out.
func Versions(ctx context.Context, envDir string) map[string]string {
	out := map[string]string{}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	path := filepath.Join(envDir, "bin") + string(os.PathListSeparator) + os.Getenv("PATH")
	run := func(name string, args ...string) string {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = childenv.Env("PATH=" + path)
		b, err := cmd.Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	if v := run(filepath.Join(envDir, "bin", "vllm"), "--version"); v != "" {
		out["vllm"] = v
	}
	if py := filepath.Join(envDir, "bin", "python"); fileExists(py) {
		if v := run(py, "-c", "import torch; print(torch.__version__, torch.version.cuda)"); v != "" {
			f := strings.Fields(v)
			out["torch"] = f[0]
			if len(f) > 1 {
				out["cuda"] = f[1]
			}
		}
	}
	return out
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }
