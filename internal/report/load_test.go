package report

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/perfgate/perfgate/internal/record"
)

var levelRe = regexp.MustCompile(`("level": ?)(\d+)`)

// A run folder from before schema 2 — summary.json, levels numbered from 0
// in it and in requests.jsonl, meta.json saying schema 1 — still loads, and
// its levels are the same as a current folder's.
func TestLoadReadsASchema1Folder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "old")
	if err := os.CopyFS(dir, os.DirFS("testdata/runs/baseline")); err != nil {
		t.Fatal(err)
	}
	rewrite := func(name string, edit func(b []byte) []byte) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), edit(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rewrite(record.MetaFile, func(b []byte) []byte {
		return []byte(strings.Replace(string(b), `"schema_version": 2`, `"schema_version": 1`, 1))
	})
	for _, name := range []string{record.RequestsFile, record.SummaryFile} {
		rewrite(name, func(b []byte) []byte {
			return levelRe.ReplaceAllFunc(b, func(m []byte) []byte {
				sub := levelRe.FindSubmatch(m)
				n, _ := strconv.Atoi(string(sub[2]))
				return []byte(string(sub[1]) + strconv.Itoa(n-1))
			})
		})
	}
	if err := os.Rename(filepath.Join(dir, record.SummaryFile), filepath.Join(dir, record.LegacySummaryFile)); err != nil {
		t.Fatal(err)
	}
	old, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := Load("testdata/runs/baseline")
	if err != nil {
		t.Fatal(err)
	}
	if !old.Complete || len(old.Notices) != 0 || len(old.Summary.Levels) != 2 {
		t.Fatalf("complete %v, notices %v, %d levels", old.Complete, old.Notices, len(old.Summary.Levels))
	}
	for i, l := range old.Summary.Levels {
		c := cur.Summary.Levels[i]
		if l.Level != c.Level || l.NumRequests != c.NumRequests || l.RequestedRate != c.RequestedRate || l.Telemetry == nil {
			t.Errorf("level %d: schema 1 reads as %+v, schema 2 as %+v", i, l, c)
		}
	}
}

// A canceled context stops Write between charts, saying why.
func TestWriteStopsWhenCanceled(t *testing.T) {
	a, _ := fixtures(t)
	runs, err := LoadAll([]string{a})
	must(t, err)
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("terminated signal received"))
	if _, err := Write(ctx, runs, t.TempDir(), []string{"md"}); err == nil || !strings.Contains(err.Error(), "terminated") {
		t.Errorf("Write under a canceled context: %v", err)
	}
}
