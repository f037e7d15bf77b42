package importer

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"

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
			return int64(math.Round(x * k)), true, nil
		}
		r := record.Record{Phase: record.PhaseMeasure, Class: "imported"}
		if a.Metadata.Phase == "warmup" {
			r.Phase = record.PhaseWarmup
		}
		r.SentUS = *a.Metadata.RequestStartNS / 1000
		r.ScheduledUS = r.SentUS
		if x, _, ok := num("input_sequence_length"); ok {
			r.PromptTokens, r.RequestedInput = int(x), int(x)
		} else if x, _, ok := num("error_isl"); ok {
			r.RequestedInput = int(x)
		}
		if x, _, ok := num("output_sequence_length"); ok {
			r.OutputTokens, r.RequestedOutput = int(x), int(x)
		} else if x, _, ok := num("output_token_count"); ok {
			r.OutputTokens, r.RequestedOutput = int(x), int(x)
		}
		if a.Error != nil || a.Metadata.WasCancelled {
			r.Error = aiperfErrorClass(a)
			if a.Error != nil {
				r.Status, r.ErrorMsg = a.Error.Code, a.Error.Type+": "+a.Error.Message
			}
			r.EndUS = r.SentUS
			if a.Metadata.RequestEndNS != nil {
				r.EndUS = *a.Metadata.RequestEndNS / 1000
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
			k, known := msUnits[m.Unit]
			if !known {
				return l, fmt.Errorf("%s:%d: inter_chunk_latency in unit %q", path, line, m.Unit)
			}
			t := float64(ttft)
			for _, g := range gaps {
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
	l.Notices = append(l.Notices, "profile_export.jsonl does not say the requested load: the level is labelled with its achieved rate unless --rate or --concurrency says it")
	return l, nil
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
