package ab

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// A relative --work-dir is made absolute: the install runs in the worktree
// and the engine elsewhere, and a relative one named a different folder for
// each (ab failed).
func TestRelativeWorkDirIsMadeAbsolute(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	var stderr bytes.Buffer
	work, _, err := PrepareWork(context.Background(), Env{Stderr: &stderr}, dir, nil, Options{WorkDir: "cache/work"})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "cache", "work"); work != want {
		t.Errorf("work dir %q, want %q", work, want)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Two perfgates sharing a work dir take turns checking out and installing:
// the second waits, saying so, and goes on when the first is done — or
// gives up when its context ends. They raced over one worktree before.
func TestWorkDirIsTakenInTurns(t *testing.T) {
	work := t.TempDir()
	var first, second syncBuffer
	unlock, err := lockWork(context.Background(), Env{Stderr: &first}, work)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		u, err := lockWork(context.Background(), Env{Stderr: &second}, work)
		if err == nil {
			u()
		}
		got <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(second.String(), "another perfgate is checking out or installing in "+work) {
		if time.Now().After(deadline) {
			t.Fatalf("the second did not say it waits: %q", second.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-got:
		t.Fatalf("the second went on while the first held the lock: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	unlock()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	unlock, _ = lockWork(context.Background(), Env{Stderr: &first}, work)
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := lockWork(ctx, Env{Stderr: &second}, work); err == nil || !strings.Contains(err.Error(), "locking the work dir") {
		t.Errorf("a wait that was canceled: %v", err)
	}
	if _, err := os.Stat(filepath.Join(work, ".perfgate.lock")); err != nil {
		t.Error(err)
	}
}
