package childenv

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
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

// GitWith is Git with extra variables and standard input.
func GitWith(ctx context.Context, o GitOpts, repo string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", repo}, args...)...)
	cmd.Env = Env(o.Env...)
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
