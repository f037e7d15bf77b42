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
// attempts, each with a fresh profile; any other error fails the test.
func Context(t testing.TB, timeout time.Duration, opts ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	bin := Find()
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is missing in CI; .ci/run should have installed it")
		}
		t.Skip("no chromium here (apt-get install chromium)")
	}
	const attempts = 3
	for attempt := 1; ; attempt++ {
		all := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
			chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true))
		actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(all, opts...)...)
		ctx, cancelTab := chromedp.NewContext(actx)
		ctx, cancelTime := context.WithTimeout(ctx, timeout)
		stop := func() { cancelTime(); cancelTab(); cancelAlloc() }
		err := chromedp.Do(ctx) // no steps: starts the browser and opens the tab
		if err == nil {
			t.Cleanup(stop)
			return ctx
		}
		stop()
		if attempt == attempts || !strings.Contains(err.Error(), "chrome failed to start") {
			t.Fatalf("chromium (attempt %d of %d): %v", attempt, attempts, err)
		}
		t.Logf("chromium exited before it was ready (attempt %d of %d), starting it again: %v", attempt, attempts, err)
	}
}
