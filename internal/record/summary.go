package record

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"time"
)

// SchemaVersion of result.json and meta.json. Bump on an incompatible change.
// 2: levels are numbered from 1 in every file (requests.jsonl, result.json),
// as on the screen and in gate.levels; the results file is result.json
// (summary.json before); a level's
// failed, duration and max_concurrent_requests mean what vLLM's do, errors
// and errors_by_class hold what failed and failed_by_class held. Readers
// recompute a level from requests.jsonl, so older folders read the same.
const SchemaVersion = 2

// Run statuses in result.json.
const (
	StatusCompleted   = "completed"   // every level ran to its end, every request succeeded
	StatusDegraded    = "degraded"    // every level ran to its end, but some requests failed
	StatusInterrupted = "interrupted" // stopped by a signal; levels hold what was measured
	StatusEngineDied  = "engine_died" // the engine process died mid-run; levels hold what was measured
	StatusFailed      = "failed"      // perfgate failed (e.g. the disk filled); levels hold what was measured
)

// Meta is meta.json: what ran, where, and the wall-clock anchor of the run's
// monotonic clock.
type Meta struct {
	SchemaVersion   int               `json:"schema_version"`
	PerfgateVersion string            `json:"perfgate_version"`
	PerfgateCommit  string            `json:"perfgate_commit,omitempty"` // VCS revision of the build, when known
	GoVersion       string            `json:"go_version"`
	OS              string            `json:"os"`
	Arch            string            `json:"arch"`
	Hostname        string            `json:"hostname"`
	NumCPU          int               `json:"num_cpu"`
	CommandLine     []string          `json:"command_line"`
	Scenario        string            `json:"scenario"`
	ScenarioFile    string            `json:"scenario_file"`
	Label           string            `json:"label,omitempty"`
	Trial           int               `json:"trial,omitempty"` // 1… within a --trials folder; 0 for a single run
	Seed            uint64            `json:"seed"`
	StartWall       time.Time         `json:"start_wall"` // wall-clock time of offset 0 on the run clock
	Engine          Engine            `json:"engine"`
	Tokenizer       Tokenizer         `json:"tokenizer"`
	Host            HostEnv           `json:"host"`
	GPU             *GPUEnv           `json:"gpu,omitempty"`      // absent without NVML
	Notices         []string          `json:"notices,omitempty"`  // e.g. why a probe is missing
	Git             map[string]string `json:"git,omitempty"`      // side, ref and SHA of a vLLM checkout (perfgate ab)
	Versions        map[string]string `json:"versions,omitempty"` // vllm, torch, cuda of its environment
	Tags            map[string]string `json:"tags,omitempty"`     // the user's --tag key=value
	Inputs          []InputFile       `json:"inputs,omitempty"`   // the datasets and trace the workload read
}

// InputFile is a file the workload read: what it was for, and its content's
// hash, so that runs of different data are never compared.
type InputFile struct {
	Role    string `json:"role"` // "class chat" or "trace"
	Path    string `json:"path"`
	SHA256  string `json:"sha256"`
	Entries int    `json:"entries"` // usable entries
	Skipped int    `json:"skipped"`
}

// Engine describes what was benchmarked.
type Engine struct {
	Kind    string `json:"kind"` // sim or endpoint
	URL     string `json:"url"`
	Model   string `json:"model"`
	Version string `json:"version,omitempty"` // from GET /version when the server has it
	API     string `json:"api"`
	// StartSeconds is how long the engine took to start and answer
	// (perfgate ab: in the trial that started it; 0 when it was started
	// before this trial or by someone else).
	StartSeconds float64 `json:"start_seconds,omitempty"`
}

// Tokenizer records how prompt lengths were produced.
type Tokenizer struct {
	Prompt        string  `json:"prompt"`                    // text or token_ids
	Calibrated    bool    `json:"calibrated"`                // true when /tokenize was used
	TokensPerWord float64 `json:"tokens_per_word,omitempty"` // measured with /tokenize, or the assumed value
}

// Summary is result.json, written last and atomically.
type Summary struct {
	SchemaVersion int    `json:"schema_version"`
	Scenario      string `json:"scenario"`
	Label         string `json:"label,omitempty"`
	Status        string `json:"status"`
	Interrupted   bool   `json:"interrupted"`
	Error         string `json:"error,omitempty"`
	// ClientErrors counts requests perfgate's own machine could not send
	// (class client): a run with any is failed, not the server's numbers.
	ClientErrors int       `json:"client_errors,omitempty"`
	Started      time.Time `json:"started"`
	Finished     time.Time `json:"finished"`
	Percentiles  []float64 `json:"percentiles"`
	// ModelTime, above 1, says the levels are in model time: a simulator
	// run time_scale times faster than real time (engine.model_time).
	ModelTime float64 `json:"model_time,omitempty"`
	// OutputTokensFrom is the scenario's output_tokens_from ("": usage).
	OutputTokensFrom string  `json:"output_tokens_from,omitempty"`
	SLO              SLO     `json:"slo"`
	Records          int     `json:"records"`
	Levels           []Level `json:"levels"`
}

// SLO targets in milliseconds; 0 means not set.
type SLO struct {
	TTFTMs float64 `json:"ttft_ms,omitempty"`
	TPOTMs float64 `json:"tpot_ms,omitempty"`
	E2ELMs float64 `json:"e2el_ms,omitempty"`
}

// Level holds the measured metrics of one load level. Keys follow the result
// JSON of `vllm bench serve` where one exists; Latency holds the flattened
// mean_/median_/std_/pNN_ keys of ttft, tpot, itl and e2el in milliseconds.
type Level struct {
	Level                int     `json:"level"`
	Mode                 string  `json:"mode"` // open or closed
	Arrival              string  `json:"arrival,omitempty"`
	RequestedRate        float64 `json:"requested_rate,omitempty"`        // open loop: requests/s asked for (a trace level: the speed-up, written as trace_speedup)
	RequestedConcurrency int     `json:"requested_concurrency,omitempty"` // closed loop
	AchievedRate         float64 `json:"achieved_rate"`                   // measured requests sent / send window
	// OfferedRate is a trace level's rate as replayed: its measured
	// requests over the span of their scheduled send times (the trace's
	// own window divided by the speed-up). Only trace levels write it.
	OfferedRate float64 `json:"offered_rate,omitempty"`
	// MaxConcurrent and MaxOutputPerS are vLLM's: the most completed
	// requests in flight at one instant (send to last content chunk, ends
	// before starts), and the most content chunks received in one second
	// (1-s buckets from the first completed request's send).
	MaxConcurrent int     `json:"max_concurrent_requests"`
	MaxOutputPerS float64 `json:"max_output_tokens_per_s"`
	Duration      float64 `json:"duration"` // s, measure start to the last end of a measured request (vLLM: benchmark start to the last completion)
	// DurationFrom names where an imported level's duration comes from when
	// it is the source file's own (its throughputs are then the file's);
	// "" for perfgate's own measurement.
	DurationFrom string `json:"duration_from,omitempty"`
	// Aggregate says the level was imported from statistics alone: no
	// send times, so no achieved rate and no schedule delay (their 0s are
	// not measurements).
	Aggregate bool `json:"aggregate,omitempty"`

	NumRequests     int            `json:"num_requests"` // measured requests issued
	Completed       int            `json:"completed"`
	Failed          int            `json:"failed"` // vLLM's: every measured request that did not complete (errors + canceled)
	Errors          int            `json:"errors"` // all error classes but canceled
	ErrorsByClass   map[string]int `json:"errors_by_class"`
	Canceled        int            `json:"canceled"`
	UsageMissing    int            `json:"usage_missing"`
	UsageShort      int            `json:"usage_short"` // completion_tokens smaller than the content chunks received
	TotalInput      int            `json:"total_input_tokens"`
	TotalOutput     int            `json:"total_output_tokens"`
	RequestThrough  float64        `json:"request_throughput"`
	RequestGoodput  *float64       `json:"request_goodput"` // null without SLOs
	OutputThrough   float64        `json:"output_throughput"`
	TotalThrough    float64        `json:"total_token_throughput"`
	ErrorRate       float64        `json:"error_rate"` // errors / issued
	MeanSchedDelay  float64        `json:"mean_schedule_delay_ms"`
	P99SchedDelay   float64        `json:"p99_schedule_delay_ms"`
	MaxSchedDelay   float64        `json:"max_schedule_delay_ms"`
	MeanQueueWaitMs float64        `json:"mean_queue_wait_ms"`
	MeasureStartUS  int64          `json:"measure_start_us"` // the measurement window on the run clock
	MeasureEndUS    int64          `json:"measure_end_us"`
	LastEndUS       int64          `json:"last_end_us,omitempty"` // the last end of a measured request, on the run clock
	StartUS         int64          `json:"start_us,omitempty"`    // when the level (its warm-up) began

	Telemetry *PhaseTelemetry `json:"telemetry,omitempty"`
	Warnings  []string        `json:"warnings,omitempty"`

	// ByTurn is multi-turn conversations' latency per turn index.
	ByTurn []TurnStats `json:"by_turn,omitempty"`

	// Latency holds mean_, median_, std_ and pNN_ keys of ttft, tpot, itl
	// and e2el, plus mean_ and p99_e2el_incl_queue_ms, in milliseconds. A
	// metric with no samples is NaN here and null in JSON.
	Latency map[string]float64 `json:"-"`
}

// TurnStats are the completed requests of one turn index (1: the first
// turn of every session) in a level.
type TurnStats struct {
	Turn         int     `json:"turn"`
	Completed    int     `json:"completed"`
	MeanInput    float64 `json:"mean_input_tokens"` // from the server's usage
	MedianTTFTMs float64 `json:"median_ttft_ms"`
	P99TTFTMs    float64 `json:"p99_ttft_ms"`
	MedianE2ELMs float64 `json:"median_e2el_ms"`
}

type levelAlias Level

// SetDuration sets the level's duration to d seconds, taken from where
// from names (an imported file's own), and its throughputs and goodput
// with it.
func (l *Level) SetDuration(d float64, from string) {
	if !(d > 0) || l.Duration <= 0 {
		return
	}
	k := l.Duration / d
	l.RequestThrough *= k
	l.OutputThrough *= k
	l.TotalThrough *= k
	if l.RequestGoodput != nil {
		g := *l.RequestGoodput * k
		l.RequestGoodput = &g
	}
	l.Duration, l.DurationFrom = d, from
}

// MarshalJSON writes the fixed fields and the flattened latency keys in one object.
// The level is 1-based in the file, its 0-based index in memory.
func (l Level) MarshalJSON() ([]byte, error) {
	a := levelAlias(l)
	a.Level++
	b, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if l.Arrival != "trace" {
		delete(m, "offered_rate") // an open loop's requested rate says it; a closed loop has none
	}
	if l.Arrival == "trace" && l.RequestedRate != 0 { // scenario.ArrivalTrace (record sits below scenario)
		// A trace level's "rate" is how much faster than recorded it was
		// replayed: not vLLM's requested_rate, so not under its name.
		m["trace_speedup"] = m["requested_rate"]
		delete(m, "requested_rate")
	}
	for k, v := range l.Latency {
		vb, err := json.Marshal(Float(v))
		if err != nil {
			return nil, err
		}
		m[k] = vb
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads the fixed fields and puts every other numeric key ending
// in _ms into Latency.
// levelFields are the JSON names of Level's own fields, from their tags:
// every other key of a level is a latency. (Names taken from marshalling a
// zero Level missed the omitempty ones, and requested_rate or start_us
// landed among the latencies.)
func levelFields() map[string]bool {
	known := map[string]bool{}
	t := reflect.TypeFor[levelAlias]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			known[name] = true
		}
	}
	return known
}

func (l *Level) UnmarshalJSON(b []byte) error {
	var a levelAlias
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	known := levelFields()
	a.Latency = map[string]float64{}
	for k, v := range m {
		if k == "trace_speedup" {
			json.Unmarshal(v, &a.RequestedRate)
			continue
		}
		if known[k] {
			continue
		}
		var f *float64
		if json.Unmarshal(v, &f) == nil {
			if f == nil {
				a.Latency[k] = math.NaN()
			} else {
				a.Latency[k] = *f
			}
		}
	}
	a.Level-- // 1-based in the file (a schema-1 file's 0-based levels are put right by its reader)
	*l = Level(a)
	return nil
}
