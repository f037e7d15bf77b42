package scenario

import (
	"fmt"
	"time"

	"github.com/perfgate/perfgate/internal/metric"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/sim/profile"
)

// Scenario is one scenario file. The yaml tags are the file's key names;
// docs/scenarios.md documents each one.
type Scenario struct {
	Name           string   `yaml:"name,omitempty"`
	Description    string   `yaml:"description,omitempty"`
	Seed           uint64   `yaml:"seed,omitempty"`
	Model          string   `yaml:"model,omitempty"`
	API            string   `yaml:"api,omitempty"`
	Engine         Engine   `yaml:"engine,omitempty"`
	Workload       Workload `yaml:"workload,omitempty"`
	Load           Load     `yaml:"load,omitempty"`
	Phases         Phases   `yaml:"phases,omitempty"`
	RequestTimeout Duration `yaml:"request_timeout,omitempty"`
	Sampling       Sampling `yaml:"sampling,omitempty"`
	// MaxEventBytes is the largest stream event taken (0: 4 MiB).
	MaxEventBytes int `yaml:"max_event_bytes,omitempty"`
	// OutputTokensFrom is which output token count the metrics use:
	// usage (the server's, the default), chunks (content chunks received)
	// or max (the larger).
	OutputTokensFrom string    `yaml:"output_tokens_from,omitempty"`
	SLO              SLO       `yaml:"slo,omitempty"`
	Percentiles      []float64 `yaml:"percentiles,omitempty"`
	Telemetry        Telemetry `yaml:"telemetry,omitempty"`
	Gate             Gate      `yaml:"gate,omitempty"`

	// File is the path the scenario was loaded from ("" when built in code).
	File string `yaml:"-"`
	pos  positions
}

// API kinds.
const (
	APICompletions = "completions"
	APIChat        = "chat"
)

// NoisePresets are engine.noise's values (the simulator's sim.NoisePresets).
var NoisePresets = []string{"off", "gpu"}

// Engine kinds.
const (
	EngineSim      = "sim"
	EngineEndpoint = "endpoint"
	EngineVLLM     = "vllm"

	TrialRestart = "restart"
	TrialReset   = "reset"
)

// Engine says what is benchmarked: the embedded simulator or an HTTP endpoint.
type Engine struct {
	Kind string `yaml:"kind,omitempty"`
	// endpoint
	URL       string `yaml:"url,omitempty"`
	APIKeyEnv string `yaml:"api_key_env,omitempty"` // name of the environment variable holding the API key
	// vllm: a `vllm serve` process perfgate starts (perfgate ab, or run with vllm on PATH)
	Args          []string `yaml:"args,omitempty"`           // arguments after vllm serve MODEL
	Env           []string `yaml:"env,omitempty"`            // KEY=VALUE for the server
	VLLMBin       string   `yaml:"vllm_bin,omitempty"`       // the vllm executable (default: vllm on PATH)
	HealthTimeout Duration `yaml:"health_timeout,omitempty"` // default 20m
	TrialPolicy   string   `yaml:"trial_policy,omitempty"`   // restart (default) or reset
	// InstallCommand installs a vLLM checkout for perfgate ab (--install-command wins)
	InstallCommand string `yaml:"install_command,omitempty"`
	// sim: the names of `perfgate sim serve` (and vllm serve) flags, with underscores
	Sim SimSettings `yaml:",inline"`
}

// SimSettings configure the embedded simulator; zero values take the
// simulator's defaults (docs/simulator.md).
type SimSettings struct {
	Profile              string  `yaml:"profile,omitempty"`
	TensorParallelSize   int     `yaml:"tensor_parallel_size,omitempty"`
	MaxNumSeqs           int     `yaml:"max_num_seqs,omitempty"`
	MaxNumBatchedTokens  int     `yaml:"max_num_batched_tokens,omitempty"`
	GPUMemoryUtilization float64 `yaml:"gpu_memory_utilization,omitempty"`
	BlockSize            int     `yaml:"block_size,omitempty"`
	MaxModelLen          int     `yaml:"max_model_len,omitempty"`
	EnablePrefixCaching  *bool   `yaml:"enable_prefix_caching,omitempty"`
	NumGPUBlocksOverride int     `yaml:"num_gpu_blocks_override,omitempty"`
	TimeScale            float64 `yaml:"time_scale,omitempty"`
	// ModelTime states the scenario's rates, durations, timeouts and SLO
	// targets in model time, and reports the metrics in it: with time_scale
	// 10, rate 2 sends 20 requests per wall-clock second and a 60s phase
	// lasts 6 s, and the results read like a real GPU's (docs/simulator.md).
	ModelTime bool    `yaml:"model_time,omitempty"`
	Seed      *uint64 `yaml:"seed,omitempty"`
	// Noise is trial-to-trial noise like a GPU runner's: off (default) or
	// gpu (docs/simulator.md).
	Noise           string   `yaml:"noise,omitempty"`
	Jitter          float64  `yaml:"jitter,omitempty"`
	SlowdownDecode  float64  `yaml:"slowdown_decode,omitempty"`
	SlowdownPrefill float64  `yaml:"slowdown_prefill,omitempty"`
	StepOverheadMs  *float64 `yaml:"step_overhead_ms,omitempty"`
	// StepModel replaces the profile's step times with a linear model
	// measured on a real engine (docs/simulator.md, Against a real vLLM):
	// a step of b decoding sequences and p prefill tokens takes
	// step_overhead_ms + p · prefill_token_ms (mixed_prefill_token_ms when
	// it also decodes) + b · decode_seq_ms + the prefill's attention pairs ·
	// attn_pair_ns + the decoding sequences' context tokens ·
	// decode_ctx_token_ns (attn_pair_ns when left out), and each request
	// spends request_ms in the server first.
	StepModel           *profile.Linear `yaml:"step_model,omitempty"`
	FaultErrorRate      float64         `yaml:"fault_error_rate,omitempty"`
	FaultStallAfter     int             `yaml:"fault_stall_after,omitempty"`
	FaultDisconnectRate float64         `yaml:"fault_disconnect_rate,omitempty"`
	FaultCrashAfter     int             `yaml:"fault_crash_after,omitempty"`
}

// Workload is a weighted mix of request classes.
type Workload struct {
	Prompt  string  `yaml:"prompt,omitempty"` // text or token_ids
	Classes []Class `yaml:"classes,omitempty"`
	// MaxModelLen is the model's context (prompt + output, tokens): dataset
	// and trace requests that do not fit are skipped and counted. 0: the
	// server's max_model_len from /v1/models, when it says.
	MaxModelLen int `yaml:"max_model_len,omitempty"`
	// Sessions turn the closed loop into multi-turn conversations.
	Sessions Sessions `yaml:"sessions,omitempty"`
}

// Sessions are multi-turn conversations: each of load.concurrency workers
// runs one session at a time, turn after turn; every turn's prompt holds the
// whole conversation so far (the previous prompts, an answer of each
// previous turn's output length, and a new user message).
type Sessions struct {
	Turns      Dist     `yaml:"turns,omitempty"`       // turns per session
	ThinkTime  Duration `yaml:"think_time,omitempty"`  // pause between a turn's answer and the next turn
	UserTokens Dist     `yaml:"user_tokens,omitempty"` // each later turn's new message (default: the class's input_tokens)
}

// Enabled reports whether sessions are configured.
func (s Sessions) Enabled() bool { return s.Turns.Kind != "" }

// Dataset formats.
const (
	DatasetShareGPT = "sharegpt"
	DatasetJSONL    = "jsonl"
)

// Dataset makes a class draw its prompts from a file.
type Dataset struct {
	Format string `yaml:"format,omitempty"` // sharegpt or jsonl
	Path   string `yaml:"path,omitempty"`   // relative to the scenario file
	// Length filters, as vLLM's ShareGPT sampler has them (it uses 4, 4,
	// 1024 and 2048): entries outside are skipped and counted. 0: none.
	MinPromptTokens int `yaml:"min_prompt_tokens,omitempty"`
	MaxPromptTokens int `yaml:"max_prompt_tokens,omitempty"`
	MinOutputTokens int `yaml:"min_output_tokens,omitempty"`
	MaxTotalTokens  int `yaml:"max_total_tokens,omitempty"` // prompt + output
	// Conversations replays a ShareGPT conversation's later turns as a
	// session's turns (workload.sessions): the recorded answers and user
	// messages, at most sessions.turns of them.
	Conversations bool `yaml:"conversations,omitempty"`
}

// Trace formats.
const (
	TraceMooncake = "mooncake"
	TraceAzure    = "azure"
	TraceCSV      = "csv"
	TraceBurstGPT = "burstgpt"
)

// Trace replays arrivals and lengths from a file (load.arrival: trace).
type Trace struct {
	Format      string   `yaml:"format,omitempty"`       // mooncake, azure, burstgpt or csv
	Path        string   `yaml:"path,omitempty"`         // relative to the scenario file
	Start       Duration `yaml:"start,omitempty"`        // the window's start, in trace time
	Length      Duration `yaml:"length,omitempty"`       // the window's length, in trace time (0: to the end)
	BlockTokens int      `yaml:"block_tokens,omitempty"` // tokens per hash_ids block (default 512)
}

// Prompt kinds.
const (
	PromptText     = "text"
	PromptTokenIDs = "token_ids"
)

// Class is one kind of request in the mix.
type Class struct {
	Name         string  `yaml:"name,omitempty"`
	Weight       float64 `yaml:"weight,omitempty"`
	InputTokens  Dist    `yaml:"input_tokens,omitempty"`
	OutputTokens Dist    `yaml:"output_tokens,omitempty"`
	SharedPrefix Prefix  `yaml:"shared_prefix,omitempty"`
	Dataset      Dataset `yaml:"dataset,omitempty"`
	// LoRA names the adapter the class's requests ask for: their "model"
	// is this name, as a vLLM started with --enable-lora --lora-modules
	// NAME=PATH serves it. Empty: the base model.
	LoRA string `yaml:"lora,omitempty"`
}

// Prefix makes requests of a class start with one of Distinct shared prefixes
// of Tokens tokens (counted inside the input length).
type Prefix struct {
	Tokens   int `yaml:"tokens,omitempty"`
	Distinct int `yaml:"distinct,omitempty"`
}

// Distribution kinds.
const (
	DistFixed     = "fixed"
	DistUniform   = "uniform"
	DistNormal    = "normal"
	DistLognormal = "lognormal"
	DistHistogram = "histogram"
)

// Dist is a token-length distribution. A plain number in the file means fixed.
type Dist struct {
	Kind   string  `yaml:"dist,omitempty"`
	Value  float64 `yaml:"value,omitempty"`  // fixed
	Min    float64 `yaml:"min,omitempty"`    // uniform; clip for normal and lognormal
	Max    float64 `yaml:"max,omitempty"`    // uniform; clip for normal and lognormal
	Mean   float64 `yaml:"mean,omitempty"`   // normal, lognormal (arithmetic mean)
	Stddev float64 `yaml:"stddev,omitempty"` // normal
	Sigma  float64 `yaml:"sigma,omitempty"`  // lognormal: standard deviation of ln(x)
	Bins   []Bin   `yaml:"bins,omitempty"`   // histogram
}

// Bin is one bar of an empirical histogram: lengths uniform in [Min, Max].
type Bin struct {
	Min    float64 `yaml:"min,omitempty"`
	Max    float64 `yaml:"max,omitempty"`
	Weight float64 `yaml:"weight,omitempty"`
}

// Load modes and arrival processes.
const (
	ModeOpen        = "open"
	ModeClosed      = "closed"
	ArrivalPoisson  = "poisson"
	ArrivalGamma    = "gamma"
	ArrivalConstant = "constant"
	ArrivalTrace    = "trace" // replay load.trace
)

// Load is how requests arrive: open loop at a rate, or closed loop at a
// concurrency; Levels sweeps either.
type Load struct {
	Mode        string    `yaml:"mode,omitempty"`
	Rate        float64   `yaml:"rate,omitempty"`
	Concurrency int       `yaml:"concurrency,omitempty"`
	Levels      []float64 `yaml:"levels,omitempty"`
	Arrival     string    `yaml:"arrival,omitempty"`
	Burstiness  float64   `yaml:"burstiness,omitempty"`
	MaxInFlight int       `yaml:"max_in_flight,omitempty"`
	// Trace is the file that arrival: trace replays; rate and levels are
	// then speed-ups (2: twice as fast as recorded).
	Trace Trace `yaml:"trace,omitempty"`
}

// Phases are run at every load level: warm-up (excluded from metrics), then
// measurement.
type Phases struct {
	Warmup       Phase    `yaml:"warmup,omitempty"`
	Measure      Phase    `yaml:"measure,omitempty"`
	OnEnd        string   `yaml:"on_end,omitempty"`
	DrainTimeout Duration `yaml:"drain_timeout,omitempty"`
	// BetweenLevels is what happens to the engine's prefix cache before each
	// level after the first: reset (every level starts cold; the default
	// for the engines perfgate starts) or keep (the default for endpoints).
	BetweenLevels string `yaml:"between_levels,omitempty"`
}

// What happens to the prefix cache between levels.
const (
	BetweenReset = "reset"
	BetweenKeep  = "keep"
)

// What happens to requests in flight when a level's measurement ends.
const (
	OnEndDrain  = "drain"
	OnEndCancel = "cancel"
)

// Phase lasts a duration or a number of requests (whichever is set; when both
// are, whichever ends first).
type Phase struct {
	Duration Duration `yaml:"duration,omitempty"`
	Requests int      `yaml:"requests,omitempty"`
}

// Gate says which metrics decide a comparison and how much worse is too much.
type Gate struct {
	Alpha     float64 `yaml:"alpha,omitempty"`      // false-discovery rate over all tests; default 0.05
	MinTrials int     `yaml:"min_trials,omitempty"` // trials per side a fail needs, and the first look of a sequential ab; default 3
	MaxTrials int     `yaml:"max_trials,omitempty"` // the last look of a sequential ab, per side; default 10
	// OutlierReruns is how many outlier trials per side a sequential ab
	// re-runs (a trial whose metrics all sit far from its side's others);
	// default 3, 0 turns it off.
	OutlierReruns *int         `yaml:"outlier_reruns,omitempty"`
	Levels        []int        `yaml:"levels,omitempty"`  // level numbers (1-based) that gate; default all
	Metrics       []GateMetric `yaml:"metrics,omitempty"` // default: DefaultGateMetrics
	// NoisePct is the per-trial noise an A/A on this runner showed (the
	// noise column of its comparison, in %): perfgate ab's plan estimates
	// from it the trials an A/B will take. Optional.
	NoisePct float64 `yaml:"noise_pct,omitempty"`
}

// GateMetric is one gating metric: a summary key and its thresholds, in
// percent worse than the baseline (percentage points for error_rate).
type GateMetric struct {
	Name    string  `yaml:"name,omitempty"`
	WarnPct float64 `yaml:"warn_pct,omitempty"`
	FailPct float64 `yaml:"fail_pct,omitempty"`
}

// DefaultOutlierReruns is gate.outlier_reruns' default.
const DefaultOutlierReruns = 3

// DefaultGateMetrics gate when the scenario names none: the metric
// catalogue's defaults.
var DefaultGateMetrics = func() []GateMetric {
	var out []GateMetric
	for _, d := range metric.Defaults {
		out = append(out, GateMetric{Name: d.Name, WarnPct: d.WarnPct, FailPct: d.FailPct})
	}
	return out
}()

// Telemetry configures what is sampled beside the requests.
type Telemetry struct {
	Interval   Duration `yaml:"interval,omitempty"`    // default 250ms
	GPUs       []int    `yaml:"gpus,omitempty"`        // NVML indices; default CUDA_VISIBLE_DEVICES, else all
	MetricsURL string   `yaml:"metrics_url,omitempty"` // default: the engine's /metrics
	Disable    []string `yaml:"disable,omitempty"`     // probes to leave out: gpu, host, metrics
	// Probes are more sources, sampled on the same clock: any Prometheus
	// endpoint (a DCGM exporter, node exporter, a router), a command whose
	// output is "name value" lines, or a registered kind.
	Probes []ProbeSpec `yaml:"probes,omitempty"`
}

// Probe kinds built in.
const (
	ProbePrometheus = "prometheus"
	ProbeCommand    = "command"
)

// ProbeSpec configures one extra telemetry probe.
type ProbeSpec struct {
	Name    string            `yaml:"name,omitempty"`     // its name in telemetry.jsonl and the report
	Kind    string            `yaml:"kind,omitempty"`     // prometheus, command, or a registered kind
	URL     string            `yaml:"url,omitempty"`      // prometheus: the /metrics address
	Include []string          `yaml:"include,omitempty"`  // prometheus: regular expressions of metric names to keep (default: all)
	ByLabel string            `yaml:"by_label,omitempty"` // prometheus: keep one series per value of this label (e.g. gpu) instead of summing
	Command []string          `yaml:"command,omitempty"`  // command: the program and its arguments (no shell)
	Timeout Duration          `yaml:"timeout,omitempty"`  // command: how long one run may take (default: 4 intervals)
	Options map[string]string `yaml:"options,omitempty"`  // a registered kind's settings
}

// Probe names, for telemetry.disable.
var TelemetryProbes = []string{"gpu", "host", "metrics"}

// SLO targets for goodput, in milliseconds (0: no target).
type SLO struct {
	TTFTMs float64 `yaml:"ttft_ms,omitempty"`
	TPOTMs float64 `yaml:"tpot_ms,omitempty"`
	E2ELMs float64 `yaml:"e2el_ms,omitempty"`
}

// Any reports whether at least one target is set.
func (s SLO) Any() bool { return s.TTFTMs > 0 || s.TPOTMs > 0 || s.E2ELMs > 0 }

// Duration is a time.Duration written as "30s", "2m", "500ms" or a number of seconds.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalYAML writes the duration the way it is read.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// LevelSpec is one load level, resolved.
type LevelSpec struct {
	Index       int
	Mode        string
	Rate        float64 // open loop (a trace: the speed-up)
	Concurrency int     // closed loop
	Trace       bool    // Rate replays a trace this much faster
}

func (l LevelSpec) String() string {
	if l.Trace {
		return fmt.Sprintf("trace ×%g", l.Rate)
	}
	if l.Mode == ModeClosed {
		return fmt.Sprintf("concurrency %d", l.Concurrency)
	}
	return fmt.Sprintf("%g req/s", l.Rate)
}

// ModelTimeScale is how many model seconds one wall-clock second holds when
// the scenario is stated in model time (engine.model_time), else 1.
func (s *Scenario) ModelTimeScale() float64 {
	if s.Engine.Kind == EngineSim && s.Engine.Sim.ModelTime && s.Engine.Sim.TimeScale > 0 {
		return s.Engine.Sim.TimeScale
	}
	return 1
}

// WallClock is the scenario with its model-time rates, durations and
// timeouts turned into wall-clock ones, for the runner (a copy; the
// scenario itself when it is not stated in model time).
func (s *Scenario) WallClock() *Scenario {
	k := s.ModelTimeScale()
	if k == 1 {
		return s
	}
	w := *s
	d := func(x Duration) Duration { return Duration(float64(x) / k) }
	w.Load.Rate *= k
	w.Load.Levels = append([]float64(nil), s.Load.Levels...)
	if w.Load.Mode != ModeClosed {
		for i := range w.Load.Levels {
			w.Load.Levels[i] *= k
		}
	}
	w.Phases.Warmup.Duration = d(s.Phases.Warmup.Duration)
	w.Phases.Measure.Duration = d(s.Phases.Measure.Duration)
	w.Phases.DrainTimeout = d(s.Phases.DrainTimeout)
	w.RequestTimeout = d(s.RequestTimeout)
	w.Workload.Sessions.ThinkTime = d(s.Workload.Sessions.ThinkTime)
	return &w
}

// SetLoad fills in the load a level asked for (its mode; an open loop's
// arrival and rate, a closed loop's concurrency) from the scenario.
func (s *Scenario) SetLoad(l *record.Level) {
	specs := s.LevelSpecs()
	if l.Level < 0 || l.Level >= len(specs) {
		return
	}
	sp := specs[l.Level]
	l.Mode = sp.Mode
	if sp.Mode == ModeOpen {
		l.Arrival, l.RequestedRate = s.Load.Arrival, sp.Rate
	} else {
		l.RequestedConcurrency = sp.Concurrency
	}
}

// LevelSpecs returns the load levels in the order they run.
func (s *Scenario) LevelSpecs() []LevelSpec {
	vals := s.Load.Levels
	if len(vals) == 0 {
		if s.Load.Mode == ModeClosed {
			vals = []float64{float64(s.Load.Concurrency)}
		} else {
			vals = []float64{s.Load.Rate}
		}
	}
	out := make([]LevelSpec, len(vals))
	for i, v := range vals {
		out[i] = LevelSpec{Index: i, Mode: s.Load.Mode, Trace: s.Load.Arrival == ArrivalTrace}
		if s.Load.Mode == ModeClosed {
			out[i].Concurrency = int(v)
		} else {
			out[i].Rate = v
		}
	}
	return out
}
