package importer

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/perfgate/perfgate/internal/numfmt"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/scenario"
)

// aiperfRecord is one line of AIPerf's profile_export.jsonl (its
// MetricRecordInfo): the request's metadata, its metrics (each a value and
// a unit), and an error for a failed one.
type aiperfRecord struct {
	Metadata struct {
		CreditIssuedNS *int64 `json:"credit_issued_ns"` // when AIPerf's timing issued the request: its scheduled time
		RequestStartNS *int64 `json:"request_start_ns"`
		RequestEndNS   *int64 `json:"request_end_ns"`
		Phase          string `json:"benchmark_phase"`
		WasCancelled   bool   `json:"was_cancelled"`
		TurnIndex      int    `json:"turn_index"`
	} `json:"metadata"`
	Metrics map[string]struct {
		Value json.RawMessage `json:"value"`
		Unit  string          `json:"unit"`
	} `json:"metrics"`
	Error *struct {
		Code    int    `json:"code"`
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// msUnits converts AIPerf's time units to microseconds.
var msUnits = map[string]float64{"ns": 1e-3, "us": 1, "ms": 1e3, "s": 1e6, "sec": 1e6}

// readAIPerf reads a profile_export.jsonl: every request of one AIPerf
// profile, its warm-up included.
func readAIPerf(path string) (Level, error) {
	f, err := os.Open(path)
	if err != nil {
		return Level{}, err
	}
	defer f.Close()
	l := Level{Source: path, API: scenario.APIChat, Mode: scenario.ModeOpen}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var noGaps int
	for line := 1; sc.Scan(); line++ {
		b := strings.TrimSpace(sc.Text())
		if b == "" {
			continue
		}
		var a aiperfRecord
		if err := json.Unmarshal([]byte(b), &a); err != nil {
			return l, fmt.Errorf("%s:%d: not an AIPerf profile_export.jsonl record: %w", path, line, err)
		}
		r, spread, err := aiperfMetrics{a, fmt.Sprintf("%s:%d", path, line)}.record()
		if err != nil {
			return l, err
		}
		if spread {
			noGaps++
		}
		l.Records = append(l.Records, r)
	}
	if err := sc.Err(); err != nil {
		return l, fmt.Errorf("%s: %w", path, err)
	}
	if len(l.Records) == 0 {
		return l, fmt.Errorf("%s: no records", path)
	}
	if noGaps > 0 {
		l.Notices = append(l.Notices, fmt.Sprintf("%d request(s) without inter_chunk_latency: their tokens after the first are spread evenly, so ITL percentiles describe per-request means", noGaps))
	}
	agg := filepath.Join(filepath.Dir(path), AIPerfAggregateFile)
	switch err := readAIPerfAggregate(agg, &l); {
	case errors.Is(err, fs.ErrNotExist):
		l.Notices = append(l.Notices, "no "+AIPerfAggregateFile+" beside it to say the requested load: the level is labelled with its achieved rate unless --rate or --concurrency says it")
	case err != nil:
		l.Notices = append(l.Notices, fmt.Sprintf("%s could not be read (%v): the level is labelled with its achieved rate unless --rate or --concurrency says it", agg, err))
	}
	return l, nil
}

// aiperfMetrics reads one profile_export.jsonl record; at is its file:line
// for errors.
type aiperfMetrics struct {
	a  aiperfRecord
	at string
}

func (m aiperfMetrics) num(name string) (float64, string, bool) {
	v, ok := m.a.Metrics[name]
	if !ok {
		return 0, "", false
	}
	var x float64
	if json.Unmarshal(v.Value, &x) != nil {
		return 0, "", false
	}
	return x, v.Unit, true
}

// dur is a duration metric in microseconds, checked to be a time.
func (m aiperfMetrics) dur(name string) (int64, bool, error) {
	x, unit, ok := m.num(name)
	if !ok {
		return 0, false, nil
	}
	k, known := msUnits[unit]
	if !known {
		return 0, false, fmt.Errorf("%s: %s in unit %q (expected ns, us, ms or s)", m.at, name, unit)
	}
	if msg := checkSeconds(name, x*k/1e6); msg != "" {
		return 0, false, fmt.Errorf("%s: %s", m.at, msg)
	}
	return int64(math.Round(x * k)), true, nil
}

// length is the first of names the record has, checked to be a length.
func (m aiperfMetrics) length(names ...string) (int, bool, error) {
	for _, name := range names {
		if x, _, ok := m.num(name); ok {
			if msg := checkLength(name, x); msg != "" {
				return 0, false, fmt.Errorf("%s: %s", m.at, msg)
			}
			return int(x), true, nil
		}
	}
	return 0, false, nil
}

// record is the record as perfgate writes it; spread says its tokens after
// the first were spread evenly (no inter_chunk_latency).
func (m aiperfMetrics) record() (r record.Record, spread bool, err error) {
	a := m.a
	if a.Metadata.RequestStartNS == nil {
		return r, false, fmt.Errorf("%s: no metadata.request_start_ns", m.at)
	}
	if *a.Metadata.RequestStartNS < 0 {
		return r, false, fmt.Errorf("%s: metadata.request_start_ns is %d: a send time must be ≥ 0 (nanoseconds since the Unix epoch)", m.at, *a.Metadata.RequestStartNS)
	}
	r = record.Record{Phase: record.PhaseMeasure, Class: "imported"}
	if a.Metadata.Phase == "warmup" {
		r.Phase = record.PhaseWarmup
	}
	r.SentUS = *a.Metadata.RequestStartNS / 1000
	r.ScheduledUS = r.SentUS
	if c := a.Metadata.CreditIssuedNS; c != nil && *c >= 0 && *c <= *a.Metadata.RequestStartNS {
		r.ScheduledUS = *c / 1000
	}
	if x, ok, err := m.length("input_sequence_length"); err != nil {
		return r, false, err
	} else if ok {
		r.PromptTokens, r.RequestedInput = x, x
	} else if x, _, err := m.length("error_isl"); err != nil {
		return r, false, err
	} else {
		r.RequestedInput = x
	}
	if x, ok, err := m.length("output_sequence_length", "output_token_count"); err != nil {
		return r, false, err
	} else if ok {
		r.OutputTokens, r.RequestedOutput = x, x
	}
	if a.Error != nil || a.Metadata.WasCancelled {
		r.Error = aiperfErrorClass(a)
		if a.Error != nil {
			r.Status, r.ErrorMsg = a.Error.Code, numfmt.Clip(strings.Join(strings.Fields(a.Error.Type+": "+a.Error.Message), " "), maxErrorText)
		}
		r.EndUS = r.SentUS
		if e := a.Metadata.RequestEndNS; e != nil && *e/1000 >= r.SentUS {
			r.EndUS = *e / 1000
		}
		return r, false, nil
	}
	ttft, ok, err := m.dur("time_to_first_token")
	if err != nil {
		return r, false, err
	}
	lat, okLat, err := m.dur("request_latency")
	if err != nil {
		return r, false, err
	}
	if !okLat {
		return r, false, fmt.Errorf("%s: a successful request without request_latency", m.at)
	}
	if !ok {
		ttft = lat // not streamed: the whole answer came at once
	}
	if r.ChunkUS, spread, err = m.chunks(ttft, lat, r.OutputTokens); err != nil {
		return r, false, err
	}
	r.FirstTokenUS = r.SentUS + ttft
	r.EndUS = r.SentUS + r.ChunkUS[len(r.ChunkUS)-1]
	r.DoneUS = r.SentUS + lat
	r.Status = 200
	return r, spread, nil
}

// chunks are the chunks' times from the send: the first token's, then
// inter_chunk_latency's gaps; without them, the tokens after the first
// spread evenly to the end (TPOT stays exact, ITL is each request's mean).
func (m aiperfMetrics) chunks(ttft, lat int64, outputTokens int) (chunks []int64, spread bool, err error) {
	chunks = []int64{ttft}
	v, has := m.a.Metrics["inter_chunk_latency"]
	if !has {
		if outputTokens <= 1 || lat <= ttft {
			return chunks, false, nil
		}
		for j := 1; j < outputTokens; j++ {
			chunks = append(chunks, ttft+(lat-ttft)*int64(j)/int64(outputTokens-1))
		}
		return chunks, true, nil
	}
	var gaps []float64
	if err := json.Unmarshal(v.Value, &gaps); err != nil {
		return nil, false, fmt.Errorf("%s: inter_chunk_latency is not a list of numbers: %w", m.at, err)
	}
	if len(gaps) > maxTokens {
		return nil, false, fmt.Errorf("%s: inter_chunk_latency has %d entries: more than any model's context (%d)", m.at, len(gaps), maxTokens)
	}
	k, known := msUnits[v.Unit]
	if !known {
		return nil, false, fmt.Errorf("%s: inter_chunk_latency in unit %q", m.at, v.Unit)
	}
	t := float64(ttft)
	chunks = slices.Grow(chunks, len(gaps))
	for _, g := range gaps {
		if msg := checkSeconds("an inter_chunk_latency", g*k/1e6); msg != "" {
			return nil, false, fmt.Errorf("%s: %s", m.at, msg)
		}
		t += g * k
		chunks = append(chunks, int64(math.Round(t)))
	}
	return chunks, false, nil
}

// maxAggregateBytes is the largest aggregate file read.
const maxAggregateBytes = 16 << 20

// AIPerfAggregateFile is what AIPerf writes beside profile_export.jsonl:
// its aggregate statistics and the configuration it ran with.
const AIPerfAggregateFile = "profile_export_aiperf.json"

// aiperfAggregate is the part of profile_export_aiperf.json an import
// uses: the load AIPerf was asked for, the model and API, and its own
// latency statistics, which the recomputed ones are checked against.
// (AIPerf says input_config is not a stable format: every field is optional.)
type aiperfAggregate struct {
	Version     string `json:"aiperf_version"`
	InputConfig struct {
		Endpoint struct {
			ModelNames []string `json:"model_names"` // before AIPerf 0.13
			Type       string   `json:"type"`
		} `json:"endpoint"`
		Models struct { // AIPerf 0.13
			Items []struct {
				Name string `json:"name"`
			} `json:"items"`
		} `json:"models"`
		Loadgen    aiperfLoad   `json:"loadgen"` // before AIPerf 0.13
		CLICommand string       `json:"cli_command"`
		Phases     []aiperfLoad `json:"phases"` // AIPerf 0.13: the profiling phase's
	} `json:"input_config"`
	RunInfo struct {
		CLICommand string `json:"cli_command"`
	} `json:"run_info"`
	// AIPerf's throughputs divide by the profiling phase's wall time, from
	// start_time to end_time (local time, no zone), not by
	// benchmark_duration (first send to last response).
	StartTime  string       `json:"start_time"`
	EndTime    string       `json:"end_time"`
	TTFT       *aiperfStats `json:"time_to_first_token"`
	Latency    *aiperfStats `json:"request_latency"`
	Duration   *aiperfStats `json:"benchmark_duration"`
	Throughput *aiperfStats `json:"request_throughput"`
	OutputTput *aiperfStats `json:"output_token_throughput"`
}

// aiperfLoad is the load AIPerf was asked for: a rate or a concurrency.
type aiperfLoad struct {
	Kind        string   `json:"kind"`
	Concurrency *int     `json:"concurrency"`
	RequestRate *float64 `json:"request_rate"`
	Rate        *float64 `json:"rate"`
}

// duration is the seconds AIPerf's throughputs divide by: start_time to
// end_time, else benchmark_duration; 0 when the file says neither.
func (a *aiperfAggregate) duration() float64 {
	const layout = "2006-01-02T15:04:05.999999999"
	s, err1 := time.Parse(layout, a.StartTime)
	e, err2 := time.Parse(layout, a.EndTime)
	if d := e.Sub(s).Seconds(); err1 == nil && err2 == nil && d > 0 && d <= maxSeconds {
		return d
	}
	if d := a.Duration; d != nil && d.Avg != nil && (d.Unit == "sec" || d.Unit == "s") && *d.Avg > 0 && *d.Avg <= maxSeconds {
		return *d.Avg
	}
	return 0
}

// load is the profiling load: the profiling phase's, else loadgen's.
func (a *aiperfAggregate) load() aiperfLoad {
	for _, p := range a.InputConfig.Phases {
		if p.Kind == "profiling" {
			if p.RequestRate == nil {
				p.RequestRate = p.Rate
			}
			return p
		}
	}
	return a.InputConfig.Loadgen
}

type aiperfStats struct {
	Unit string   `json:"unit"`
	Avg  *float64 `json:"avg"`
	P50  *float64 `json:"p50"`
	P99  *float64 `json:"p99"`
}

// readAIPerfAggregate fills the level's requested load (a request rate
// makes it an open-loop level, a concurrency alone a closed-loop one),
// model and API from the aggregate file, and its reported latencies for
// the cross-check.
func readAIPerfAggregate(path string, l *Level) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	// The aggregate is a few kilobytes; more is not AIPerf's.
	b, err := io.ReadAll(io.LimitReader(f, maxAggregateBytes+1))
	if err != nil {
		return err
	}
	if len(b) > maxAggregateBytes {
		return fmt.Errorf("over %d MiB: not AIPerf's aggregate JSON", maxAggregateBytes>>20)
	}
	var a aiperfAggregate
	if err := json.Unmarshal(b, &a); err != nil {
		return fmt.Errorf("not AIPerf's aggregate JSON: %w", err)
	}
	if names := a.InputConfig.Endpoint.ModelNames; len(names) > 0 {
		l.Model = names[0]
	} else if items := a.InputConfig.Models.Items; len(items) > 0 {
		l.Model = items[0].Name
	}
	l.Tool, l.Version, l.Command = "aiperf", a.Version, cmp.Or(a.RunInfo.CLICommand, a.InputConfig.CLICommand)
	l.Duration = a.duration()
	if a.InputConfig.Endpoint.Type == "completions" {
		l.API = scenario.APICompletions
	}
	l.Reported = map[string]float64{}
	for _, m := range []struct {
		name string
		s    *aiperfStats
	}{{"ttft", a.TTFT}, {"e2el", a.Latency}} {
		if m.s == nil {
			continue
		}
		k, known := msUnits[m.s.Unit]
		if !known {
			return fmt.Errorf("%s in unit %q (expected ns, us, ms or s)", m.name, m.s.Unit)
		}
		for stat, v := range map[string]*float64{"mean": m.s.Avg, "median": m.s.P50, "p99": m.s.P99} {
			if v != nil {
				l.Reported[stat+"_"+m.name+"_ms"] = *v * k / 1000
			}
		}
	}
	for k, st := range map[string]*aiperfStats{"request_throughput": a.Throughput, "output_throughput": a.OutputTput} {
		if st != nil && st.Avg != nil && strings.HasSuffix(st.Unit, "/sec") {
			l.Reported[k] = *st.Avg
		}
	}
	lg := a.load()
	switch {
	case lg.RequestRate != nil && *lg.RequestRate > 0:
		l.Mode, l.Rate = scenario.ModeOpen, *lg.RequestRate
		l.Notices = append(l.Notices, fmt.Sprintf("the requested load is %s's: %g requests/s", AIPerfAggregateFile, *lg.RequestRate))
	case lg.Concurrency != nil && *lg.Concurrency > 0:
		l.Mode, l.Concurrency = scenario.ModeClosed, *lg.Concurrency
		l.Notices = append(l.Notices, fmt.Sprintf("the requested load is %s's: concurrency %d", AIPerfAggregateFile, *lg.Concurrency))
	default:
		l.Notices = append(l.Notices, AIPerfAggregateFile+"'s input_config names neither a request rate nor a concurrency: the level is labelled with its achieved rate unless --rate or --concurrency says it")
	}
	return nil
}

func aiperfErrorClass(a aiperfRecord) string {
	if a.Metadata.WasCancelled || a.Error != nil && a.Error.Code == 499 {
		return record.ErrCanceled
	}
	c := a.Error.Code
	t := strings.ToLower(a.Error.Type + " " + a.Error.Message)
	switch {
	case c == 429:
		return record.ErrHTTP429
	case c >= 400 && c < 500:
		return record.ErrHTTP4xx
	case c >= 500 && c < 600:
		return record.ErrHTTP5xx
	case strings.Contains(t, "timeout"):
		return record.ErrTimeout
	case strings.Contains(t, "connect"):
		return record.ErrConnect
	}
	return record.ErrStreamBroken
}
