package github

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/perfgate/perfgate/internal/numfmt"
	"github.com/perfgate/perfgate/internal/retry"
)

// DefaultBotLogin is the login behind the workflow's GITHUB_TOKEN, which
// GET /user refuses to name.
const DefaultBotLogin = "github-actions[bot]"

// ErrNoPermission marks a write the token may not make (a pull request from
// a fork gets a read-only token): the caller degrades to the job summary.
var ErrNoPermission = errors.New("the token may not write to this repository")

// Client makes the REST calls of one repository.
type Client struct {
	gh *gh.Client
	// statuses is a client of its own for commit statuses: go-github
	// refuses, without asking, every call after a rate limit until it
	// resets, and a limit met by the comment must not leave the check
	// pending.
	statuses    *gh.Client
	Owner, Repo string
	login       string
}

// NewClient talks to apiURL (GITHUB_API_URL; "" is api.github.com) with token.
func NewClient(apiURL, token, repository string) (*Client, error) {
	owner, repo, ok := strings.Cut(repository, "/")
	if !ok || owner == "" || repo == "" || strings.Contains(repo, "/") {
		return nil, fmt.Errorf("repository %q is not OWNER/NAME", repository)
	}
	var base *url.URL
	if apiURL != "" {
		u, err := url.Parse(strings.TrimSuffix(apiURL, "/") + "/")
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("GITHUB_API_URL %q is not an http(s) address", apiURL)
		}
		base = u
	}
	mk := func() *gh.Client {
		c := gh.NewClient(&http.Client{Timeout: 60 * time.Second, Transport: &retryTransport{base: http.DefaultTransport}})
		if token != "" {
			c = c.WithAuthToken(token)
		}
		if base != nil {
			c.BaseURL = base
		}
		return c
	}
	return &Client{gh: mk(), statuses: mk(), Owner: owner, Repo: repo}, nil
}

// ErrRateLimited marks a request GitHub refused for its rate limits, after
// perfgate waited as long as it may.
var ErrRateLimited = errors.New("GitHub's rate limit")

// classify turns a refused write into ErrNoPermission, and a rate limit
// into ErrRateLimited (never "read-only token").
func classify(what string, resp *gh.Response, err error) error {
	if err == nil {
		return nil
	}
	var rl *gh.RateLimitError
	var ab *gh.AbuseRateLimitError
	if errors.As(err, &rl) || errors.As(err, &ab) || (resp != nil && resp.StatusCode == http.StatusTooManyRequests) {
		return fmt.Errorf("%s: %w (%v)", what, ErrRateLimited, err)
	}
	if resp != nil && (resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized) {
		return fmt.Errorf("%s: %w (%v)", what, ErrNoPermission, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Login is the identity the token writes as: GET /user, or, for the
// workflow's installation token that GET /user refuses, github-actions[bot].
func (c *Client) Login(ctx context.Context) (string, error) {
	if c.login != "" {
		return c.login, nil
	}
	u, resp, err := c.gh.Users.Get(ctx, "")
	switch {
	case err == nil && u.GetLogin() != "":
		c.login = u.GetLogin()
	case resp != nil && (resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusNotFound):
		c.login = DefaultBotLogin
	default:
		return "", fmt.Errorf("who is this token (GET /user): %w", err)
	}
	return c.login, nil
}

// SetLogin names the identity instead of asking (a GitHub App's token:
// "<app-slug>[bot]").
func (c *Client) SetLogin(login string) { c.login = login }

// Private reports whether the repository is private (or internal).
func (c *Client) Private(ctx context.Context) (bool, error) {
	r, _, err := c.gh.Repositories.Get(ctx, c.Owner, c.Repo)
	if err != nil {
		return false, fmt.Errorf("reading the repository: %w", err)
	}
	return r.GetPrivate() || r.GetVisibility() == "internal", nil
}

// Pull is what perfgate reads of a pull request, as GitHub knows it.
type Pull struct {
	HeadSHA, HeadRef, BaseRef, Title string
	// HeadRepo is the head's repository (nil when it was deleted).
	HeadRepo *Repo
}

// Pull reads pull request n.
func (c *Client) Pull(ctx context.Context, n int) (Pull, error) {
	pr, _, err := c.gh.PullRequests.Get(ctx, c.Owner, c.Repo, n)
	if err != nil {
		return Pull{}, fmt.Errorf("reading pull request #%d: %w", n, err)
	}
	p := Pull{HeadSHA: pr.GetHead().GetSHA(), HeadRef: pr.GetHead().GetRef(), BaseRef: pr.GetBase().GetRef(), Title: pr.GetTitle()}
	if r := pr.GetHead().GetRepo(); r != nil {
		p.HeadRepo = &Repo{ID: r.GetID(), FullName: r.GetFullName()}
	}
	return p, nil
}

// Comparison is GitHub's answer to base...head: status is "ahead" (base is
// an ancestor of head), "identical", "behind" or "diverged"; MergeBase is
// their merge base. Found is false when GitHub knows no such commit.
type Comparison struct {
	Found     bool
	Status    string
	MergeBase string
}

// Compare compares two commits or branches of the repository.
func (c *Client) Compare(ctx context.Context, base, head string) (Comparison, error) {
	cc, resp, err := c.gh.Repositories.CompareCommits(ctx, c.Owner, c.Repo, base, head, &gh.ListOptions{PerPage: 1})
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			return Comparison{}, nil
		}
		return Comparison{}, fmt.Errorf("comparing %.40s...%.40s: %w", base, head, err)
	}
	return Comparison{Found: true, Status: cc.GetStatus(), MergeBase: cc.GetMergeBaseCommit().GetSHA()}, nil
}

// UpsertComment edits the comment on issue or pull request n that carries
// marker and was written by this token's identity, or creates one. It never
// touches a comment by anyone else, marker or not.
func (c *Client) UpsertComment(ctx context.Context, n int, marker, body string) (htmlURL string, created bool, err error) {
	mine, err := c.findComment(ctx, n, marker)
	if err != nil {
		return "", false, err
	}
	if mine == nil {
		cm, resp, err := c.gh.Issues.CreateComment(ctx, c.Owner, c.Repo, n, &gh.IssueComment{Body: &body})
		if err == nil {
			return cm.GetHTMLURL(), true, nil
		}
		err = classify("commenting on #"+fmt.Sprint(n), resp, err)
		if errors.Is(err, ErrNoPermission) || errors.Is(err, ErrRateLimited) {
			return "", false, err
		}
		// A 5xx or a lost answer may come after GitHub made the comment
		// (a POST is never retried blindly): look for it before trying
		// again, so that a flaky answer never leaves two.
		if mine, _ = c.findComment(ctx, n, marker); mine == nil {
			cm, resp, err2 := c.gh.Issues.CreateComment(ctx, c.Owner, c.Repo, n, &gh.IssueComment{Body: &body})
			if err2 != nil {
				return "", false, errors.Join(err, classify("commenting on #"+fmt.Sprint(n)+" again", resp, err2))
			}
			return cm.GetHTMLURL(), true, nil
		}
	}
	cm, resp, err := c.gh.Issues.EditComment(ctx, c.Owner, c.Repo, mine.GetID(), &gh.IssueComment{Body: &body})
	if err != nil {
		return "", false, classify("editing the comment", resp, err)
	}
	return cm.GetHTMLURL(), false, nil
}

// findComment is the comment on #n that carries marker and was written by
// this token's identity (nil: none).
func (c *Client) findComment(ctx context.Context, n int, marker string) (*gh.IssueComment, error) {
	login, err := c.Login(ctx)
	if err != nil {
		return nil, err
	}
	opt := &gh.IssueListCommentsOptions{ListOptions: gh.ListOptions{PerPage: 100}}
	for {
		cs, resp, err := c.gh.Issues.ListComments(ctx, c.Owner, c.Repo, n, opt)
		if err != nil {
			return nil, fmt.Errorf("listing the comments of #%d: %w", n, err)
		}
		for _, cm := range cs {
			if strings.Contains(cm.GetBody(), marker) && strings.EqualFold(cm.GetUser().GetLogin(), login) {
				return cm, nil
			}
		}
		if resp.NextPage == 0 {
			return nil, nil
		}
		opt.Page = resp.NextPage
	}
}

// UpsertIssue finds the open issue that carries marker and was opened by
// this token's identity and edits it to render(its body), or, when there is
// none, opens one with render("") — the tracking issue of mode track. render
// returns false to leave things as they are (nothing to record, or nothing
// to open); htmlURL is then empty.
func (c *Client) UpsertIssue(ctx context.Context, marker, title string, render func(old string, exists bool) (string, bool), labels []string) (htmlURL string, created bool, err error) {
	login, err := c.Login(ctx)
	if err != nil {
		return "", false, err
	}
	opt := &gh.IssueListByRepoOptions{State: "open", Creator: login, ListOptions: gh.ListOptions{PerPage: 100}}
	for {
		is, resp, err := c.gh.Issues.ListByRepo(ctx, c.Owner, c.Repo, opt)
		if err != nil {
			return "", false, fmt.Errorf("listing issues: %w", err)
		}
		for _, is := range is {
			if is.IsPullRequest() || !strings.Contains(is.GetBody(), marker) || !strings.EqualFold(is.GetUser().GetLogin(), login) {
				continue
			}
			body, ok := render(is.GetBody(), true)
			if !ok {
				return "", false, nil
			}
			got, resp, err := c.gh.Issues.Edit(ctx, c.Owner, c.Repo, is.GetNumber(), &gh.IssueRequest{Title: &title, Body: &body})
			if err != nil {
				return "", false, classify("editing the tracking issue", resp, err)
			}
			return got.GetHTMLURL(), false, nil
		}
		if resp.NextPage == 0 {
			break
		}
		opt.Page = resp.NextPage
	}
	body, ok := render("", false)
	if !ok {
		return "", false, nil
	}
	req := &gh.IssueRequest{Title: &title, Body: &body}
	if len(labels) > 0 {
		req.Labels = &labels
	}
	got, resp, err := c.gh.Issues.Create(ctx, c.Owner, c.Repo, req)
	if err != nil {
		return "", false, classify("opening the tracking issue", resp, err)
	}
	return got.GetHTMLURL(), true, nil
}

// Status states.
const (
	StatusSuccess = "success"
	StatusFailure = "failure"
	StatusError   = "error"
	StatusPending = "pending"
)

// SetStatus sets the commit status context on sha.
func (c *Client) SetStatus(ctx context.Context, sha, state, statusContext, description, targetURL string) error {
	description = numfmt.Cut(description, 140, "…") // GitHub refuses a longer one
	st := &gh.RepoStatus{State: &state, Context: &statusContext, Description: &description}
	if targetURL != "" {
		st.TargetURL = &targetURL
	}
	_, resp, err := c.statuses.Repositories.CreateStatus(ctx, c.Owner, c.Repo, sha, st)
	return classify("setting the commit status", resp, err)
}

// File is one file to commit.
type File struct {
	Path string // slash-separated, relative to the branch root
	Data []byte
}

// ErrConflict is a compare-and-swap that lost: the branch moved since it
// was read.
var ErrConflict = errors.New("the branch moved since it was read")

func (c *Client) blobs(ctx context.Context, files []File) ([]*gh.TreeEntry, error) {
	if len(files) == 0 {
		return nil, errors.New("no files to push")
	}
	var entries []*gh.TreeEntry
	for _, f := range sortedFiles(files) {
		if p := path.Clean(f.Path); p != f.Path || strings.HasPrefix(p, "/") || strings.HasPrefix(p, "../") || p == ".." {
			return nil, fmt.Errorf("%q is not a clean relative path", f.Path)
		}
		content := base64.StdEncoding.EncodeToString(f.Data)
		b, resp, err := c.gh.Git.CreateBlob(ctx, c.Owner, c.Repo, &gh.Blob{Content: &content, Encoding: gh.String("base64")})
		if err != nil {
			return nil, classify("uploading "+f.Path, resp, err)
		}
		entries = append(entries, &gh.TreeEntry{Path: gh.String(f.Path), Mode: gh.String("100644"), Type: gh.String("blob"), SHA: b.SHA})
	}
	return entries, nil
}

// tip is the branch's commit and its tree ("" and "" when the branch does
// not exist).
func (c *Client) tip(ctx context.Context, branch string) (commit, tree string, err error) {
	r, resp, err := c.gh.Git.GetRef(ctx, c.Owner, c.Repo, "heads/"+branch)
	switch {
	case err == nil:
		commit = r.GetObject().GetSHA()
		pc, _, err := c.gh.Git.GetCommit(ctx, c.Owner, c.Repo, commit)
		if err != nil {
			return "", "", fmt.Errorf("reading the tip of %s: %w", branch, err)
		}
		return commit, pc.GetTree().GetSHA(), nil
	case resp != nil && resp.StatusCode == http.StatusNotFound:
		return "", "", nil
	}
	return "", "", fmt.Errorf("reading branch %s: %w", branch, err)
}

// commitOn writes a commit of entries over baseTree with parent (none: an
// orphan) and moves (or creates) the branch to it without forcing. A 422
// (the branch moved, or appeared) is returned as ErrConflict.
func (c *Client) commitOn(ctx context.Context, branch, message, parent, baseTree string, entries []*gh.TreeEntry) (string, error) {
	tree, resp, err := c.gh.Git.CreateTree(ctx, c.Owner, c.Repo, baseTree, entries)
	if err != nil {
		return "", classify("writing the tree", resp, err)
	}
	commit := &gh.Commit{Message: &message, Tree: &gh.Tree{SHA: tree.SHA}}
	if parent != "" {
		commit.Parents = []*gh.Commit{{SHA: &parent}}
	}
	cm, resp, err := c.gh.Git.CreateCommit(ctx, c.Owner, c.Repo, commit, nil)
	if err != nil {
		return "", classify("writing the commit", resp, err)
	}
	full := "refs/heads/" + branch
	if parent == "" {
		_, resp, err = c.gh.Git.CreateRef(ctx, c.Owner, c.Repo, &gh.Reference{Ref: &full, Object: &gh.GitObject{SHA: cm.SHA}})
	} else {
		_, resp, err = c.gh.Git.UpdateRef(ctx, c.Owner, c.Repo, &gh.Reference{Ref: &full, Object: &gh.GitObject{SHA: cm.SHA}}, false)
	}
	if err == nil {
		return cm.GetSHA(), nil
	}
	if resp != nil && resp.StatusCode == http.StatusUnprocessableEntity {
		return "", fmt.Errorf("moving %s: %w (%v)", branch, ErrConflict, err)
	}
	return "", classify("moving "+branch, resp, err)
}

// PushFiles commits files onto branch through the Git Data API (blob, tree,
// commit, ref), keeping what the branch holds already. A branch that does
// not exist is created as an orphan. A ref update that loses a race (422:
// someone else pushed) is retried on the new tip: the files' paths are the
// caller's alone (a head commit's plots), so the race loses nothing. It
// returns the commit.
func (c *Client) PushFiles(ctx context.Context, branch, message string, files []File) (string, error) {
	entries, err := c.blobs(ctx, files)
	if err != nil {
		return "", err
	}
	var sha string
	err = retry.Do(ctx, conflictRetry, func(int) error {
		parent, baseTree, err := c.tip(ctx, branch)
		if err != nil {
			return err
		}
		sha, err = c.commitOn(ctx, branch, message, parent, baseTree, entries)
		return err
	})
	return sha, err
}

// conflictRetry tries a commit that lost a race up to 5 times, waiting
// 100 ms, 400 ms, 900 ms, 1.6 s between.
var conflictRetry = retry.Policy{Attempts: 5,
	Delay:     func(n int) time.Duration { return time.Duration(n*n) * 100 * time.Millisecond },
	Retryable: func(err error) bool { return errors.Is(err, ErrConflict) }}

// CommitFiles commits files onto branch only if its tip is still parent
// ("": the branch must not exist yet): a compare-and-swap for stores whose
// files the caller rewrote from what it read. ErrConflict says read again.
func (c *Client) CommitFiles(ctx context.Context, branch, message, parent string, files []File) (string, error) {
	entries, err := c.blobs(ctx, files)
	if err != nil {
		return "", err
	}
	tip, baseTree, err := c.tip(ctx, branch)
	if err != nil {
		return "", err
	}
	if tip != parent {
		return "", fmt.Errorf("%s is at %.12s, not %.12s: %w", branch, tip, parent, ErrConflict)
	}
	return c.commitOn(ctx, branch, message, parent, baseTree, entries)
}

// ReadBranch is every file at the tip of branch, and the tip (nil and ""
// when the branch does not exist).
func (c *Client) ReadBranch(ctx context.Context, branch string) (map[string][]byte, string, error) {
	tip, tree, err := c.tip(ctx, branch)
	if err != nil || tip == "" {
		return nil, "", err
	}
	t, _, err := c.gh.Git.GetTree(ctx, c.Owner, c.Repo, tree, true)
	if err != nil {
		return nil, "", fmt.Errorf("reading the tree of %s: %w", branch, err)
	}
	if t.GetTruncated() {
		return nil, "", fmt.Errorf("the tree of %s is too large to read through the API", branch)
	}
	files := map[string][]byte{}
	for _, e := range t.Entries {
		if e.GetType() != "blob" {
			continue
		}
		b, _, err := c.gh.Git.GetBlobRaw(ctx, c.Owner, c.Repo, e.GetSHA())
		if err != nil {
			return nil, "", fmt.Errorf("reading %s:%s: %w", branch, e.GetPath(), err)
		}
		files[e.GetPath()] = b
	}
	return files, tip, nil
}

// AssetURL is where an image committed at commit sha is served to a comment:
// raw.githubusercontent.com (SVG sanitized) for public repositories on
// github.com, the repository's own /raw/ address otherwise (it works for
// readers with access to a private repository and on GitHub Enterprise).
func (c *Client) AssetURL(serverURL string, private bool, sha, file string) string {
	serverURL = strings.TrimSuffix(cmp.Or(serverURL, "https://github.com"), "/")
	esc := func(p string) string {
		parts := strings.Split(p, "/")
		for i, s := range parts {
			parts[i] = url.PathEscape(s)
		}
		return strings.Join(parts, "/")
	}
	if !private && serverURL == "https://github.com" {
		u := fmt.Sprintf("https://raw.githubusercontent.com/%s/%s/%s/%s", url.PathEscape(c.Owner), url.PathEscape(c.Repo), sha, esc(file))
		if strings.HasSuffix(file, ".svg") {
			u += "?sanitize=true"
		}
		return u
	}
	return fmt.Sprintf("%s/%s/%s/raw/%s/%s", serverURL, url.PathEscape(c.Owner), url.PathEscape(c.Repo), sha, esc(file))
}

// sortedFiles orders files by path (stable trees, stable tests).
func sortedFiles(fs []File) []File {
	fs = slices.Clone(fs)
	slices.SortFunc(fs, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return fs
}

// retryTransport retries what GitHub says to retry: 5xx answers and network
// errors with backoff (1 s, 2 s, 4 s), and rate limits (429, or 403 with no
// requests left or a secondary rate limit) after Retry-After or the reset
// time, when that is at most maxWait away. What is still refused after the
// last try goes back to the caller as it came.
type retryTransport struct {
	base    http.RoundTripper
	tries   int           // default 4
	maxWait time.Duration // default 90 s
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tries, maxWait := cmp.Or(t.tries, 4), cmp.Or(t.maxWait, 90*time.Second)
	backoff := time.Second
	for i := 1; ; i++ {
		r := req
		if i > 1 && req.Body != nil {
			if req.GetBody == nil {
				return nil, errors.New("cannot retry a request whose body cannot be read again")
			}
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r = req.Clone(req.Context())
			r.Body = body
		}
		resp, err := t.base.RoundTrip(r)
		wait, again := time.Duration(0), false
		switch {
		case err != nil:
			if req.Context().Err() != nil {
				return nil, err
			}
			wait, again = backoff, repeatable(req)
		case resp.StatusCode >= 500:
			wait, again = backoff, repeatable(req)
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusForbidden:
			if d, ok := rateLimitWait(resp); ok {
				wait, again = d, d <= maxWait
			}
		}
		if !again || i >= tries {
			return resp, err
		}
		if resp != nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
		}
		if err := retry.Sleep(req.Context(), wait); err != nil {
			return nil, err
		}
		backoff *= 2
	}
}

// repeatable says whether a request that failed without an answer (or
// with a 5xx, which GitHub may send after doing the work) may be sent
// again blindly: reads and edits may, and so may the POSTs whose repeat
// changes nothing (a commit status; the Git Data API's blobs, trees and
// commits, named by their content; a ref, whose second creation is
// refused). A new comment or issue may not: it would be made twice.
func repeatable(req *http.Request) bool {
	if req.Method != http.MethodPost {
		return true
	}
	p := req.URL.Path
	return strings.Contains(p, "/statuses/") || strings.Contains(p, "/git/")
}

// rateLimitWait says whether a 403 or 429 is a rate limit, and how long to
// wait before trying again.
func rateLimitWait(resp *http.Response) (time.Duration, bool) {
	limited := resp.StatusCode == http.StatusTooManyRequests || resp.Header.Get("X-RateLimit-Remaining") == "0"
	if !limited && resp.StatusCode == http.StatusForbidden {
		// a secondary rate limit says so in its message: peek, then put it back
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
		limited = bytes.Contains(bytes.ToLower(b), []byte("rate limit"))
	}
	if !limited {
		return 0, false
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if s, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
		return max(time.Until(time.Unix(s, 0)), 0) + time.Second, true
	}
	return time.Minute, true // GitHub's advice for a secondary limit without a header
}
