package record

// Phases a request can belong to. The phase is decided by the request's
// scheduled time, not by when it finished.
const (
	PhaseWarmup  = "warmup"
	PhaseMeasure = "measure"
)

// Error classes. A failed request is data: it is recorded with one of these.
const (
	ErrConnect      = "connect"       // dial or TLS failure, connection refused or reset before a response
	ErrHTTP4xx      = "http_4xx"      // a 4xx answer other than 429
	ErrHTTP429      = "http_429"      // rate limited
	ErrHTTP5xx      = "http_5xx"      // a 5xx answer
	ErrTimeout      = "timeout"       // the request timeout passed before the stream ended
	ErrStreamBroken = "stream_broken" // the stream ended without [DONE] or the connection broke mid-stream
	ErrMalformed    = "malformed"     // a chunk that is not valid JSON, or an error object in the stream
	ErrCanceled     = "canceled"      // canceled by perfgate (end of phase, Ctrl-C)
	// ErrClient: perfgate's own machine could not send the request (out of
	// open files or local ports) — not the server's failure, and a run
	// with one is not a measurement of the server.
	ErrClient = "client"
)

// ErrorClasses lists every class in a stable order, for tables and summaries.
var ErrorClasses = []string{ErrConnect, ErrHTTP4xx, ErrHTTP429, ErrHTTP5xx, ErrTimeout, ErrStreamBroken, ErrMalformed, ErrCanceled, ErrClient}

// Record is one request, as written to requests.jsonl.
type Record struct {
	ID    int64  `json:"id"`    // unique within the run, in issue order per level
	Trial int    `json:"trial"` // 0 for a single-trial run
	Level int    `json:"level"` // in memory the 0-based index into the scenario's load levels; numbered from 1 in the file
	Phase string `json:"phase"` // warmup or measure
	Class string `json:"class"` // workload class name
	// Session and Turn place a request in a multi-turn conversation
	// (workload.sessions): the session's number in the level, the turn from 1.
	Session int `json:"session,omitempty"`
	Turn    int `json:"turn,omitempty"`

	ScheduledUS  int64   `json:"scheduled_us"`            // when the schedule said to send it
	QueueWaitUS  int64   `json:"queue_wait_us,omitempty"` // time spent waiting for a max_in_flight slot
	SentUS       int64   `json:"sent_us"`                 // when the HTTP request was written
	FirstTokenUS int64   `json:"first_token_us,omitempty"`
	EndUS        int64   `json:"end_us"`             // last content chunk, or when it failed
	DoneUS       int64   `json:"done_us,omitempty"`  // when the stream closed ([DONE] or EOF)
	ChunkUS      []int64 `json:"chunk_us,omitempty"` // each content chunk, µs after SentUS

	RequestedInput  int  `json:"requested_input_tokens"`
	RequestedOutput int  `json:"max_tokens"`
	PromptTokens    int  `json:"prompt_tokens"` // from the server's usage
	OutputTokens    int  `json:"output_tokens"` // from the server's usage
	UsageMissing    bool `json:"usage_missing,omitempty"`

	Status   int    `json:"status,omitempty"` // HTTP status, 0 when none arrived
	Error    string `json:"error,omitempty"`  // error class, empty on success
	ErrorMsg string `json:"error_msg,omitempty"`
}

// OK reports whether the request succeeded.
func (r *Record) OK() bool { return r.Error == "" }

// TTFTUS is the time to first content chunk in µs, or -1 when there was none.
func (r *Record) TTFTUS() int64 {
	if len(r.ChunkUS) == 0 {
		return -1
	}
	return r.ChunkUS[0]
}

// E2ELUS is send to last content chunk in µs, or -1 when there was none.
func (r *Record) E2ELUS() int64 {
	if len(r.ChunkUS) == 0 {
		return -1
	}
	return r.ChunkUS[len(r.ChunkUS)-1]
}

// ScheduleDelayUS is how late the client sent the request, not counting an
// intentional max_in_flight queue wait.
func (r *Record) ScheduleDelayUS() int64 {
	d := r.SentUS - r.ScheduledUS - r.QueueWaitUS
	if d < 0 {
		return 0
	}
	return d
}

// Which output token count a run's metrics use (scenario
// output_tokens_from).
const (
	OutputFromUsage  = "usage"  // the server's usage.completion_tokens (content chunks when it sent none)
	OutputFromChunks = "chunks" // the content chunks received
	OutputFromMax    = "max"    // the larger of the two
)

// CountOutput is the request's output token count by from (OutputFrom*;
// "" is usage).
func (r *Record) CountOutput(from string) int {
	switch from {
	case OutputFromChunks:
		return len(r.ChunkUS)
	case OutputFromMax:
		return max(r.OutputTokens, len(r.ChunkUS))
	}
	return r.OutputTokens
}

// UsageShort says the server's completion_tokens is smaller than the
// content chunks received: a chunk holds at least one token, so the usage
// undercounts.
func (r *Record) UsageShort() bool { return !r.UsageMissing && r.OutputTokens < len(r.ChunkUS) }
