package github

import (
	"cmp"
	"context"
	"fmt"

	"github.com/perfgate/perfgate/internal/metric"
)

// CheckBaseline asks GitHub what the artifact's baseline is to the pull
// request: its merge base with the base branch (the default), or else at
// least an ancestor of the head that GitHub knows (baseline-ref named one).
// Anything else — a commit the repository does not have, or one off the
// head's history — is refused: the comparison would not be of this change.
// It returns the baseline's description, from the API where it can.
func (client *Client) CheckBaseline(ctx context.Context, baseBranch, baseSHA, claimed, head string) (string, error) {
	mb, err := client.Compare(ctx, baseBranch, head)
	if err != nil {
		return "", err
	}
	if mb.Found && mb.MergeBase == baseSHA {
		return "merge base with " + baseBranch, nil
	}
	anc, err := client.Compare(ctx, baseSHA, head)
	switch {
	case err != nil:
		return "", err
	case !anc.Found:
		return "", fmt.Errorf("the baseline %.12s is not a commit of this repository", baseSHA)
	case anc.Status != "ahead" && anc.Status != "identical":
		return "", fmt.Errorf("the baseline %.12s is not an ancestor of the pull request's head %.12s (GitHub compares them as %q)", baseSHA, head, anc.Status)
	}
	return fmt.Sprintf("%s; an ancestor of the head, not its merge base with %s", cmp.Or(claimed, "baseline-ref"), baseBranch), nil
}

// StatusState is the commit status a verdict sets, through the Action's
// fail-on input (fail, warn or never): error stays error, a fail is a
// failure unless fail-on is never, a warn only with fail-on warn.
func StatusState(verdict metric.Verdict, failOn string) string {
	switch {
	case verdict == metric.Error:
		return StatusError
	case verdict == metric.Fail && failOn != "never", verdict == metric.Warn && failOn == "warn":
		return StatusFailure
	}
	return StatusSuccess
}
