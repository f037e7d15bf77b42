package github

import (
	"encoding/json"
	"fmt"
	"os"
)

// Event is what perfgate needs of the workflow's event payload.
type Event struct {
	Name string // pull_request, push, workflow_run, schedule, workflow_dispatch, release…

	// pull_request (and pull_request_target, which perfgate never runs PR code under)
	PR               int
	Title            string
	BaseSHA, HeadSHA string
	BaseRef, HeadRef string
	Fork             bool // the head lives in another repository

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
	}
}

type eventJSON struct {
	Number      int `json:"number"`
	PullRequest *struct {
		Number int    `json:"number"`
		Title  string `json:"title"`
		Base   struct {
			SHA  string `json:"sha"`
			Ref  string `json:"ref"`
			Repo struct {
				FullName string `json:"full_name"`
			} `json:"repo"`
		} `json:"base"`
		Head struct {
			SHA  string `json:"sha"`
			Ref  string `json:"ref"`
			Repo struct {
				FullName string `json:"full_name"`
			} `json:"repo"`
		} `json:"head"`
	} `json:"pull_request"`
	After       string `json:"after"`
	WorkflowRun *struct {
		ID           int64  `json:"id"`
		HeadSHA      string `json:"head_sha"`
		HeadBranch   string `json:"head_branch"`
		Event        string `json:"event"`
		Conclusion   string `json:"conclusion"`
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
		ev.Fork = pr.Head.Repo.FullName != "" && pr.Head.Repo.FullName != pr.Base.Repo.FullName
	}
	ev.After = j.After
	if r := j.WorkflowRun; r != nil {
		ev.Run.ID, ev.Run.HeadSHA, ev.Run.HeadBranch, ev.Run.Event, ev.Run.Conclusion = r.ID, r.HeadSHA, r.HeadBranch, r.Event, r.Conclusion
		for _, p := range r.PullRequests {
			ev.Run.PRs = append(ev.Run.PRs, p.Number)
		}
	}
	return ev, nil
}
