package compare

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/perfgate/perfgate/internal/browsertest"
	"github.com/perfgate/perfgate/internal/report"
	"github.com/perfgate/perfgate/internal/report/reporttest"
)

// comparisonFixture compares four baseline trials with four candidate
// trials 10 % slower, over the fixture's two levels, into a fresh folder.
func comparisonFixture(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for i := range 4 {
		reporttest.WriteRun(t, filepath.Join(root, "base", fmt.Sprintf("trial-%02d", i+1)), "baseline", uint64(10+i), 1)
		reporttest.WriteRun(t, filepath.Join(root, "cand", fmt.Sprintf("trial-%02d", i+1)), "candidate", uint64(20+i), 1.1)
	}
	base, err := LoadTrials([]string{filepath.Join(root, "base")})
	must(t, err)
	cand, err := LoadTrials([]string{filepath.Join(root, "cand")})
	must(t, err)
	c, err := Compare(base, cand, Options{})
	must(t, err)
	out := filepath.Join(root, "out")
	must(t, Write(context.Background(), c, base, cand, out))
	return out
}

// pageCheck is what the browser measures of comparison.html.
type pageCheck struct {
	InnerWidth, ScrollWidth float64
	Figures                 []struct {
		Name            string
		Width, VBW, VBH float64
		Outside         []string // marks whose box leaves the image
		TextFills       []string
		Card            string // the first rect's fill
	}
	FG, BG string // the body's computed colours
}

const pageCheckJS = `(() => {
  const figs = Array.from(document.querySelectorAll("figure")).map(f => {
    const svg = f.querySelector("svg"), vb = svg.viewBox.baseVal, out = [];
    svg.querySelectorAll("path,text").forEach(el => {
      const b = el.getBBox();
      if (b.x < -0.5 || b.y < -0.5 || b.x + b.width > vb.width + 0.5 || b.y + b.height > vb.height + 0.5)
        out.push(el.tagName + " " + (el.textContent || el.getAttribute("d").slice(0, 40)));
    });
    const fills = Array.from(new Set(Array.from(svg.querySelectorAll("text")).map(t => t.getAttribute("fill"))));
    return {Name: f.id, Width: svg.getBoundingClientRect().width, VBW: vb.width, VBH: vb.height, Outside: out,
      TextFills: fills, Card: svg.querySelector("rect").getAttribute("fill")};
  });
  const cs = getComputedStyle(document.body);
  return {InnerWidth: innerWidth, ScrollWidth: document.documentElement.scrollWidth, Figures: figs, FG: cs.color, BG: cs.backgroundColor};
})()`

// comparison.html and every comparison chart, as a person sees them: in
// headless Chromium at a phone's width (390 px) and a desktop's (1280 px),
// in light and dark colour schemes. The page never scrolls sideways (wide
// tables scroll in their own box), every chart fits the width, no mark
// leaves its image, chart text has at least 4.5:1 contrast on the chart's
// own opaque card, and the page's text keeps that contrast in either scheme
// (dark mode is really applied). Screenshots go to the test's temp dir, or
// to PERFGATE_SCREENSHOTS (docs/reports.md shows them:
// PERFGATE_SCREENSHOTS=$PWD/docs/images go test ./internal/compare -run ComparisonPages).
func TestComparisonPagesInChromium(t *testing.T) {
	out := comparisonFixture(t)
	// report.html beside it: both pages are checked alike.
	runs, err := report.LoadAll([]string{filepath.Join("..", "report", "testdata", "runs", "baseline"), filepath.Join("..", "report", "testdata", "runs", "candidate")})
	must(t, err)
	_, err = report.Write(context.Background(), runs, out, []string{"html"})
	must(t, err)
	shots := os.Getenv("PERFGATE_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	for _, page := range []string{"comparison", "report"} {
		for _, width := range []int64{390, 1280} {
			for _, scheme := range []string{"light", "dark"} {
				checkPage(t, out, page, width, scheme, shots)
			}
		}
	}
}

func checkPage(t *testing.T, out, page string, width int64, scheme, shots string) {
	t.Run(fmt.Sprintf("%s-%d-%s", page, width, scheme), func(t *testing.T) {
		ctx := browsertest.Context(t, 90*time.Second, chromedp.WindowSize(int(width), 900))
		opts := []chromedp.EmulateViewportOption{}
		if width < 600 {
			opts = append(opts, chromedp.EmulateMobile)
		}
		must(t, chromedp.Do(ctx,
			chromedp.EmulateViewport(width, 900, opts...),
			chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
					Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
				return err
			}),
			chromedp.Navigate("file://"+filepath.Join(out, page+".html"))))
		pc, err := chromedp.Run(ctx, chromedp.Evaluate[pageCheck](pageCheckJS))
		must(t, err)
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(70))
		must(t, err)
		if pc.ScrollWidth > pc.InnerWidth+1 {
			t.Errorf("the page is %v px wide in a %v px window: it scrolls sideways", pc.ScrollWidth, pc.InnerWidth)
		}
		names := map[string]bool{}
		for _, f := range pc.Figures {
			names[f.Name] = true
			if f.Width <= 0 || f.Width > pc.InnerWidth {
				t.Errorf("%s drawn %v px wide in a %v px window", f.Name, f.Width, pc.InnerWidth)
			}
			if len(f.Outside) > 0 {
				t.Errorf("%s: marks outside the image: %q", f.Name, f.Outside)
			}
			if f.Card != "#ffffff" {
				t.Errorf("%s: no opaque card (%q): it would not read in dark mode", f.Name, f.Card)
			}
			for _, fill := range f.TextFills {
				if r := contrast(fill, "#ffffff"); r < 4.5 {
					t.Errorf("%s: text %s on white has contrast %.1f:1", f.Name, fill, r)
				}
			}
		}
		wants := []string{"change", "compare-hockey", "metric-p99_ttft_ms", "metric-output_throughput"}
		if page == "report" {
			wants = []string{"hockey-ttft", "latency-e2el", "cdf-tpot", "goodput", "timeline-1"}
		}
		for _, want := range wants {
			if !names[want] {
				t.Errorf("no %s chart on the page (%v)", want, names)
			}
		}
		if r := contrast(pc.FG, pc.BG); r < 4.5 {
			t.Errorf("page text %s on %s: contrast %.1f:1", pc.FG, pc.BG, r)
		}
		if dark := luminance(pc.BG) < 0.2; dark != (scheme == "dark") {
			t.Errorf("%s scheme, background %s", scheme, pc.BG)
		}
		p := filepath.Join(shots, fmt.Sprintf("%s-%d-%s.jpg", page, width, scheme))
		if page == "report" && os.Getenv("PERFGATE_SCREENSHOTS") != "" {
			p = filepath.Join(t.TempDir(), "report.jpg") // the docs show the comparison page
		}
		must(t, os.WriteFile(p, shot, 0o644))
		t.Logf("screenshot: %s (%d bytes)", p, len(shot))
	})
}

// luminance is WCAG's relative luminance of "#rrggbb" or "rgb(r, g, b)".
func luminance(c string) float64 {
	var r, g, b int
	if strings.HasPrefix(c, "#") {
		fmt.Sscanf(c, "#%02x%02x%02x", &r, &g, &b)
	} else {
		fmt.Sscanf(strings.NewReplacer("rgba(", "", "rgb(", "", ",", " ").Replace(c), "%d %d %d", &r, &g, &b)
	}
	lin := func(v int) float64 {
		x := float64(v) / 255
		if x <= 0.03928 {
			return x / 12.92
		}
		return math.Pow((x+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(r) + 0.7152*lin(g) + 0.0722*lin(b)
}

// contrast is WCAG's contrast ratio of two colours.
func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// comparison.md, pinned: four baseline against four candidate trials 10 %
// slower over two levels (go test ./internal/compare -update rewrites it).
func TestGoldenComparisonMarkdown(t *testing.T) {
	out := comparisonFixture(t)
	b, err := os.ReadFile(filepath.Join(out, "comparison.md"))
	must(t, err)
	golden(t, "comparison.md", b)
}
