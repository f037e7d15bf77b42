package probe

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// bigPage is n gauge families, every k-th with a bad sample line.
func bigPage(n, k int) (string, int) {
	var b strings.Builder
	bad := 0
	for i := range n {
		fmt.Fprintf(&b, "# HELP g%d a gauge\n# TYPE g%d gauge\ng%d{engine=\"0\"} %d\n", i, i, i, i)
		if k > 0 && i%k == 0 {
			fmt.Fprintf(&b, "g%d{engine=\"1\" 12 not a sample\n", i)
			bad++
		}
	}
	return b.String(), bad
}

// A big page with many bad lines: every good family kept, every bad line
// counted, and the work per bad line is its family's block (see
// BenchmarkParseMetricsBadLines), not the page.
func TestParseMetricsManyBadLines(t *testing.T) {
	page, bad := bigPage(3000, 10)
	fams, skipped, err := ParseMetrics([]byte(page))
	if err != nil || skipped != bad || len(fams) != 3000 {
		t.Fatalf("%d families, %d skipped (want %d), %v", len(fams), skipped, bad, err)
	}
	if v := fams["g7"].GetMetric()[0].GetGauge().GetValue(); v != 7 {
		t.Errorf("g7 = %v", v)
	}
}

func BenchmarkParseMetricsBadLines(b *testing.B) {
	page, _ := bigPage(3000, 10)
	b.SetBytes(int64(len(page)))
	for b.Loop() {
		ParseMetrics([]byte(page))
	}
}

// A page over MaxPage is an error sample, not parsed.
func TestMetricsPageCap(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, strings.Repeat("# a comment line that goes nowhere\n", MaxPage/30))
	}))
	defer srv.Close()
	_, err := (&Metrics{URL: srv.URL}).Sample(t.Context())
	if err == nil || !strings.Contains(err.Error(), "over 8 MiB") {
		t.Errorf("%v", err)
	}
}

// A page just under MaxPage with 100,000 names (7.9 MiB) kept them all and
// wrote megabytes of telemetry a tick; a scrape keeps MaxSeries and counts
// the rest.
func TestMetricsSeriesCap(t *testing.T) {
	page, _ := bigPage(100_000, 0)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, page)
	}))
	defer srv.Close()
	out, err := (&Metrics{URL: srv.URL}).Sample(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != MaxSeries+1 || out["telemetry.dropped_series"] != 100_000-MaxSeries {
		t.Errorf("%d values kept, dropped %v", len(out), out["telemetry.dropped_series"])
	}
	if _, ok := out["g0"]; !ok {
		t.Error("the first names are kept")
	}
}
