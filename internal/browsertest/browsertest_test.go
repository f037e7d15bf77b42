package browsertest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// A Chromium that exits at its first two starts (as a loaded machine's now
// and then does) still gives the test a working tab, at the third.
func TestContextStartsAgainAfterAFailedStart(t *testing.T) {
	bin := Find()
	if bin == "" {
		t.Skip("no chromium here")
	}
	dir := t.TempDir()
	starts := filepath.Join(dir, "starts")
	flaky := filepath.Join(dir, "flaky-chromium")
	script := "#!/bin/sh\necho start >> '" + starts + "'\n" +
		"if [ \"$(wc -l < '" + starts + "')\" -lt 3 ]; then echo 'gone before listening' >&2; exit 1; fi\n" +
		"exec '" + bin + "' \"$@\"\n"
	if err := os.WriteFile(flaky, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := Context(t, 90*time.Second, chromedp.ExecPath(flaky))
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(starts)
	if n := strings.Count(string(b), "start"); n != 3 {
		t.Errorf("%d starts, want 3", n)
	}
}
