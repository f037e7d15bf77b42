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
	// Buckets, when set, says which histograms keep their buckets
	// (NAME_bucket{le="…"}); nil keeps every histogram's.
	Buckets func(name string) bool
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
	if m.Buckets != nil {
		for name, f := range fams {
			if f.GetType() == dto.MetricType_HISTOGRAM && !m.Buckets(name) {
				for _, mt := range f.GetMetric() {
					mt.GetHistogram().Bucket = nil
				}
			}
		}
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

// EngineBuckets are the engine histograms whose buckets the metrics probe
// keeps: the latencies whose server-side percentiles the summary rebuilds.
// Every bucket of every histogram made the quickstart's telemetry.jsonl
// seven times larger (1.4 MB for 42 s, from 0.2 MB); these three, about
// four times (0.8 MB).
func EngineBuckets(name string) bool {
	switch name {
	case "vllm:time_to_first_token_seconds", "vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds",
		"vllm:e2e_request_latency_seconds":
		return true
	}
	return false
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
// histogram's _sum, _count and buckets) passed through correct before it is
// summed (nil: as read).
//
// A page without # TYPE lines (untyped families) is read by name as a typed
// one would be: NAME_total, NAME_sum, NAME_count, NAME_bucket and DCGM's
// energy counter are counters, usage names are usage gauges. DCGM fields
// are kept per GPU (NAME{gpu="N"}) unless another label is asked for:
// summed, eight GPUs' temperatures read 222 °C.
func flattenCorrected(fams map[string]*dto.MetricFamily, prefix, label string, correct func(key string, v float64) float64) map[string]float64 {
	if correct == nil {
		correct = func(_ string, v float64) float64 { return v }
	}
	f := flattener{out: map[string]float64{}, usage: map[string]*usageAgg{}, correct: correct}
	for fname, fam := range fams {
		if prefix != "" && !strings.HasPrefix(fname, prefix) || strings.HasSuffix(fname, "_created") {
			continue
		}
		by := label
		if by == "" && strings.HasPrefix(fname, "DCGM_") {
			by = "gpu"
		}
		for _, mt := range fam.GetMetric() {
			f.series(fname, fam.GetType(), mt, by)
		}
	}
	for k, a := range f.usage {
		f.out[k] = a.max
		if a.n > 1 {
			f.out[k+":mean"] = a.sum / float64(a.n)
		}
	}
	if f.blank > 0 {
		f.out["telemetry.blank_values"] = float64(f.blank)
	}
	return f.out
}

type usageAgg struct {
	max, sum float64
	n        int
}

// flattener aggregates a page's series into values.
type flattener struct {
	out     map[string]float64
	usage   map[string]*usageAgg
	blank   int
	correct func(key string, v float64) float64
}

// labelSuffix is {by="v"} for the series' value of label by ("" without),
// with le="x" added for a bucket.
func labelSuffix(mt *dto.Metric, by, le string) string {
	var parts []string
	if by != "" {
		for _, lp := range mt.GetLabel() {
			if lp.GetName() == by {
				parts = append(parts, fmt.Sprintf("%s=%q", by, lp.GetValue()))
			}
		}
	}
	if le != "" {
		parts = append(parts, fmt.Sprintf("le=%q", le))
	}
	if len(parts) == 0 {
		return ""
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// untypedCounter says whether an untyped family counts up, by its name.
func untypedCounter(name string) bool {
	for _, suf := range []string{"_total", "_sum", "_count", "_bucket"} {
		if strings.HasSuffix(name, suf) {
			return true
		}
	}
	return name == "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"
}

// series adds one series of family fname.
func (f *flattener) series(fname string, typ dto.MetricType, mt *dto.Metric, by string) {
	key := seriesKey(fname, mt)
	lbl := labelSuffix(mt, by, "")
	var v float64
	switch typ {
	case dto.MetricType_COUNTER:
		v = f.correct(key, mt.GetCounter().GetValue())
	case dto.MetricType_GAUGE:
		v = mt.GetGauge().GetValue()
	case dto.MetricType_UNTYPED:
		v = mt.GetUntyped().GetValue()
		if strings.HasSuffix(fname, "_bucket") {
			le := labelValue(mt, "le")
			if le == "" || le == "+Inf" {
				return // NAME_count says it
			}
			f.out[fname+labelSuffix(mt, by, le)] += f.correct(key, v)
			return
		}
		if untypedCounter(fname) {
			v = f.correct(key, v)
		}
	case dto.MetricType_HISTOGRAM:
		h := mt.GetHistogram()
		f.out[fname+"_sum"+lbl] += f.correct(key+"\x00_sum", h.GetSampleSum())
		f.out[fname+"_count"+lbl] += f.correct(key+"\x00_count", float64(h.GetSampleCount()))
		for _, b := range h.GetBucket() {
			ub := b.GetUpperBound()
			if math.IsInf(ub, 1) {
				continue // _count
			}
			le := strconv.FormatFloat(ub, 'g', -1, 64)
			f.out[fname+"_bucket"+labelSuffix(mt, by, le)] += f.correct(key+"\x00le="+le, float64(b.GetCumulativeCount()))
		}
		return
	case dto.MetricType_GAUGE_HISTOGRAM:
		f.out[fname+"_sum"+lbl] += mt.GetHistogram().GetSampleSum()
		f.out[fname+"_count"+lbl] += float64(mt.GetHistogram().GetSampleCount())
		return
	case dto.MetricType_SUMMARY:
		f.out[fname+"_sum"+lbl] += f.correct(key+"\x00_sum", mt.GetSummary().GetSampleSum())
		f.out[fname+"_count"+lbl] += f.correct(key+"\x00_count", float64(mt.GetSummary().GetSampleCount()))
		return
	default:
		return
	}
	if strings.HasPrefix(fname, "DCGM_") && dcgmBlank(v) {
		f.blank++
		return
	}
	if (typ == dto.MetricType_GAUGE || typ == dto.MetricType_UNTYPED && !untypedCounter(fname)) && usageGauge(fname) {
		a := f.usage[fname+lbl]
		if a == nil {
			a = &usageAgg{max: math.Inf(-1)}
			f.usage[fname+lbl] = a
		}
		a.max, a.sum, a.n = math.Max(a.max, v), a.sum+v, a.n+1
		return
	}
	f.out[fname+lbl] += v
}

// labelValue is the series' value of label name ("" without).
func labelValue(mt *dto.Metric, name string) string {
	for _, lp := range mt.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
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
