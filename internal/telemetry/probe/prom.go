package probe

import (
	"bytes"
	"cmp"
	"context"
	"maps"
	"math"

	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/perfgate/perfgate/internal/telemetry"
)

// Metrics scrapes a Prometheus text endpoint — the engine's /metrics — and
// keeps every gauge and counter, and each histogram's _sum and _count, summed
// over their label sets (a vLLM server with several engines reports one
// series per engine). Metrics that are missing simply have no value; unknown
// ones are kept; a malformed line is skipped, the rest of the page read.
// Counters (and histograms' _sum and _count) are corrected for resets per
// series before they are summed: when one series goes down (one engine of
// several restarted) counting goes on from its last value, so the sum never
// drops for one engine's restart — summed first, the others' counts were
// counted again (TestCountersAreCorrectedPerSeries: 29 counted for a true 14). A reset of every series
// is corrected the same way; the summary's own reset detection stays for
// values read before this probe started.
type Metrics struct {
	Label  string // probe name, "metrics" by default
	URL    string // e.g. http://127.0.0.1:8000/metrics
	Prefix string // keep only names with this prefix ("vllm:"); "" keeps all
	// Include, when set, keeps only the names one of them matches.
	Include []*regexp.Regexp
	// ByLabel, when set, keeps one value per value of that label, named
	// NAME{LABEL="VALUE"}, instead of the sum over label sets.
	ByLabel string
	Client  *http.Client

	mu     sync.Mutex
	series map[string]*counterSeries // by name and label set
}

// counterSeries is one counter series' last value read and what its resets
// have added.
type counterSeries struct{ last, offset float64 }

// correct is v of series key, counted on across its resets.
func (m *Metrics) correct(key string, v float64) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.series == nil {
		m.series = map[string]*counterSeries{}
	}
	c := m.series[key]
	if c == nil {
		c = &counterSeries{last: v}
		m.series[key] = c
	}
	if v < c.last {
		c.offset += c.last // it restarted from 0
	}
	c.last = v
	return v + c.offset
}

var _ telemetry.Probe = (*Metrics)(nil)

// Name implements telemetry.Probe.
func (m *Metrics) Name() string {
	if m.Label == "" {
		return "metrics"
	}
	return m.Label
}

// Sample implements telemetry.Probe.
func (m *Metrics) Sample(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.URL, nil)
	if err != nil {
		return nil, err
	}
	hc := m.Client
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", m.URL, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPage+1))
	if err != nil {
		return nil, err
	}
	if len(body) > MaxPage {
		return nil, fmt.Errorf("GET %s: the page is over %d MiB; perfgate does not parse it (point the probe at a smaller page, or filter with include)", m.URL, MaxPage>>20)
	}
	fams, skipped, err := ParseMetrics(body)
	if err != nil {
		return nil, err
	}
	out := flattenCorrected(fams, m.Prefix, m.ByLabel, m.correct)
	if len(m.Include) > 0 {
		for k := range out {
			name, _, _ := strings.Cut(k, "{")
			if !slices.ContainsFunc(m.Include, func(re *regexp.Regexp) bool { return re.MatchString(name) }) {
				delete(out, k)
			}
		}
	}
	if len(out) > MaxSeries {
		// A page of a hundred thousand names would write megabytes a tick:
		// the first MaxSeries by name are kept, and the rest counted.
		names := slices.Sorted(maps.Keys(out))
		for _, k := range names[MaxSeries:] {
			delete(out, k)
		}
		out["telemetry.dropped_series"] = float64(len(names) - MaxSeries)
	}
	if skipped > 0 {
		out["telemetry.malformed_lines"] = float64(skipped)
	}
	return out, nil
}

// MaxSeries is the most values one scrape keeps: a vLLM server exposes about
// a hundred names (a few per engine with several); a page of more keeps the
// first MaxSeries by name and counts the rest as telemetry.dropped_series.
const MaxSeries = 4096

var lineRe = regexp.MustCompile(`line (\d+)`)

// MaxPage is the largest /metrics page read: a vLLM server's is tens of
// KiB; a page past this is refused (an error sample), not parsed each tick.
const MaxPage = 8 << 20

// ParseMetrics parses Prometheus text, dropping the lines the parser
// rejects and returning how many it dropped. A page that parses costs one
// pass; one with bad lines is parsed family by family, so that a bad line
// costs a re-parse of its family's block (at most 100 per block), never of
// the whole page.
func ParseMetrics(text []byte) (map[string]*dto.MetricFamily, int, error) {
	fams, err := parseText(text)
	if err == nil {
		return fams, 0, nil
	}
	out := map[string]*dto.MetricFamily{}
	skipped := 0
	var firstErr error
	for _, block := range blocks(text) {
		f, n, err := parseDropping(block)
		skipped += n
		if err != nil {
			skipped += len(block)
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		for name, fam := range f {
			if have, ok := out[name]; ok && have.GetType() == fam.GetType() {
				have.Metric = append(have.Metric, fam.Metric...)
				continue
			}
			out[name] = fam
		}
	}
	if len(out) == 0 {
		return nil, skipped, fmt.Errorf("parse /metrics: %w", cmp.Or(firstErr, err))
	}
	return out, skipped, nil
}

func parseText(text []byte) (map[string]*dto.MetricFamily, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(bytes.NewReader(text))
}

// parseDropping parses one block, dropping each line the parser names (up
// to 100) and returning how many it dropped.
func parseDropping(lines [][]byte) (map[string]*dto.MetricFamily, int, error) {
	for skipped := 0; ; skipped++ {
		fams, err := parseText(append(bytes.Join(lines, []byte("\n")), '\n'))
		if err == nil {
			return fams, skipped, nil
		}
		m := lineRe.FindStringSubmatch(err.Error())
		if m == nil || skipped >= 100 {
			return nil, skipped, err
		}
		n, _ := strconv.Atoi(m[1])
		if n < 1 || n > len(lines) {
			return nil, skipped, err
		}
		// Drop the bad line; a # TYPE line that no longer matches its samples
		// would fail again, and is dropped on the next round.
		lines = append(lines[:n-1:n-1], lines[n:]...)
	}
}

// blocks splits a page into runs of lines that start at a # HELP or # TYPE
// line naming a new metric: one family's text, in the usual layout.
func blocks(text []byte) [][][]byte {
	var out [][][]byte
	var cur [][]byte
	name := ""
	for line := range bytes.SplitSeq(text, []byte("\n")) {
		if f := bytes.Fields(line); len(f) >= 3 && string(f[0]) == "#" && (string(f[1]) == "HELP" || string(f[1]) == "TYPE") {
			if string(f[2]) != name && len(cur) > 0 {
				out, cur = append(out, cur), nil
			}
			name = string(f[2])
		}
		if len(bytes.TrimSpace(line)) > 0 {
			cur = append(cur, line)
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// flatten turns metric families into name → value, summing over label sets.
func flatten(fams map[string]*dto.MetricFamily, prefix string) map[string]float64 {
	return flattenBy(fams, prefix, "")
}

// flattenBy is flatten that, for a non-empty label, keeps a series per value
// of that label: NAME{label="value"} (series without it are aggregated as
// NAME).
//
// How series of one name are aggregated depends on what they measure, so
// that a data-parallel server (one series per engine) reads right: counters,
// histograms and queue gauges (requests running, waiting) are summed; a
// usage gauge (a fraction of a capacity: vLLM's *_usage_perc, DCGM's
// *_UTIL) is the maximum, with the mean across series as NAME:mean — summed
// it would read 130 % on two engines. Creation-time series (*_created) are
// not values and are left out, and so are DCGM's blank values (the
// "not supported" sentinels), counted as telemetry.blank_values.
func flattenBy(fams map[string]*dto.MetricFamily, prefix, label string) map[string]float64 {
	return flattenCorrected(fams, prefix, label, nil)
}

// seriesKey names one series: its family and its whole label set.
func seriesKey(name string, mt *dto.Metric) string {
	var b strings.Builder
	b.WriteString(name)
	for _, lp := range mt.GetLabel() { // the parser sorts them
		b.WriteString("\x00" + lp.GetName() + "=" + lp.GetValue())
	}
	return b.String()
}

// flattenCorrected is flattenBy with each counter series (and each
// histogram's _sum and _count) passed through correct before it is summed
// (nil: as read).
func flattenCorrected(fams map[string]*dto.MetricFamily, prefix, label string, correct func(key string, v float64) float64) map[string]float64 {
	if correct == nil {
		correct = func(_ string, v float64) float64 { return v }
	}
	out := map[string]float64{}
	type agg struct {
		max, sum float64
		n        int
	}
	usage := map[string]*agg{}
	blank := 0
	for fname, f := range fams {
		if prefix != "" && !strings.HasPrefix(fname, prefix) || strings.HasSuffix(fname, "_created") {
			continue
		}
		isUsage := f.GetType() == dto.MetricType_GAUGE && usageGauge(fname)
		isDCGM := strings.HasPrefix(fname, "DCGM_")
		for _, mt := range f.GetMetric() {
			lbl := ""
			if label != "" {
				for _, lp := range mt.GetLabel() {
					if lp.GetName() == label {
						lbl = fmt.Sprintf("{%s=%q}", label, lp.GetValue())
					}
				}
			}
			var v float64
			key := seriesKey(fname, mt)
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				v = correct(key, mt.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				v = mt.GetGauge().GetValue()
			case dto.MetricType_UNTYPED:
				v = mt.GetUntyped().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[fname+"_sum"+lbl] += correct(key+"\x00_sum", mt.GetHistogram().GetSampleSum())
				out[fname+"_count"+lbl] += correct(key+"\x00_count", float64(mt.GetHistogram().GetSampleCount()))
				continue
			case dto.MetricType_GAUGE_HISTOGRAM:
				out[fname+"_sum"+lbl] += mt.GetHistogram().GetSampleSum()
				out[fname+"_count"+lbl] += float64(mt.GetHistogram().GetSampleCount())
				continue
			case dto.MetricType_SUMMARY:
				out[fname+"_sum"+lbl] += correct(key+"\x00_sum", mt.GetSummary().GetSampleSum())
				out[fname+"_count"+lbl] += correct(key+"\x00_count", float64(mt.GetSummary().GetSampleCount()))
				continue
			default:
				continue
			}
			if isDCGM && dcgmBlank(v) {
				blank++
				continue
			}
			if isUsage {
				a := usage[fname+lbl]
				if a == nil {
					a = &agg{max: math.Inf(-1)}
					usage[fname+lbl] = a
				}
				a.max, a.sum, a.n = math.Max(a.max, v), a.sum+v, a.n+1
				continue
			}
			out[fname+lbl] += v
		}
	}
	for k, a := range usage {
		out[k] = a.max
		if a.n > 1 {
			out[k+":mean"] = a.sum / float64(a.n)
		}
	}
	if blank > 0 {
		out["telemetry.blank_values"] = float64(blank)
	}
	return out
}

// usageGauge says whether a gauge is a fraction of a capacity, which series
// of different engines do not add up to.
func usageGauge(name string) bool {
	n := strings.ToLower(name)
	return strings.HasSuffix(n, "_usage_perc") || strings.HasSuffix(n, "_usage") || strings.HasSuffix(n, "_util") ||
		strings.HasSuffix(n, "_utilization") || strings.HasSuffix(n, "_perc")
}

// dcgmBlank says whether v (of a DCGM_ field) is one of DCGM's blank values — what its
// exporter reports for a field the GPU does not support: the int32 blanks
// (0x7ffffff0 and up), the int64 blanks (0x7ffffffffffffff0 and up, 9.2e18)
// and the float64 blanks (2^47 and just above).
func dcgmBlank(v float64) bool {
	switch {
	case v >= 0x7ffffff0 && v <= 0x7fffffff:
		return true
	case v >= 9.2233720368547e18:
		return true
	case v >= 140737488355328 && v <= 140737488355328+16:
		return true
	}
	return false
}
