package importer

import (
	"bufio"
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

	"github.com/perfgate/perfgate/internal/numfmt"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/scenario"
)

// aiperfRecord is one line of AIPerf's profile_export.jsonl (its
// MetricRecordInfo): the request's metadata, its metrics (each a value and
// a unit), and an error for a failed one.
type aiperfRecord struct {
	Metadata struct {
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
		if a.Metadata.RequestStartNS == nil {
			return l, fmt.Errorf("%s:%d: no metadata.request_start_ns", path, line)
		}
		num := func(name string) (float64, string, bool) {
			m, ok := a.Metrics[name]
			if !ok {
				return 0, "", false
			}
			var x float64
			if json.Unmarshal(m.Value, &x) != nil {
				return 0, "", false
			}
			return x, m.Unit, true
		}
		dur := func(name string) (int64, bool, error) {
			x, unit, ok := num(name)
			if !ok {
				return 0, false, nil
			}
			k, known := msUnits[unit]
			if !known {
				return 0, false, fmt.Errorf("%s:%d: %s in unit %q (expected ns, us, ms or s)", path, line, name, unit)
			}
			if m := checkSeconds(name, x*k/1e6); m != "" {
				return 0, false, fmt.Errorf("%s:%d: %s", path, line, m)
			}
			return int64(math.Round(x * k)), true, nil
		}
		length := func(names ...string) (int, bool, error) {
			for _, name := range names {
				if x, _, ok := num(name); ok {
					if m := checkLength(name, x); m != "" {
						return 0, false, fmt.Errorf("%s:%d: %s", path, line, m)
					}
					return int(x), true, nil
				}
			}
			return 0, false, nil
		}
		r := record.Record{Phase: record.PhaseMeasure, Class: "imported"}
		if a.Metadata.Phase == "warmup" {
			r.Phase = record.PhaseWarmup
		}
		r.SentUS = *a.Metadata.RequestStartNS / 1000
		if *a.Metadata.RequestStartNS < 0 {
			return l, fmt.Errorf("%s:%d: metadata.request_start_ns is %d: a send time must be ≥ 0 (nanoseconds since the Unix epoch)", path, line, *a.Metadata.RequestStartNS)
		}
		r.ScheduledUS = r.SentUS
		if x, ok, err := length("input_sequence_length"); err != nil {
			return l, err
		} else if ok {
			r.PromptTokens, r.RequestedInput = x, x
		} else if x, _, err := length("error_isl"); err != nil {
			return l, err
		} else {
			r.RequestedInput = x
		}
		if x, ok, err := length("output_sequence_length", "output_token_count"); err != nil {
			return l, err
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
			l.Records = append(l.Records, r)
			continue
		}
		ttft, ok, err := dur("time_to_first_token")
		if err != nil {
			return l, err
		}
		lat, okLat, err := dur("request_latency")
		if err != nil {
			return l, err
		}
		if !okLat {
			return l, fmt.Errorf("%s:%d: a successful request without request_latency", path, line)
		}
		if !ok {
			ttft = lat // not streamed: the whole answer came at once
		}
		r.ChunkUS = []int64{ttft}
		if m, has := a.Metrics["inter_chunk_latency"]; has {
			var gaps []float64
			if err := json.Unmarshal(m.Value, &gaps); err != nil {
				return l, fmt.Errorf("%s:%d: inter_chunk_latency is not a list of numbers: %w", path, line, err)
			}
			if len(gaps) > maxTokens {
				return l, fmt.Errorf("%s:%d: inter_chunk_latency has %d entries: more than any model's context (%d)", path, line, len(gaps), maxTokens)
			}
			k, known := msUnits[m.Unit]
			if !known {
				return l, fmt.Errorf("%s:%d: inter_chunk_latency in unit %q", path, line, m.Unit)
			}
			t := float64(ttft)
			r.ChunkUS = slices.Grow(r.ChunkUS, len(gaps))
			for _, g := range gaps {
				if m := checkSeconds("an inter_chunk_latency", g*k/1e6); m != "" {
					return l, fmt.Errorf("%s:%d: %s", path, line, m)
				}
				t += g * k
				r.ChunkUS = append(r.ChunkUS, int64(math.Round(t)))
			}
		} else if r.OutputTokens > 1 && lat > ttft {
			// Without chunk times the tokens after the first are spread
			// evenly to the end: TPOT stays exact, ITL is each request's mean.
			noGaps++
			for j := 1; j < r.OutputTokens; j++ {
				r.ChunkUS = append(r.ChunkUS, ttft+(lat-ttft)*int64(j)/int64(r.OutputTokens-1))
			}
		}
		r.FirstTokenUS = r.SentUS + ttft
		r.EndUS = r.SentUS + r.ChunkUS[len(r.ChunkUS)-1]
		r.DoneUS = r.SentUS + lat
		r.Status = 200
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
	InputConfig struct {
		Endpoint struct {
			ModelNames []string `json:"model_names"`
			Type       string   `json:"type"`
		} `json:"endpoint"`
		Loadgen struct {
			Concurrency *int     `json:"concurrency"`
			RequestRate *float64 `json:"request_rate"`
		} `json:"loadgen"`
	} `json:"input_config"`
	TTFT    *aiperfStats `json:"time_to_first_token"`
	Latency *aiperfStats `json:"request_latency"`
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
	}
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
	lg := a.InputConfig.Loadgen
	switch {
	case lg.RequestRate != nil && *lg.RequestRate > 0:
		l.Mode, l.Rate = scenario.ModeOpen, *lg.RequestRate
		l.Notices = append(l.Notices, fmt.Sprintf("the requested load is %s's: %g requests/s", AIPerfAggregateFile, *lg.RequestRate))
	case lg.Concurrency != nil && *lg.Concurrency > 0:
		l.Mode, l.Concurrency = scenario.ModeClosed, *lg.Concurrency
		l.Notices = append(l.Notices, fmt.Sprintf("the requested load is %s's: concurrency %d", AIPerfAggregateFile, *lg.Concurrency))
	default:
		l.Notices = append(l.Notices, AIPerfAggregateFile+"'s input_config.loadgen names neither request_rate nor concurrency: the level is labelled with its achieved rate unless --rate or --concurrency says it")
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
