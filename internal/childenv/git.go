package childenv

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// GitOpts are a git run's extras: variables set on top of the child
// environment (a committer's name, for example) and what git reads on its
// standard input.
type GitOpts struct {
	Env   []string
	Stdin []byte
}

// Git runs git in repo with the child environment — git runs the
// repository's hooks and filters, so it sees no secret — and returns its
// trimmed standard output, or an error that holds git's own message. It is
// perfgate's one way to run git.
func Git(ctx context.Context, repo string, args ...string) (string, error) {
	return GitWith(ctx, GitOpts{}, repo, args...)
}

// isolated are the settings every git run gets: no global or system
// configuration (on a shared runner the runner user's ~/.gitconfig is
// writable by the code of any pull request benchmarked there: a planted
// hook, fsmonitor or alias would run in the next trusted job), no hooks
// and no fsmonitor from the repository's own configuration, and no prompt.
var isolated = []string{"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0", "GIT_OPTIONAL_LOCKS=0"}

// isolatedArgs override what a repository's own configuration could make
// git run. safe.directory trusts the repository perfgate was pointed at
// (a global configuration, which would otherwise say so, is not read).
func isolatedArgs(repo string) []string {
	args := []string{"-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-c", "protocol.ext.allow=never"}
	if abs, err := filepath.Abs(repo); err == nil {
		args = append(args, "-c", "safe.directory="+abs)
	}
	return args
}

// GitWith is Git with extra variables and standard input.
func GitWith(ctx context.Context, o GitOpts, repo string, args ...string) (string, error) {
	argv := append(isolatedArgs(repo), "-C", repo)
	cmd := exec.CommandContext(ctx, "git", append(argv, args...)...)
	cmd.Env = Env(append(slices.Clone(isolated), o.Env...)...)
	if o.Stdin != nil {
		cmd.Stdin = bytes.NewReader(o.Stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String())
		if msg == "" {
			msg = err.Error()
		} else {
			msg = err.Error() + ": " + msg
		}
		return "", fmt.Errorf("git %s: %s", strings.Join(args, " "), msg)
	}
	return strings.TrimSpace(out.String()), nil
}
