package github

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// Event is what perfgate needs of the workflow's event payload.
type Event struct {
	Name string // pull_request, push, workflow_run, schedule, workflow_dispatch, release…

	// pull_request (and pull_request_target, which perfgate never runs PR code under)
	PR               int
	Title            string
	BaseSHA, HeadSHA string
	BaseRef, HeadRef string
	// Fork: the head is not provably in this repository — another
	// repository's id (or name, when the payload has no ids), or none at
	// all (a deleted fork's head.repo is null).
	Fork bool

	// push: the new tip
	After string

	// workflow_run: the run that produced the results (its head commit is
	// trusted; its pull requests list is empty for forks)
	Run struct {
		ID         int64
		HeadSHA    string
		HeadBranch string
		Event      string
		Conclusion string
		PRs        []int
		// HeadRepo is the repository the run's head commit came from
		// (head_repository; nil when null); Fork says it is not provably
		// this repository.
		HeadRepo *Repo
		Fork     bool
	}
}

// Repo is a repository as an event payload or the API names it; a null
// one (a deleted fork) is nil.
type Repo struct {
	ID       int64  `json:"id"`
	FullName string `json:"full_name"`
}

// SameRepo says whether a is provably b: the same id when both have one,
// else the same full name; nil (deleted) never is. A fork is whatever is
// not provably the repository (a fork renamed to another's name has
// another id).
func SameRepo(a, b *Repo) bool {
	if a == nil || b == nil {
		return false
	}
	if a.ID != 0 && b.ID != 0 {
		return a.ID == b.ID
	}
	return a.FullName != "" && strings.EqualFold(a.FullName, b.FullName)
}

// String is the repository's full name ("" for nil).
func (r *Repo) String() string {
	if r == nil {
		return ""
	}
	return r.FullName
}

type eventJSON struct {
	Number      int `json:"number"`
	PullRequest *struct {
		Number int    `json:"number"`
		Title  string `json:"title"`
		Base   struct {
			SHA  string `json:"sha"`
			Ref  string `json:"ref"`
			Repo *Repo  `json:"repo"`
		} `json:"base"`
		Head struct {
			SHA  string `json:"sha"`
			Ref  string `json:"ref"`
			Repo *Repo  `json:"repo"`
		} `json:"head"`
	} `json:"pull_request"`
	Repository  *Repo  `json:"repository"`
	After       string `json:"after"`
	WorkflowRun *struct {
		ID           int64  `json:"id"`
		HeadSHA      string `json:"head_sha"`
		HeadBranch   string `json:"head_branch"`
		Event        string `json:"event"`
		Conclusion   string `json:"conclusion"`
		HeadRepo     *Repo  `json:"head_repository"`
		Repository   *Repo  `json:"repository"`
		PullRequests []struct {
			Number int `json:"number"`
		} `json:"pull_requests"`
	} `json:"workflow_run"`
}

// ReadEvent reads the payload at path (GITHUB_EVENT_PATH) of event name
// (GITHUB_EVENT_NAME). A missing path is an empty event of that name.
func ReadEvent(name, path string) (*Event, error) {
	ev := &Event{Name: name}
	if path == "" {
		return ev, nil
	}
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return ev, nil
	}
	if err != nil {
		return nil, fmt.Errorf("the event payload: %w", err)
	}
	var j eventJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("the event payload %s: %w", path, err)
	}
	if pr := j.PullRequest; pr != nil {
		ev.PR = pr.Number
		if ev.PR == 0 {
			ev.PR = j.Number
		}
		ev.Title, ev.BaseSHA, ev.HeadSHA, ev.BaseRef, ev.HeadRef = pr.Title, pr.Base.SHA, pr.Head.SHA, pr.Base.Ref, pr.Head.Ref
		base := cmp.Or(pr.Base.Repo, j.Repository)
		ev.Fork = !SameRepo(pr.Head.Repo, base)
	}
	ev.After = j.After
	if r := j.WorkflowRun; r != nil {
		ev.Run.ID, ev.Run.HeadSHA, ev.Run.HeadBranch, ev.Run.Event, ev.Run.Conclusion = r.ID, r.HeadSHA, r.HeadBranch, r.Event, r.Conclusion
		ev.Run.HeadRepo = r.HeadRepo
		ev.Run.Fork = !SameRepo(r.HeadRepo, cmp.Or(r.Repository, j.Repository))
		for _, p := range r.PullRequests {
			ev.Run.PRs = append(ev.Run.PRs, p.Number)
		}
	}
	return ev, nil
}
