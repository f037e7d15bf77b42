package importer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/perfgate/perfgate/internal/numfmt"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/scenario"
)

// vllmResult is what perfgate reads of a `vllm bench serve --save-result
// --save-detailed` file: the per-request arrays (seconds), the load, and
// the summary numbers to check against.
type vllmResult struct {
	Date           string          `json:"date"`
	Backend        string          `json:"backend"`
	EndpointType   string          `json:"endpoint_type"`
	ModelID        string          `json:"model_id"`
	RequestRate    json.RawMessage `json:"request_rate"` // a number or "inf"
	MaxConcurrency *int            `json:"max_concurrency"`
	InputLens      []int           `json:"input_lens"`
	OutputLens     []int           `json:"output_lens"`
	TTFTs          []float64       `json:"ttfts"`
	ITLs           [][]float64     `json:"itls"`
	Latencies      []float64       `json:"latencies"`
	StartTimes     []float64       `json:"start_times"`
	QueueTimes     []float64       `json:"queue_times"` // send time − scheduled time (the client's semaphore)
	Errors         []string        `json:"errors"`
	// vLLM's own summary, checked against perfgate's recomputation.
	Duration          *float64 `json:"duration"`
	RequestThroughput *float64 `json:"request_throughput"`
	OutputThroughput  *float64 `json:"output_throughput"`
	RequestGoodput    *float64 `json:"request_goodput"`
	NumPrompts        *int     `json:"num_prompts"`
	TotalInputTokens  *float64 `json:"total_input_tokens"`
	MaxConcurrent     *float64 `json:"max_concurrent_requests"`
	MaxOutputPerS     *float64 `json:"max_output_tokens_per_s"`
	Completed         *float64 `json:"completed"`
	Failed            *float64 `json:"failed"`
	TotalOutputTokens *float64 `json:"total_output_tokens"`
	MeanTTFTMS        *float64 `json:"mean_ttft_ms"`
	MedianTTFTMS      *float64 `json:"median_ttft_ms"`
	MeanTPOTMS        *float64 `json:"mean_tpot_ms"`
	MedianTPOTMS      *float64 `json:"median_tpot_ms"`
	MeanITLMS         *float64 `json:"mean_itl_ms"`
	MedianITLMS       *float64 `json:"median_itl_ms"`

	keys map[string]any // every key, for the statistics an aggregate-only file states
}

// reported is the summary the file states, by vLLM's names.
func (v *vllmResult) reported() map[string]float64 {
	out := map[string]float64{}
	for k, x := range map[string]*float64{"completed": v.Completed, "failed": v.Failed, "total_output_tokens": v.TotalOutputTokens,
		"mean_ttft_ms": v.MeanTTFTMS, "median_ttft_ms": v.MedianTTFTMS, "mean_tpot_ms": v.MeanTPOTMS, "median_tpot_ms": v.MedianTPOTMS,
		"mean_itl_ms": v.MeanITLMS, "median_itl_ms": v.MedianITLMS,
		"request_throughput": v.RequestThroughput, "output_throughput": v.OutputThroughput, "request_goodput": v.RequestGoodput} {
		if x != nil {
			out[k] = *x
		}
	}
	return out
}

// readVLLM reads a result file: one JSON object, or several on lines of
// their own (--append-result), each a level. The file is decoded as it is
// read, one result at a time.
func readVLLM(path string) ([]Level, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Level
	dec := json.NewDecoder(newPyJSON(f)) // vLLM writes Python's NaN and Infinity
	for n := 1; ; n++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("%s: result %d: not a vllm bench serve result: %w", path, n, err)
		}
		var v vllmResult
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("%s: result %d: not a vllm bench serve result: %w", path, n, err)
		}
		if len(v.TTFTs) == 0 { // statistics alone: its keys name them (a detailed file's arrays are not decoded twice)
			if err := json.Unmarshal(raw, &v.keys); err != nil {
				return nil, fmt.Errorf("%s: result %d: not a vllm bench serve result: %w", path, n, err)
			}
		}
		src := path
		if n > 1 || dec.More() {
			src = fmt.Sprintf("%s (result %d)", path, n)
		}
		l, err := vllmLevel(src, &v)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no result in the file", path)
	}
	return out, nil
}

func vllmLevel(src string, v *vllmResult) (Level, error) {
	n := len(v.TTFTs)
	switch {
	case n == 0 && v.Completed != nil:
		return vllmAggregate(src, v) // --save-result without --save-detailed
	case n == 0:
		return Level{}, fmt.Errorf("%s: neither per-request data (ttfts) nor vLLM's summary (completed): not a vllm bench serve --save-result file", src)
	case len(v.StartTimes) != n:
		return Level{}, fmt.Errorf("%s: start_times has %d entries for %d requests: perfgate import needs each request's send time, which vllm bench serve --save-detailed writes since it records start_times", src, len(v.StartTimes), n)
	case len(v.ITLs) != n || len(v.InputLens) != n || len(v.OutputLens) != n || len(v.Errors) != n:
		return Level{}, fmt.Errorf("%s: the per-request arrays disagree in length (ttfts %d, itls %d, input_lens %d, output_lens %d, errors %d)",
			src, n, len(v.ITLs), len(v.InputLens), len(v.OutputLens), len(v.Errors))
	case len(v.QueueTimes) != 0 && len(v.QueueTimes) != n:
		return Level{}, fmt.Errorf("%s: queue_times has %d entries for %d requests", src, len(v.QueueTimes), n)
	}
	if err := checkVLLM(v); err != "" {
		return Level{}, fmt.Errorf("%s: %s", src, err)
	}
	l := vllmHeader(src, v)
	vllmLoad(&l, v, n)
	// the level's clock starts at its first scheduled send: a request's
	// scheduled time is its send less its wait for vLLM's concurrency
	// semaphore (queue_times)
	queue := func(i int) float64 {
		if l.Mode == scenario.ModeOpen && i < len(v.QueueTimes) { // a closed loop's requests wait for a slot by design
			return v.QueueTimes[i]
		}
		return 0
	}
	t0 := math.Inf(1)
	for i, s := range v.StartTimes {
		t0 = math.Min(t0, s-queue(i))
	}
	us := func(s float64) int64 { return int64(math.Round(s * 1e6)) }
	for i := range n {
		r := record.Record{Phase: record.PhaseMeasure, Class: "imported",
			RequestedInput: v.InputLens[i], RequestedOutput: v.OutputLens[i], PromptTokens: v.InputLens[i], OutputTokens: v.OutputLens[i]}
		r.SentUS = us(v.StartTimes[i] - t0)
		r.ScheduledUS = us(v.StartTimes[i] - queue(i) - t0)
		r.QueueWaitUS = r.SentUS - r.ScheduledUS
		if e := v.Errors[i]; e != "" {
			r.Error, r.ErrorMsg = vllmErrorClass(e), numfmt.Clip(strings.Join(strings.Fields(e), " "), maxErrorText)
			r.EndUS = r.SentUS
			if i < len(v.Latencies) {
				r.EndUS += us(v.Latencies[i])
			}
			l.Records = append(l.Records, r)
			continue
		}
		// vLLM's chunk times: the first at ttft, each later one an itl
		// after the one before.
		t := v.TTFTs[i]
		r.ChunkUS = append(r.ChunkUS, us(t))
		for _, g := range v.ITLs[i] {
			t += g
			r.ChunkUS = append(r.ChunkUS, us(t))
		}
		r.FirstTokenUS = r.SentUS + r.ChunkUS[0]
		r.EndUS = r.SentUS + r.ChunkUS[len(r.ChunkUS)-1]
		if i < len(v.Latencies) {
			r.DoneUS = r.SentUS + us(v.Latencies[i])
		}
		r.Status = 200
		l.Records = append(l.Records, r)
	}
	return l, nil
}

// vllmHeader is a level with what a result says of itself: the model, the
// API, when it ran, its own duration and summary.
func vllmHeader(src string, v *vllmResult) Level {
	l := Level{Source: src, Model: v.ModelID, API: scenario.APICompletions, Reported: v.reported(), Tool: "vllm bench serve"}
	if strings.Contains(v.Backend+v.EndpointType, "chat") {
		l.API = scenario.APIChat
	}
	if t, err := time.Parse("20060102-150405", v.Date); err == nil {
		l.Start = t.UTC()
	}
	if v.Duration != nil && *v.Duration > 0 && *v.Duration <= maxSeconds {
		l.Duration = *v.Duration
	}
	return l
}

// vllmLoad sets the level's load from request_rate and max_concurrency;
// n is the number of requests.
func vllmLoad(l *Level, v *vllmResult, n int) {
	var rate float64
	if err := json.Unmarshal(v.RequestRate, &rate); err != nil {
		rate = math.Inf(1) // "inf"
	}
	switch {
	case v.MaxConcurrency != nil && *v.MaxConcurrency > 0 && math.IsInf(rate, 1):
		l.Mode, l.Concurrency = scenario.ModeClosed, *v.MaxConcurrency // --request-rate inf --max-concurrency N
	case math.IsInf(rate, 1):
		l.Mode, l.Concurrency = scenario.ModeClosed, n // everything at once
		l.Notices = append(l.Notices, "request_rate inf without max_concurrency: every request was sent at once; the level is a closed loop of concurrency num_prompts")
	default:
		l.Mode, l.Rate = scenario.ModeOpen, rate
		if v.MaxConcurrency != nil {
			l.Notices = append(l.Notices, fmt.Sprintf("max_concurrency %d capped the open loop", *v.MaxConcurrency))
		}
	}
}

// checkVLLM says what in a result's per-request arrays no benchmark could
// have measured ("" when nothing): a negative or non-finite time, a length
// or a count of chunk times beyond any model's context, a send time that
// would overflow the run clock.
func checkVLLM(v *vllmResult) string {
	for i := range v.TTFTs {
		req := fmt.Sprintf("request %d: ", i+1)
		if x := v.StartTimes[i]; math.IsNaN(x) || math.Abs(x) > maxEpoch {
			return req + fmt.Sprintf("start_times is %g: a send time must be seconds since the Unix epoch", x)
		}
		if i < len(v.Latencies) {
			if m := checkSeconds("latencies", v.Latencies[i]); m != "" {
				return req + m
			}
		}
		if i < len(v.QueueTimes) {
			if m := checkSeconds("queue_times", v.QueueTimes[i]); m != "" {
				return req + m
			}
		}
		if v.Errors[i] != "" {
			continue // a failed request's other times are not used
		}
		if m := checkSeconds("ttfts", v.TTFTs[i]); m != "" {
			return req + m
		}
		if len(v.ITLs[i]) > maxTokens {
			return req + fmt.Sprintf("itls has %d entries: more than any model's context (%d)", len(v.ITLs[i]), maxTokens)
		}
		for _, g := range v.ITLs[i] {
			if m := checkSeconds("an itl", g); m != "" {
				return req + m
			}
		}
		if m := checkLength("input_lens", float64(v.InputLens[i])); m != "" {
			return req + m
		}
		if m := checkLength("output_lens", float64(v.OutputLens[i])); m != "" {
			return req + m
		}
	}
	return ""
}

// vllmErrorClass maps vLLM's error text (an exception's message, or the
// server's reason) to perfgate's error classes.
func vllmErrorClass(e string) string {
	low := strings.ToLower(e)
	switch {
	case strings.Contains(low, "429") || strings.Contains(low, "too many requests"):
		return record.ErrHTTP429
	case strings.Contains(low, "timeout") || strings.Contains(low, "timed out"):
		return record.ErrTimeout
	case strings.Contains(low, "connect") || strings.Contains(low, "connection"):
		return record.ErrConnect
	}
	for _, c := range []string{"400", "401", "403", "404", "413", "422", "bad request", "not found"} {
		if strings.Contains(low, c) {
			return record.ErrHTTP4xx
		}
	}
	return record.ErrHTTP5xx
}
