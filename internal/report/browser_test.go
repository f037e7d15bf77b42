package report

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/perfgate/perfgate/internal/browsertest"
)

// report.html opens offline in headless Chromium: every chart renders with
// a size, and the page logs no error. A screenshot is left in the test's
// temp dir. .ci/run installs Debian's chromium when it is missing.
func TestReportHTMLInChromium(t *testing.T) {
	ctx := browsertest.Context(t, 60*time.Second, chromedp.WindowSize(1100, 900))
	a, b := fixtures(t)
	runs, err := LoadAll([]string{a, b})
	must(t, err)
	out := t.TempDir()
	_, err = write(context.Background(), runs, out, []string{"html"}, false)
	must(t, err)

	var mu sync.Mutex
	var problems []string
	must(t, chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
				problems = append(problems, "console: "+string(e.Type))
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+e.ExceptionDetails.Text)
		}
	}))
	// Navigate returns once the page has loaded; the charts are inline.
	must(t, chromedp.Do(ctx, chromedp.Navigate("file://"+filepath.Join(out, "report.html"))))
	sizes, err := chromedp.Run(ctx, chromedp.Evaluate[[]map[string]float64](
		`Array.from(document.querySelectorAll("figure svg")).map(s => { const r = s.getBoundingClientRect(); return {w: r.width, h: r.height}; })`))
	must(t, err)
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(80))
	must(t, err)
	if len(sizes) < 10 {
		t.Errorf("%d charts on the page", len(sizes))
	}
	for i, s := range sizes {
		if s["w"] <= 0 || s["h"] <= 0 {
			t.Errorf("chart %d rendered at %v×%v", i, s["w"], s["h"])
		}
	}
	mu.Lock()
	if len(problems) > 0 {
		t.Errorf("the page logged: %s", strings.Join(problems, "; "))
	}
	mu.Unlock()
	shotPath := filepath.Join(t.TempDir(), "report.jpg")
	must(t, os.WriteFile(shotPath, shot, 0o644))
	t.Logf("screenshot: %s (%d bytes)", shotPath, len(shot))
}

// Under the pointer, a chart of report.html names the nearest point's series
// and values (the page's inline script reads the figure's data-layout).
func TestReportHTMLHoverValues(t *testing.T) {
	ctx := browsertest.Context(t, 60*time.Second, chromedp.WindowSize(1100, 900))
	a, _ := fixtures(t)
	runs, err := LoadAll([]string{a})
	must(t, err)
	out := t.TempDir()
	_, err = write(context.Background(), runs, out, []string{"html"}, false)
	must(t, err)
	must(t, chromedp.Do(ctx, chromedp.Navigate("file://"+filepath.Join(out, "report.html"))))
	got, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`(() => {
  const f = document.querySelector("figure#hockey-ttft"), L = JSON.parse(f.dataset.layout), svg = f.querySelector("svg");
  const p = L.Points[0], r = svg.getBoundingClientRect(), k = r.width / L.W;
  const fx = (p.X - L.X0) / (L.X1 - L.X0), fy = (p.Y - L.Y0) / (L.Y1 - L.Y0);
  const x = r.left + (L.Left + fx * L.Width) * k + 2, y = r.top + (L.Top + (1 - fy) * L.Height) * k + 2;
  svg.dispatchEvent(new MouseEvent("mousemove", {clientX: x, clientY: y, bubbles: true}));
  const tip = f.querySelector(".tip");
  const shown = tip.textContent, visible = getComputedStyle(tip).display;
  svg.dispatchEvent(new MouseEvent("mouseleave"));
  return {shown: shown, visible: visible, hidden: getComputedStyle(tip).display, label: p.Label, x: p.X, figures: document.querySelectorAll("figure[data-layout]").length};
})()`))
	must(t, err)
	shown, _ := got["shown"].(string)
	if got["visible"] != "block" || got["hidden"] != "none" || !strings.Contains(shown, got["label"].(string)) || !strings.Contains(shown, "output throughput") {
		t.Errorf("hover: %v", got)
	}
	if n, _ := got["figures"].(float64); n < 8 {
		t.Errorf("%v figures with values under the pointer", n)
	}
}

// Texts from a run folder (a label, a notice) reach report.html escaped by
// its template.
func TestReportHTMLEscapesRunTexts(t *testing.T) {
	a, _ := fixtures(t)
	runs, err := LoadAll([]string{a})
	must(t, err)
	runs[0].Name = `<script>alert(1)</script>`
	runs[0].Notices = []string{`<img src=x onerror=alert(2)>`}
	page := htmlReport(runs, nil, nil, nil)
	for _, bad := range []string{"<script>alert(1)", "<img src=x"} {
		if strings.Contains(page, bad) {
			t.Errorf("%q reached report.html", bad)
		}
	}
	if !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("the label is not on the page, escaped")
	}
}
