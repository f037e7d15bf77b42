package site

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/perfgate/perfgate/internal/browsertest"
	"github.com/perfgate/perfgate/internal/history"
)

// points: two scenarios × two metrics over 30 commits; scenario "a"'s TPOT
// steps up 10 % at commit 25 (an open regression). A scenario name that
// tries to end the script element must stay text.
func points() []history.Point {
	rng := rand.New(rand.NewPCG(1, 1))
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var pts []history.Point
	for _, sc := range []string{"a", "</script><script>document.title='owned'</script>"} {
		for _, m := range []string{"median_tpot_ms", "output_throughput"} {
			for i := range 30 {
				v := 10 * (1 + 0.01*rng.NormFloat64())
				if m == "output_throughput" {
					v *= 100
				}
				if sc == "a" && m == "median_tpot_ms" && i >= 25 {
					v *= 1.10
				}
				pts = append(pts, history.Point{Version: 1, Scenario: sc, Level: 1, Metric: m, Value: v, Commit: fmt.Sprintf("%02x%038x", i+1, 0),
					Time: t0.Add(time.Duration(i) * time.Hour), Env: "sim", FailPct: 5})
			}
		}
	}
	return pts
}

func TestSiteRendersInChromium(t *testing.T) {
	dir := t.TempDir()
	pts := points()
	pg, err := Render(pts, history.Check(pts, history.Options{}), Options{Title: "vLLM main", CommitURL: "https://github.com/vllm-project/vllm/commit/{sha}"})
	if err == nil {
		err = pg.Write(dir)
	}
	if err != nil || pg.Series != 4 || pg.Open != 1 {
		t.Fatalf("write: %d series, %d open, %v", pg.Series, pg.Open, err)
	}
	ctx := browsertest.Context(t, 60*time.Second)
	var mu sync.Mutex
	var problems []string
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+e.ExceptionDetails.Text)
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
				problems = append(problems, "console: "+string(e.Type))
			}
		}
	}))
	// Navigate returns once the page has loaded; the script runs inline.
	must(chromedp.Do(ctx, chromedp.Navigate("file://"+filepath.Join(dir, "index.html"))))
	type view struct {
		Ready                              string
		Charts, Dots, FirstDots, OpenCards int
		Title, Href, Meta                  string
		ShownAfter                         int
	}
	v, err := chromedp.Run(ctx, chromedp.Evaluate[view](`(() => {
		const r = {Ready: document.body.dataset.ready || "", Charts: document.querySelectorAll("svg.chart").length,
			Dots: document.querySelectorAll("svg.chart circle.pt").length,
			FirstDots: document.querySelector("svg.chart").querySelectorAll("circle.pt").length,
			OpenCards: document.querySelectorAll(".card.open").length, Title: document.title,
			Href: document.querySelector("svg.chart a").getAttribute("href"), Meta: document.getElementById("meta").textContent};
		document.getElementById("fopen").click(); // the filter: only open regressions
		r.ShownAfter = [...document.querySelectorAll(".card")].filter(c => c.style.display !== "none").length;
		return r; })()`))
	must(err)
	if v.Ready != "1" || v.Charts != 4 || v.Dots != 120 || v.FirstDots != 30 || v.OpenCards != 1 || v.ShownAfter != 1 {
		t.Errorf("page state %+v", v)
	}
	if v.Title != "vLLM main" || !strings.HasPrefix(v.Href, "https://github.com/vllm-project/vllm/commit/0100000") || !strings.Contains(v.Meta, "1 open regression") {
		t.Errorf("title %q, link %q, meta %q", v.Title, v.Href, v.Meta)
	}
	if os.Getenv("PERFGATE_SCREENSHOTS") != "" {
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		must(err)
		must(os.WriteFile(filepath.Join("..", "..", "..", "docs", "images", "history-site.png"), shot, 0o644)) // PNG at quality 100
	}
	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Errorf("the page logged: %v", problems)
	}
}

// A commit URL that is not http(s), or has no {sha}, is not used.
func TestCommitURLMustBeHTTP(t *testing.T) {
	for _, u := range []string{"javascript:alert(1)//{sha}", "https://example.com/no-placeholder", "file:///{sha}"} {
		if d := build(nil, nil, Options{CommitURL: u}); d.CommitURL != "" {
			t.Errorf("%q was kept", u)
		}
	}
}
