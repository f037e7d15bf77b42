// Package browsertest starts headless Chromium (Debian's package) for tests
// that look at what perfgate shows a person: the HTML report, the PR comment.
// Without Chromium a test is skipped, except in CI, where .ci/run installs it
// and its absence is a failure.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/perfgate/perfgate/internal/retry"
)

// Find is Chromium's path, or "".
func Find() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Context is a browser tab for the test, offline and quiet (no updates, no
// sync, no QUIC), closed when the test ends or after timeout. The browser is
// started here, not at the first action, so that a start that fails can be
// tried again: on a loaded machine Chromium now and then exits before it
// listens (chromedp: "chrome failed to start", with nothing but its usual
// warnings printed), which says nothing about the page under test. Three
// attempts (internal/retry), each with a fresh profile; any other error
// fails the test.
func Context(t testing.TB, timeout time.Duration, opts ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("opens Chromium: runs without -short (.ci/run runs it)")
	}
	bin := Find()
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is missing in CI; .ci/run should have installed it")
		}
		t.Skip("no chromium here (apt-get install chromium)")
	}
	const attempts = 3
	var ctx context.Context
	err := retry.Do(context.Background(), retry.Policy{
		Attempts:  attempts,
		Retryable: func(err error) bool { return strings.Contains(err.Error(), "chrome failed to start") },
		Between: func(n int, err error) error {
			t.Logf("chromium exited before it was ready (attempt %d of %d), starting it again: %v", n, attempts, err)
			return nil
		},
	}, func(int) error {
		all := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
			chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true))
		actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(all, opts...)...)
		tab, cancelTab := chromedp.NewContext(actx)
		tab, cancelTime := context.WithTimeout(tab, timeout)
		stop := func() { cancelTime(); cancelTab(); cancelAlloc() }
		if err := chromedp.Do(tab); err != nil { // no steps: starts the browser and opens the tab
			stop()
			return err
		}
		t.Cleanup(stop)
		ctx = tab
		return nil
	})
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	return ctx
}
