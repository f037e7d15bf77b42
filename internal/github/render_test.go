package github

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/renderer/html"

	"github.com/perfgate/perfgate/internal/browsertest"
	"github.com/perfgate/perfgate/internal/comparison"
	"github.com/perfgate/perfgate/internal/metric"
)

// commentPage renders a comment's markdown as GitHub does the parts that
// matter for its shape (GitHub-flavoured tables, <details>, inline HTML) with
// goldmark, in a page whose column and table rules follow GitHub's comment
// box: the body is the viewport less its margins, and a table too wide for
// it scrolls inside its own box.
func commentPage(t *testing.T, md string) string {
	t.Helper()
	var body bytes.Buffer
	gm := goldmark.New(goldmark.WithExtensions(extension.GFM), goldmark.WithRendererOptions(html.WithUnsafe()))
	if err := gm.Convert([]byte(md), &body); err != nil {
		t.Fatal(err)
	}
	page := `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<style>
body { font: 14px/1.5 -apple-system, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif; margin: 0; padding: 16px; color: #1f2328; }
.comment { max-width: 880px; border: 1px solid #d1d9e0; border-radius: 6px; padding: 16px; overflow-wrap: break-word; }
table { display: block; width: max-content; max-width: 100%; overflow: auto; border-collapse: collapse; margin: 8px 0; }
th, td { padding: 6px 13px; border: 1px solid #d1d9e0; }
img { max-width: 100%; }
code { font-size: 85%; background: #eff1f3; padding: 0.2em 0.4em; border-radius: 6px; }
</style></head><body><div class="comment">` + body.String() + `</div></body></html>`
	p := filepath.Join(t.TempDir(), "comment.html")
	if err := os.WriteFile(p, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Issue 17: the comment fits a phone. At 390 px (and 1280 px) the verdict
// line and the table of what moved are within the screen, with no sideways
// scrolling; screenshots of both are in docs/images (PERFGATE_SCREENSHOTS=1
// writes them again).
func TestCommentOnAPhone(t *testing.T) {
	ctx := browsertest.Context(t, 90*time.Second)
	rep := sampleReport("fail")
	c := rep.Scenarios[0].Comparison
	worse := func(v float64) *float64 { return &v }
	for _, m := range []struct {
		level  int
		metric string
		ch     float64
		v      metric.Verdict
	}{{1, "output_throughput", -8.3, "fail"}, {2, "median_e2el_ms", 8.7, "fail"}, {3, "p99_ttft_ms", 6.9, "warn"}, {1, "median_ttft_ms", -1.5, "pass"}, {1, "error_rate", 0, "pass"}} {
		c.Outcome.Results = append(c.Outcome.Results, comparison.ValidResult{Level: m.level, Metric: m.metric, Verdict: m.v, BaselineMedian: 100, CandMedian: 100 * (1 + m.ch/100),
			ChangePct: worse(m.ch), CILowPct: worse(m.ch - 3.1), CIHighPct: worse(m.ch + 2.7), Q: worse(0.012), Gating: true})
	}
	c.Run = &comparison.ValidRun{Sequential: true, Trials: [2]int{4, 4}, StopReason: "fail", Stopped: "stopped after 4 trials per side: a regression is clear"}
	page := commentPage(t, rep.Comment(rep.RunURL))

	for _, width := range []int64{390, 1280} {
		type fitness struct {
			Scroll, Inner             float64
			TableRight, HeadingBottom float64
		}
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, 844)); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate("file://"+page)); err != nil {
			t.Fatal(err)
		}
		fit, err := chromedp.Run(ctx, chromedp.Evaluate[fitness](`({Scroll: document.documentElement.scrollWidth, Inner: window.innerWidth,
			TableRight: document.querySelector("table").getBoundingClientRect().right,
			HeadingBottom: document.querySelector("h2").getBoundingClientRect().bottom})`))
		if err != nil {
			t.Fatal(err)
		}
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d px: page %.0f px wide, the first table ends at %.0f px, the verdict line at %.0f px down", width, fit.Scroll, fit.TableRight, fit.HeadingBottom)
		if fit.Scroll > fit.Inner || fit.TableRight > float64(width) || math.IsNaN(fit.TableRight) {
			t.Errorf("%d px: the comment does not fit (page %.0f px, table to %.0f px)", width, fit.Scroll, fit.TableRight)
		}
		if fit.HeadingBottom > 844 {
			t.Errorf("%d px: the verdict line is below the first screen", width)
		}
		if os.Getenv("PERFGATE_SCREENSHOTS") != "" {
			name := filepath.Join("..", "..", "docs", "images", "comment-"+strconv.FormatInt(width, 10)+".png")
			if err := os.WriteFile(name, shot, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
