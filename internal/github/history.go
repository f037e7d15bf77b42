package github

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/perfgate/perfgate/internal/history"
	"github.com/perfgate/perfgate/internal/retry"
)

// HistoryStore is a history store kept on a branch of the repository and
// written through the API (the action's git:BRANCH): no clone, no push
// credentials, and appends that race are retried from a fresh read, never
// lost.
type HistoryStore struct {
	C      *Client
	Branch string
}

// Load implements history.Store.
func (s *HistoryStore) Load(ctx context.Context) ([]history.Point, error) {
	files, _, err := s.C.ReadBranch(ctx, s.Branch)
	if err != nil {
		return nil, err
	}
	return parseHistory(s.Branch, files)
}

func parseHistory(branch string, files map[string][]byte) ([]history.Point, error) {
	var names []string
	for n := range files {
		if strings.HasPrefix(n, "history-") && strings.HasSuffix(n, ".jsonl") && !strings.Contains(n, "/") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var out []history.Point
	for _, n := range names {
		pts, err := history.Parse(branch+":"+n, files[n])
		if err != nil {
			return nil, err
		}
		out = append(out, pts...)
	}
	return out, nil
}

// Append implements history.Store.
func (s *HistoryStore) Append(ctx context.Context, pts []history.Point) (int, error) {
	n := 0
	err := retry.Do(ctx, conflictRetry, func(int) error {
		files, tip, err := s.C.ReadBranch(ctx, s.Branch)
		if err != nil {
			return err
		}
		have, err := parseHistory(s.Branch, files)
		if err != nil {
			return err
		}
		add := history.NewPoints(have, pts)
		var fs []File
		n = 0
		for name, ps := range add {
			old := files[name]
			if len(old) > 0 && old[len(old)-1] != '\n' {
				old = append(old, '\n')
			}
			fs = append(fs, File{Path: name, Data: append(old, history.Encode(ps)...)})
			n += len(ps)
		}
		if n == 0 {
			return nil
		}
		_, err = s.C.CommitFiles(ctx, s.Branch, fmt.Sprintf("perfgate history: %d point(s)", n), tip, fs)
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
