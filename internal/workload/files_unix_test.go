//go:build unix

package workload

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/perfgate/perfgate/internal/scenario"
)

// A dataset that is a FIFO or a device is refused before it is read:
// validate hung on one (opening a FIFO waits for a writer; /dev/urandom
// never ends).
func TestDatasetNotARegularFile(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, "/dev/urandom", t.TempDir()} {
		done := make(chan error, 1)
		go func() { _, err := ReadFile(p, scenario.DatasetJSONL); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "is not a regular file") {
				t.Errorf("%s: %v", p, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: still reading after 10 s", p)
		}
	}
}
