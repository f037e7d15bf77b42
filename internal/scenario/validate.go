package scenario

import (
	"fmt"
	"math"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/perfgate/perfgate/internal/metric"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/sim/profile"
)

// Bounds of numeric keys: beyond them a run would not fit in memory, would
// hang, or would overflow what perfgate counts with (docs/scenarios.md).
const (
	MaxTokens      = 1 << 20     // one request's input or output length: above any model's context
	MaxRate        = 100_000     // requests/s of an open loop
	MaxConcurrency = 65_536      // requests in flight of a closed loop (a goroutine and a connection each)
	MaxInFlight    = 1_000_000   // load.max_in_flight
	MaxLevels      = 1_000       // load levels
	MaxRequests    = 100_000_000 // requests of one phase
	MaxDuration    = 7 * 24 * time.Hour
	MaxTurns       = 1_000 // turns of one session
	MaxPrefixes    = 1_000_000
	MaxNameBytes   = 128   // the scenario's name: it is part of folder and file names
	MaxClasses     = 1_000 // request classes of the workload
	// MaxInFlightBytes bounds what the requests in flight hold at once:
	// their prompts, and one timestamp per output token (8 bytes a token,
	// counted generously).
	MaxInFlightBytes = 8 << 30
)

type checker struct {
	s        *Scenario
	problems []Problem
}

// at reports a problem at the value of path, or at the nearest enclosing key
// that the file has.
func (c *checker) at(path string, format string, args ...any) {
	p := c.s.where(path)
	c.problems = append(c.problems, Problem{Line: p.line, Col: p.col, Msg: fmt.Sprintf("%s: ", path) + fmt.Sprintf(format, args...), path: path})
}

func (s *Scenario) where(path string) pos {
	for {
		if p, ok := s.pos[path]; ok {
			return p
		}
		i := lastSep(path)
		if i < 0 {
			return s.pos[""]
		}
		path = path[:i]
	}
}

func lastSep(p string) int {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '.' || p[i] == '[' {
			return i
		}
	}
	return -1
}

func (s *Scenario) set(path string) bool { _, ok := s.pos[path]; return ok }

var envNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (s *Scenario) validate() []Problem {
	c := &checker{s: s}
	if s.Name == "" {
		c.at("name", "is required: a short name for the scenario, used in run folder names")
	} else if len(s.Name) > MaxNameBytes {
		c.at("name", "must be at most %d bytes: it names run folders and history files (a file name holds 255), got %d", MaxNameBytes, len(s.Name))
	}
	switch s.API {
	case "", APICompletions, APIChat:
	default:
		c.at("api", "must be %q or %q, got %q", APICompletions, APIChat, s.API)
	}
	c.engine()
	c.workload()
	c.load()
	c.phases()
	c.probes()
	c.sampling()
	if s.set("request_timeout") && s.RequestTimeout <= 0 {
		c.at("request_timeout", "must be longer than 0s")
	}
	if s.set("max_event_bytes") && (s.MaxEventBytes < 1<<10 || s.MaxEventBytes > 256<<20) {
		c.at("max_event_bytes", "must be from 1024 to %d (256 MiB): the largest stream event perfgate holds, got %d", 256<<20, s.MaxEventBytes)
	}
	switch s.OutputTokensFrom {
	case "", record.OutputFromUsage, record.OutputFromChunks, record.OutputFromMax:
	default:
		c.at("output_tokens_from", "must be %q (the server's usage), %q (content chunks received) or %q (the larger), got %q",
			record.OutputFromUsage, record.OutputFromChunks, record.OutputFromMax, s.OutputTokensFrom)
	}
	for _, k := range []struct {
		path string
		v    float64
	}{{"slo.ttft_ms", s.SLO.TTFTMs}, {"slo.tpot_ms", s.SLO.TPOTMs}, {"slo.e2el_ms", s.SLO.E2ELMs}} {
		if k.v < 0 {
			c.at(k.path, "must be ≥ 0 (0 means no target), got %g", k.v)
		}
	}
	if s.set("percentiles") && len(s.Percentiles) == 0 {
		c.at("percentiles", "must list at least one percentile, such as [50, 99]")
	}
	c.inFlightMemory()
	c.telemetry()
	c.gate()
	for i, p := range s.Percentiles {
		if p <= 0 || p >= 100 {
			c.at(fmt.Sprintf("percentiles[%d]", i), "must be between 0 and 100 (exclusive), got %g", p)
		}
	}
	return c.problems
}

func (c *checker) engine() {
	e := c.s.Engine
	switch e.Kind {
	case "", EngineSim:
		if e.URL != "" {
			c.at("engine.url", "is for kind: endpoint; the simulator picks its own address")
		}
		c.sim(e.Sim)
	case EngineEndpoint:
		if e.URL == "" {
			c.at("engine", "kind: endpoint needs url: the server's base address, such as http://127.0.0.1:8000")
		} else if u, err := url.Parse(e.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			c.at("engine.url", "must be an http:// or https:// address with a host, got %q", e.URL)
		} else if u.User != nil {
			c.at("engine.url", "must not carry credentials; name an environment variable in api_key_env instead")
		} else if k := secretParam(u); k != "" {
			c.at("engine.url", "must not carry credentials (its query has %s=…): they would be printed and written into the run folder; put the key in an environment variable and name it in api_key_env", k)
		}
		for _, k := range simKeys() {
			if c.s.set("engine." + k) {
				c.at("engine."+k, "is a simulator setting; it has no effect with kind: endpoint")
			}
		}
	case EngineVLLM:
		if c.s.Model == "" {
			c.at("engine", "kind: vllm needs model: (what vllm serve loads)")
		}
		if e.URL != "" {
			c.at("engine.url", "is for kind: endpoint; perfgate picks the port of a vllm it starts")
		}
		for _, k := range simKeys() {
			if c.s.set("engine." + k) {
				c.at("engine."+k, "is a simulator setting; with kind: vllm put vLLM's flags in args")
			}
		}
		for i, kv := range e.Env {
			if k, _, ok := strings.Cut(kv, "="); !ok || !envNameRe.MatchString(k) {
				c.at(fmt.Sprintf("engine.env[%d]", i), "must be KEY=VALUE, got %q", kv)
			}
		}
		if c.s.set("engine.health_timeout") && e.HealthTimeout <= 0 {
			c.at("engine.health_timeout", "must be longer than 0s")
		}
	default:
		c.at("engine.kind", "must be %q (the embedded simulator), %q (an HTTP server) or %q (vllm serve started by perfgate), got %q", EngineSim, EngineEndpoint, EngineVLLM, e.Kind)
	}
	switch e.TrialPolicy {
	case "", TrialRestart, TrialReset:
	default:
		c.at("engine.trial_policy", "must be %q (a fresh engine per trial) or %q (keep it and reset its prefix cache), got %q", TrialRestart, TrialReset, e.TrialPolicy)
	}
	if e.Kind != EngineVLLM {
		for _, k := range []string{"args", "env", "vllm_bin", "health_timeout", "install_command"} {
			if c.s.set("engine." + k) {
				c.at("engine."+k, "is for kind: vllm")
			}
		}
	}
	if e.APIKeyEnv != "" && !envNameRe.MatchString(e.APIKeyEnv) {
		c.at("engine.api_key_env", "must be the name of an environment variable (the key itself never goes in the file), got %q", e.APIKeyEnv)
	}
}

// simKeys are the keys of SimSettings.
func simKeys() []string {
	var keys []string
	t := reflect.TypeOf(SimSettings{})
	for i := 0; i < t.NumField(); i++ {
		k, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		keys = append(keys, k)
	}
	return keys
}

func (c *checker) sim(m SimSettings) {
	set := func(k string) bool { return c.s.set("engine." + k) }
	if m.Noise != "" && !slices.Contains(NoisePresets, m.Noise) {
		c.at("engine.noise", "must be off or gpu (noise like a GPU runner's from trial to trial), got %q", m.Noise)
	}
	if m.Profile != "" {
		if _, err := profile.Lookup(m.Profile, 0); err != nil {
			c.at("engine.profile", "%v", err)
		}
	}
	atLeast := func(k string, v, lo int) {
		if set(k) && v < lo {
			c.at("engine."+k, "must be ≥ %d, got %d", lo, v)
		}
	}
	atLeast("tensor_parallel_size", m.TensorParallelSize, 1)
	atLeast("max_num_seqs", m.MaxNumSeqs, 1)
	atLeast("max_num_batched_tokens", m.MaxNumBatchedTokens, 1)
	atLeast("block_size", m.BlockSize, 1)
	atLeast("max_model_len", m.MaxModelLen, 1)
	atLeast("num_gpu_blocks_override", m.NumGPUBlocksOverride, 1)
	atLeast("fault_stall_after", m.FaultStallAfter, 0)
	atLeast("fault_crash_after", m.FaultCrashAfter, 0)
	if m.BlockSize > 1024 {
		c.at("engine.block_size", "must be at most 1024, got %d", m.BlockSize)
	}
	in := func(k string, v, lo, hi float64, openLo bool, what string) {
		if !set(k) {
			return
		}
		if v > hi || v < lo || (openLo && v == lo) {
			c.at("engine."+k, "must be %s, got %g", what, v)
		}
	}
	in("gpu_memory_utilization", m.GPUMemoryUtilization, 0, 1, true, "in (0, 1]")
	in("time_scale", m.TimeScale, 0, profile.MaxTimeScale, true, fmt.Sprintf("> 0 and at most %d (10 runs ten times faster than real time)", profile.MaxTimeScale))
	if m.ModelTime && !set("time_scale") {
		c.at("engine.model_time", "states the scenario in model time: it needs time_scale (how much faster than real time the simulator runs)")
	}
	in("jitter", m.Jitter, 0, 1, false, "between 0 and 1 (a relative standard deviation)")
	slow := fmt.Sprintf("> 0 and at most %d (1 is no slowdown, 1.05 is 5 %% slower)", profile.MaxSlowdown)
	in("slowdown_decode", m.SlowdownDecode, 0, profile.MaxSlowdown, true, slow)
	in("slowdown_prefill", m.SlowdownPrefill, 0, profile.MaxSlowdown, true, slow)
	in("fault_error_rate", m.FaultErrorRate, 0, 1, false, "between 0 and 1")
	in("fault_disconnect_rate", m.FaultDisconnectRate, 0, 1, false, "between 0 and 1")
	if m.StepOverheadMs != nil && *m.StepOverheadMs < 0 {
		c.at("engine.step_overhead_ms", "must be ≥ 0, got %g", *m.StepOverheadMs)
	}
	if sm := m.StepModel; sm != nil {
		for _, f := range []struct {
			k string
			v float64
		}{{"prefill_token_ms", sm.PrefillTokenMs}, {"decode_seq_ms", sm.DecodeSeqMs}, {"attn_pair_ns", sm.AttnPairNs}, {"request_ms", sm.RequestMs}, {"mixed_prefill_token_ms", sm.MixedPrefillTokenMs}, {"decode_ctx_token_ns", sm.DecodeCtxTokenNs}} {
			if f.v < 0 || math.IsNaN(f.v) || math.IsInf(f.v, 0) {
				c.at("engine.step_model."+f.k, "must be a number ≥ 0, got %g", f.v)
			}
		}
		if sm.PrefillTokenMs == 0 && sm.DecodeSeqMs == 0 && sm.AttnPairNs == 0 {
			c.at("engine.step_model", "prices no work: give prefill_token_ms, decode_seq_ms or attn_pair_ns (a fit's figures, docs/simulator.md)")
		}
	}
}

func (c *checker) workload() {
	w := c.s.Workload
	switch w.Prompt {
	case "", PromptText:
	case PromptTokenIDs:
		if c.s.API == APIChat {
			c.at("workload.prompt", "token_ids prompts need api: completions (chat messages are text)")
		}
	default:
		c.at("workload.prompt", "must be %q or %q, got %q", PromptText, PromptTokenIDs, w.Prompt)
	}
	trace := c.s.Load.Arrival == ArrivalTrace
	switch {
	case trace && len(w.Classes) > 0:
		c.at("workload.classes", "arrival: trace takes every request's lengths from the trace; leave classes out")
	case !trace && len(w.Classes) == 0:
		c.at("workload.classes", "needs at least one request class with input_tokens and output_tokens")
	case len(w.Classes) > MaxClasses:
		c.at("workload.classes", "must be at most %d classes, got %d", MaxClasses, len(w.Classes))
		return
	}
	if w.MaxModelLen < 0 {
		c.at("workload.max_model_len", "must be ≥ 0 tokens (0: ask the server), got %d", w.MaxModelLen)
	}
	if c.s.set("workload.sessions") {
		sp := "workload.sessions"
		if !c.s.set(sp + ".turns") {
			c.at(sp, "needs turns: the number of turns per session (a number or a distribution)")
		} else {
			c.dist(sp+".turns", w.Sessions.Turns)
			if hi := w.Sessions.Turns.upper(); hi > MaxTurns {
				c.at(sp+".turns", "must be ≤ %d turns per session, got up to %g", MaxTurns, hi)
			}
		}
		if w.Sessions.ThinkTime < 0 {
			c.at(sp+".think_time", "must be ≥ 0s, got %s", w.Sessions.ThinkTime.D())
		}
		if c.s.set(sp + ".user_tokens") {
			c.dist(sp+".user_tokens", w.Sessions.UserTokens)
		}
		if c.s.set("load.rate") || c.s.Load.Mode == ModeOpen || !(c.s.set("load.concurrency") || c.s.set("load.levels")) {
			c.at(sp, "sessions run in a closed loop: set load.concurrency (the number of concurrent sessions)")
		}
	}
	names := map[string]int{}
	for i, cl := range w.Classes {
		p := fmt.Sprintf("workload.classes[%d]", i)
		if cl.Name != "" {
			if j, dup := names[cl.Name]; dup {
				c.at(p+".name", "%q is already the name of class %d", cl.Name, j)
			}
			names[cl.Name] = i
		}
		if c.s.set(p+".weight") && cl.Weight <= 0 {
			c.at(p+".weight", "must be > 0, got %g", cl.Weight)
		}
		if c.s.set(p+".lora") && !loraName.MatchString(cl.LoRA) {
			c.at(p+".lora", "must be the adapter's name as the server serves it (--lora-modules NAME=PATH): 1 to 256 letters, digits and . _ / : -, got %q", cl.LoRA)
		}
		if c.s.set(p + ".dataset") {
			c.dataset(p, cl)
			continue
		}
		if !c.s.set(p + ".input_tokens") {
			c.at(p, "needs input_tokens (a number, or a distribution such as {dist: uniform, min: 100, max: 200}), or a dataset")
		} else {
			c.dist(p+".input_tokens", cl.InputTokens)
		}
		if !c.s.set(p + ".output_tokens") {
			c.at(p, "needs output_tokens (a number, or a distribution)")
		} else {
			c.dist(p+".output_tokens", cl.OutputTokens)
		}
		sp := cl.SharedPrefix
		if c.s.set(p + ".shared_prefix") {
			if sp.Tokens < 1 {
				c.at(p+".shared_prefix.tokens", "must be ≥ 1, got %d", sp.Tokens)
			}
			if sp.Distinct < 1 || sp.Distinct > MaxPrefixes {
				c.at(p+".shared_prefix.distinct", "must be from 1 to %d (how many different prefixes), got %d", MaxPrefixes, sp.Distinct)
			}
			if sp.Tokens > MaxTokens {
				c.at(p+".shared_prefix.tokens", "must be ≤ %d tokens, got %d", MaxTokens, sp.Tokens)
			}
			if hi := cl.InputTokens.upper(); hi > 0 && float64(sp.Tokens) >= hi {
				c.at(p+".shared_prefix.tokens", "is %d but input_tokens never exceeds %g; the prefix is part of the input and must leave room for at least one more token", sp.Tokens, hi)
			}
		}
	}
}

// dataset checks a class that draws its prompts from a file.
func (c *checker) dataset(p string, cl Class) {
	d := cl.Dataset
	switch {
	case d.Format == DatasetShareGPT, d.Format == DatasetJSONL, registered(&registry.formats, d.Format):
	case d.Format == "":
		c.at(p+".dataset.format", "is required: %s or %s", DatasetShareGPT, DatasetJSONL)
	default:
		c.at(p+".dataset.format", "must be %s (a JSON array of conversations) or %s (one {\"prompt\": …} per line), got %q", DatasetShareGPT, DatasetJSONL, d.Format)
	}
	c.file(p+".dataset.path", d.Path)
	for _, k := range []struct {
		key string
		v   int
	}{{"min_prompt_tokens", d.MinPromptTokens}, {"max_prompt_tokens", d.MaxPromptTokens}, {"min_output_tokens", d.MinOutputTokens}, {"max_total_tokens", d.MaxTotalTokens}} {
		if k.v < 0 || k.v > MaxTokens {
			c.at(p+".dataset."+k.key, "must be from 0 (no filter) to %d tokens, got %d", MaxTokens, k.v)
		}
	}
	if d.MaxPromptTokens > 0 && d.MinPromptTokens > d.MaxPromptTokens {
		c.at(p+".dataset.max_prompt_tokens", "must be ≥ min_prompt_tokens (%d), got %d", d.MinPromptTokens, d.MaxPromptTokens)
	}
	if d.Conversations {
		switch {
		case d.Format != DatasetShareGPT:
			c.at(p+".dataset.conversations", "replays ShareGPT conversations; format is %q", d.Format)
		case !c.s.Workload.Sessions.Enabled():
			c.at(p+".dataset.conversations", "replays conversations as sessions: set workload.sessions (turns: the most turns of a conversation to replay)")
		case c.s.Workload.Prompt == PromptTokenIDs:
			c.at(p+".dataset.conversations", "replays the recorded text; prompt: token_ids cannot carry it")
		}
	}
	if c.s.set(p + ".input_tokens") {
		c.at(p+".input_tokens", "comes from the dataset's prompts; leave it out")
	}
	if c.s.set(p + ".shared_prefix") {
		c.at(p+".shared_prefix", "does not apply to a dataset class")
	}
	if c.s.set(p + ".output_tokens") {
		c.dist(p+".output_tokens", cl.OutputTokens)
	}
	if c.s.Workload.Prompt == PromptTokenIDs {
		c.at(p+".dataset", "dataset prompts are text: workload.prompt must be text")
	}
}

// upper is the largest length a distribution can give, or 0 when unbounded.
// Expected is the distribution's configured mean (a clipped normal's or
// lognormal's is its parameter); false for one without lengths.
func (d Dist) Expected() (float64, bool) {
	switch d.Kind {
	case DistFixed, "":
		return d.Value, d.Value > 0
	case DistUniform:
		return (d.Min + d.Max) / 2, true
	case DistNormal, DistLognormal:
		return d.Mean, true
	case DistHistogram:
		var sum, w float64
		for _, b := range d.Bins {
			sum, w = sum+b.Weight*(b.Min+b.Max)/2, w+b.Weight
		}
		return sum / w, w > 0
	}
	return 0, false
}

func (d Dist) upper() float64 {
	switch d.Kind {
	case DistFixed:
		return d.Value
	case DistUniform:
		return d.Max
	case DistHistogram:
		var m float64
		for _, b := range d.Bins {
			m = math.Max(m, b.Max)
		}
		return m
	}
	return d.Max
}

var distFields = map[string][]string{
	DistFixed:     {"value"},
	DistUniform:   {"min", "max"},
	DistNormal:    {"mean", "stddev", "min", "max"},
	DistLognormal: {"mean", "sigma", "min", "max"},
	DistHistogram: {"bins"},
}

func (c *checker) dist(p string, d Dist) {
	allowed, ok := distFields[d.Kind]
	if !ok {
		if d.Kind == "" {
			c.at(p, "needs dist: one of fixed, uniform, normal, lognormal, histogram (or write a plain number for a fixed length)")
		} else {
			c.at(p+".dist", "must be one of fixed, uniform, normal, lognormal, histogram; got %q", d.Kind)
		}
		return
	}
	for _, k := range []string{"value", "min", "max", "mean", "stddev", "sigma", "bins"} {
		if c.s.set(p+"."+k) && !slices.Contains(allowed, k) {
			c.at(p+"."+k, "is not used by dist: %s (it takes %v)", d.Kind, allowed)
		}
	}
	need := func(k string) bool {
		if !c.s.set(p + "." + k) {
			c.at(p, "dist: %s needs %s", d.Kind, k)
			return false
		}
		return true
	}
	clip := func() {
		if c.s.set(p+".min") && d.Min < 1 {
			c.at(p+".min", "must be ≥ 1 token, got %g", d.Min)
		}
		if c.s.set(p+".min") && c.s.set(p+".max") && d.Max < d.Min {
			c.at(p+".max", "must be ≥ min (%g), got %g", d.Min, d.Max)
		}
	}
	for _, k := range []struct {
		key string
		v   float64
	}{{"value", d.Value}, {"min", d.Min}, {"max", d.Max}, {"mean", d.Mean}, {"stddev", d.Stddev}} {
		if c.s.set(p+"."+k.key) && k.v > MaxTokens {
			c.at(p+"."+k.key, "must be ≤ %d tokens (2^20: above any model's context, and what one request may hold), got %g", MaxTokens, k.v)
		}
	}
	for i, b := range d.Bins {
		if b.Max > MaxTokens {
			c.at(fmt.Sprintf("%s.bins[%d].max", p, i), "must be ≤ %d tokens, got %g", MaxTokens, b.Max)
		}
	}
	switch d.Kind {
	case DistFixed:
		if need("value") && d.Value < 1 {
			c.at(p+".value", "must be ≥ 1 token, got %g", d.Value)
		}
	case DistUniform:
		okMin, okMax := need("min"), need("max")
		if okMin && d.Min < 1 {
			c.at(p+".min", "must be ≥ 1 token, got %g", d.Min)
		}
		if okMin && okMax && d.Max < d.Min {
			c.at(p+".max", "must be ≥ min (%g), got %g", d.Min, d.Max)
		}
	case DistNormal:
		if need("mean") && d.Mean < 1 {
			c.at(p+".mean", "must be ≥ 1 token, got %g", d.Mean)
		}
		if need("stddev") && d.Stddev < 0 {
			c.at(p+".stddev", "must be ≥ 0, got %g", d.Stddev)
		}
		clip()
	case DistLognormal:
		if need("mean") && d.Mean < 1 {
			c.at(p+".mean", "must be ≥ 1 token, got %g", d.Mean)
		}
		if need("sigma") && (d.Sigma < 0 || d.Sigma > 5) {
			c.at(p+".sigma", "must be between 0 and 5 (the standard deviation of ln(length)), got %g", d.Sigma)
		}
		clip()
	case DistHistogram:
		if need("bins") && len(d.Bins) == 0 {
			c.at(p+".bins", "needs at least one bin {min, max, weight}")
		}
		for i, b := range d.Bins {
			bp := fmt.Sprintf("%s.bins[%d]", p, i)
			if b.Min < 1 {
				c.at(bp+".min", "must be ≥ 1 token, got %g", b.Min)
			}
			if b.Max < b.Min {
				c.at(bp+".max", "must be ≥ min (%g), got %g", b.Min, b.Max)
			}
			if b.Weight <= 0 {
				c.at(bp+".weight", "must be > 0, got %g", b.Weight)
			}
		}
	}
}

func (c *checker) load() {
	l := &c.s.Load
	hasRate, hasConc, hasLevels := c.s.set("load.rate"), c.s.set("load.concurrency"), c.s.set("load.levels")
	if c.s.set("load.trace") && l.Arrival != ArrivalTrace {
		c.at("load.trace", "is replayed by arrival: trace; set it, or leave trace out")
	}
	if l.Arrival == ArrivalTrace {
		c.trace(hasRate, hasConc, hasLevels)
		return
	}
	if l.Mode == "" {
		switch {
		case hasRate && !hasConc:
			l.Mode = ModeOpen
		case hasConc && !hasRate:
			l.Mode = ModeClosed
		case hasRate && hasConc:
			c.at("load", "set rate (open loop) or concurrency (closed loop), not both")
			return
		default:
			if hasLevels {
				c.at("load", "levels needs mode: open (levels are requests/s) or mode: closed (levels are concurrencies)")
			} else {
				c.at("load", "needs rate: N (open loop, requests/s), concurrency: N (closed loop) or mode with levels")
			}
			return
		}
	}
	if hasLevels && (hasRate || hasConc) {
		c.at("load.levels", "replaces rate and concurrency; set one or the other")
	}
	if hasLevels && len(l.Levels) == 0 {
		c.at("load.levels", "must list at least one level")
	}
	if len(l.Levels) > MaxLevels {
		c.at("load.levels", "must list at most %d levels, got %d", MaxLevels, len(l.Levels))
	}
	switch l.Mode {
	case ModeOpen:
		if hasConc {
			c.at("load.concurrency", "is for mode: closed; an open loop sends at rate requests/s")
		}
		if hasRate && (l.Rate <= 0 || l.Rate > MaxRate) {
			c.at("load.rate", "must be > 0 and ≤ %d requests/s, got %g", MaxRate, l.Rate)
		}
		if !hasRate && !hasLevels {
			c.at("load", "mode: open needs rate: N or levels: [...] in requests/s")
		}
		for i, v := range l.Levels {
			if v <= 0 || v > MaxRate {
				c.at(fmt.Sprintf("load.levels[%d]", i), "must be > 0 and ≤ %d requests/s, got %g", MaxRate, v)
			}
		}
		switch l.Arrival {
		case "", ArrivalPoisson, ArrivalConstant:
			if c.s.set("load.burstiness") {
				c.at("load.burstiness", "only applies to arrival: gamma")
			}
		case ArrivalGamma:
			if c.s.set("load.burstiness") && l.Burstiness <= 0 {
				c.at("load.burstiness", "must be > 0 (1 is Poisson, < 1 burstier, > 1 smoother), got %g", l.Burstiness)
			}
		default:
			if registered(&registry.arrivals, l.Arrival) {
				break
			}
			c.at("load.arrival", "must be one of poisson, gamma, constant; got %q", l.Arrival)
		}
		if l.MaxInFlight < 0 || l.MaxInFlight > MaxInFlight {
			c.at("load.max_in_flight", "must be from 0 (no cap) to %d, got %d", MaxInFlight, l.MaxInFlight)
		}
	case ModeClosed:
		if hasRate {
			c.at("load.rate", "is for mode: open; a closed loop keeps concurrency requests in flight")
		}
		if hasConc && (l.Concurrency < 1 || l.Concurrency > MaxConcurrency) {
			c.at("load.concurrency", "must be from 1 to %d (each request in flight is a connection), got %d", MaxConcurrency, l.Concurrency)
		}
		if !hasConc && !hasLevels {
			c.at("load", "mode: closed needs concurrency: N or levels: [...] of concurrencies")
		}
		for i, v := range l.Levels {
			if v < 1 || v != math.Trunc(v) || v > MaxConcurrency {
				c.at(fmt.Sprintf("load.levels[%d]", i), "must be a whole number from 1 to %d (a concurrency), got %g", MaxConcurrency, v)
			}
		}
		for _, k := range []string{"arrival", "burstiness", "max_in_flight"} {
			if c.s.set("load." + k) {
				c.at("load."+k, "only applies to mode: open")
			}
		}
	default:
		c.at("load.mode", "must be %q or %q, got %q", ModeOpen, ModeClosed, l.Mode)
	}
}

// trace checks load for arrival: trace: an open loop whose rate or levels
// are speed-ups.
func (c *checker) trace(hasRate, hasConc, hasLevels bool) {
	l := &c.s.Load
	if l.Mode == "" {
		l.Mode = ModeOpen
	}
	if l.Mode != ModeOpen || hasConc {
		c.at("load", "arrival: trace is an open loop: the trace says when each request is sent")
	}
	if hasRate && hasLevels {
		c.at("load.levels", "replaces rate; set one or the other")
	}
	if hasRate && l.Rate <= 0 {
		c.at("load.rate", "is the replay's speed-up with arrival: trace (1: as recorded, 2: twice as fast); must be > 0, got %g", l.Rate)
	}
	for i, v := range l.Levels {
		if v <= 0 {
			c.at(fmt.Sprintf("load.levels[%d]", i), "is a speed-up with arrival: trace; must be > 0, got %g", v)
		}
	}
	if c.s.set("load.burstiness") {
		c.at("load.burstiness", "only applies to arrival: gamma")
	}
	t := l.Trace
	switch {
	case t.Format == TraceMooncake, t.Format == TraceAzure, t.Format == TraceCSV, t.Format == TraceBurstGPT, registered(&registry.formats, t.Format):
	case t.Format == "":
		c.at("load.trace.format", "is required: %s, %s, %s or %s", TraceMooncake, TraceAzure, TraceBurstGPT, TraceCSV)
	default:
		c.at("load.trace.format", "must be %s (JSON lines with timestamp, input_length, output_length, hash_ids), %s (the Azure LLM inference trace CSV), %s (the BurstGPT CSV) or %s (offset_ms,input_tokens,output_tokens), got %q",
			TraceMooncake, TraceAzure, TraceBurstGPT, TraceCSV, t.Format)
	}
	c.file("load.trace.path", t.Path)
	if t.Start < 0 || t.Length < 0 {
		c.at("load.trace", "start and length must be ≥ 0s")
	}
	if t.BlockTokens < 0 {
		c.at("load.trace.block_tokens", "must be ≥ 1 (tokens per hash_ids block), got %d", t.BlockTokens)
	}
	if c.s.Workload.Sessions.Enabled() {
		c.at("workload.sessions", "sessions run in a closed loop; a trace replays single requests")
	}
}

var probeNameRe = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// probes checks telemetry.probes.
func (c *checker) probes() {
	names := map[string]bool{"gpu": true, "host": true, "metrics": true}
	for i, p := range c.s.Telemetry.Probes {
		at := fmt.Sprintf("telemetry.probes[%d]", i)
		switch {
		case !probeNameRe.MatchString(p.Name):
			c.at(at+".name", "is required: lower-case letters, digits, '-' or '_' (at most 32), got %q", p.Name)
		case names[p.Name]:
			c.at(at+".name", "%q is taken (gpu, host and metrics are built in; names are unique)", p.Name)
		}
		names[p.Name] = true
		switch p.Kind {
		case ProbePrometheus:
			if u, err := url.Parse(p.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				c.at(at+".url", "needs the http(s) address of a Prometheus text endpoint, got %q", p.URL)
			}
			for j, re := range p.Include {
				if _, err := regexp.Compile(re); err != nil {
					c.at(fmt.Sprintf("%s.include[%d]", at, j), "is not a regular expression: %v", err)
				}
			}
		case ProbeCommand:
			if len(p.Command) == 0 || p.Command[0] == "" {
				c.at(at+".command", "needs the program and its arguments, as a list: [nvidia-smi, --query-gpu=temperature.gpu, ...]")
			}
			if p.Timeout < 0 {
				c.at(at+".timeout", "must be ≥ 0s, got %s", p.Timeout.D())
			}
		case "":
			c.at(at+".kind", "is required: prometheus or command")
		default:
			if !registered(&registry.probes, p.Kind) {
				c.at(at+".kind", "must be prometheus or command (or a registered kind), got %q", p.Kind)
			}
		}
	}
}

func (c *checker) phases() {
	ph := c.s.Phases
	for _, name := range []string{"warmup", "measure"} {
		p := ph.Warmup
		if name == "measure" {
			p = ph.Measure
		}
		path := "phases." + name
		if c.s.set(path+".duration") && (p.Duration < 0 || p.Duration.D() > MaxDuration) {
			c.at(path+".duration", "must be from 0s to %s, got %s", MaxDuration, p.Duration.D())
		}
		if p.Requests < 0 || p.Requests > MaxRequests {
			c.at(path+".requests", "must be from 0 to %d, got %d", MaxRequests, p.Requests)
		}
	}
	if ph.Measure.Duration <= 0 && ph.Measure.Requests <= 0 && !(c.s.Load.Arrival == ArrivalTrace && !c.s.set("phases.measure")) {
		if c.s.set("phases.measure.duration") || c.s.set("phases.measure.requests") {
			c.at("phases.measure", "must last longer than zero: a duration > 0s or requests > 0")
		} else {
			c.at("phases", "needs measure: {duration: 30s} or measure: {requests: N}")
		}
	}
	switch ph.OnEnd {
	case "", OnEndDrain:
	case OnEndCancel:
		if ph.Measure.Duration <= 0 {
			c.at("phases.on_end", "cancel needs measure.duration: requests in flight are canceled when that time is up")
		}
	default:
		c.at("phases.on_end", "must be %q (wait for requests in flight, up to drain_timeout) or %q; got %q", OnEndDrain, OnEndCancel, ph.OnEnd)
	}
	switch ph.BetweenLevels {
	case "", BetweenReset, BetweenKeep:
	default:
		c.at("phases.between_levels", "must be %q (empty the prefix cache before each level, so that no level profits from the ones before) or %q; got %q", BetweenReset, BetweenKeep, ph.BetweenLevels)
	}
	if c.s.set("phases.drain_timeout") && ph.DrainTimeout <= 0 {
		c.at("phases.drain_timeout", "must be longer than 0s")
	}
}

func (c *checker) telemetry() {
	t := c.s.Telemetry
	if c.s.set("telemetry.interval") && t.Interval.D() < 10*time.Millisecond {
		c.at("telemetry.interval", "must be at least 10ms, got %s", t.Interval.D())
	}
	seen := map[int]bool{}
	for i, g := range t.GPUs {
		p := fmt.Sprintf("telemetry.gpus[%d]", i)
		if g < 0 {
			c.at(p, "must be a GPU index ≥ 0, got %d", g)
		}
		if seen[g] {
			c.at(p, "GPU %d is listed twice", g)
		}
		seen[g] = true
	}
	if t.MetricsURL != "" {
		if u, err := url.Parse(t.MetricsURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			c.at("telemetry.metrics_url", "must be an http:// or https:// address, got %q", t.MetricsURL)
		}
	}
	for i, d := range t.Disable {
		if !slices.Contains(TelemetryProbes, d) {
			c.at(fmt.Sprintf("telemetry.disable[%d]", i), "must be one of %v, got %q", TelemetryProbes, d)
		}
	}
}

func (c *checker) gate() {
	g := c.s.Gate
	if c.s.set("gate.alpha") && (g.Alpha <= 0 || g.Alpha > 0.5) {
		c.at("gate.alpha", "must be in (0, 0.5], got %g", g.Alpha)
	}
	if c.s.set("gate.min_trials") && g.MinTrials < 2 {
		c.at("gate.min_trials", "must be ≥ 2 (the gate's test needs two trials per side to see their noise), got %d", g.MinTrials)
	}
	if c.s.set("gate.max_trials") && (g.MaxTrials < 2 || g.MaxTrials > 99) {
		c.at("gate.max_trials", "must be from 2 to 99 trials per side, got %d", g.MaxTrials)
	} else if c.s.set("gate.max_trials") && g.MaxTrials < max(g.MinTrials, 2) {
		c.at("gate.max_trials", "must be ≥ gate.min_trials (%d), got %d", g.MinTrials, g.MaxTrials)
	}
	if g.NoisePct < 0 || g.NoisePct > 50 || math.IsNaN(g.NoisePct) {
		c.at("gate.noise_pct", "must be the per-trial noise in percent, from 0 to 50, got %g", g.NoisePct)
	}
	if g.OutlierReruns != nil && (*g.OutlierReruns < 0 || *g.OutlierReruns > 10) {
		c.at("gate.outlier_reruns", "must be from 0 to 10 per side, got %d", *g.OutlierReruns)
	}
	levels := len(c.s.Load.Levels)
	if levels == 0 {
		levels = 1
	}
	for i, l := range g.Levels {
		if l < 1 || l > levels {
			c.at(fmt.Sprintf("gate.levels[%d]", i), "must be a level number from 1 to %d, got %d", levels, l)
		}
	}
	seen := map[string]bool{}
	for i, m := range g.Metrics {
		p := fmt.Sprintf("gate.metrics[%d]", i)
		if !metric.Gateable(m.Name) {
			c.at(p+".name", "%q is not a summary metric a gate can use (for example output_throughput, median_ttft_ms, p99_e2el_ms, error_rate)", m.Name)
		}
		if seen[m.Name] {
			c.at(p+".name", "%q is listed twice", m.Name)
		}
		seen[m.Name] = true
		if m.WarnPct <= 0 {
			c.at(p+".warn_pct", "must be > 0 (percent worse than the baseline), got %g", m.WarnPct)
		}
		if m.FailPct < m.WarnPct {
			c.at(p+".fail_pct", "must be ≥ warn_pct (%g), got %g", m.WarnPct, m.FailPct)
		}
	}
}

// secretParam is the name of a URL query parameter that looks like a
// credential, or "".
func secretParam(u *url.URL) string {
	for k := range u.Query() {
		l := strings.ToLower(k)
		for _, w := range []string{"key", "token", "secret", "password", "passwd", "auth", "signature", "credential"} {
			if strings.Contains(l, w) {
				return k
			}
		}
	}
	return ""
}

// CheckEnv checks what the scenario needs from the environment: the
// variable api_key_env names must be set (to something). The problem is
// reported at the key, like the file's own.
func (s *Scenario) CheckEnv(getenv func(string) string) error {
	c := &checker{s: s}
	if v := s.Engine.APIKeyEnv; v != "" && envNameRe.MatchString(v) && getenv(v) == "" {
		c.at("engine.api_key_env", "names $%s, which is not set in this environment: the server's key is read from it", v)
	}
	if len(c.problems) == 0 {
		return nil
	}
	return &ValidationError{File: s.File, Problems: c.problems}
}

// inFlightMemory checks what a run holds at once against MaxInFlightBytes:
// the requests in flight (each its prompt and a timestamp per output token,
// and, with max_event_bytes raised, a stream buffer of that size), the
// shared prefixes (generated once), and the conversations of sessions (each
// held whole, every turn's prompt growing by the turns before). A scenario
// whose lengths and load would not fit is refused here, naming the product
// that is too big, not by the kernel halfway through a run. The arrival
// schedule is drawn as it is sent, so a long or fast level holds nothing
// more.
func (c *checker) inFlightMemory() {
	s := c.s
	if len(c.problems) > 0 {
		return
	}
	var longest, longestIn float64
	for _, cl := range s.Workload.Classes {
		longest = math.Max(longest, cl.InputTokens.upper()+cl.OutputTokens.upper())
		longestIn = math.Max(longestIn, cl.InputTokens.upper())
	}
	inFlight, how := 0.0, ""
	for _, l := range s.LevelSpecs() {
		n, h := float64(l.Concurrency), fmt.Sprintf("concurrency %d", l.Concurrency)
		if l.Mode == ModeOpen {
			timeout := s.RequestTimeout.D()
			if timeout <= 0 {
				timeout = DefaultRequestTimeout
			}
			n, h = l.Rate*timeout.Seconds(), fmt.Sprintf("%g requests/s × request_timeout %s", l.Rate, timeout)
			if s.Load.MaxInFlight > 0 && float64(s.Load.MaxInFlight) < n {
				n, h = float64(s.Load.MaxInFlight), fmt.Sprintf("max_in_flight %d", s.Load.MaxInFlight)
			}
		}
		if n > inFlight {
			inFlight, how = n, h
		}
	}
	if need := longest * inFlight * 8; longest > 0 && need > MaxInFlightBytes {
		c.at("workload.classes", "requests of up to %g tokens (input + output), %g of them in flight at once (%s), would hold about %.0f GiB; "+
			"lower the lengths or the load, or cap an open loop with load.max_in_flight", longest, inFlight, how, need/(1<<30))
		return
	}
	type part struct {
		path, what, fix string
		bytes           float64
	}
	parts := []part{{"workload.classes", fmt.Sprintf("requests in flight (up to %g tokens each, %g at once: %s)", longest, inFlight, how),
		"lower the lengths or the load", longest * inFlight * 8}}
	if s.set("max_event_bytes") && s.MaxEventBytes > 0 {
		parts = append(parts, part{"max_event_bytes", fmt.Sprintf("a stream buffer of up to max_event_bytes %d for each of %g requests in flight (%s)", s.MaxEventBytes, inFlight, how),
			"lower max_event_bytes or the load", float64(s.MaxEventBytes) * inFlight})
	}
	for i, cl := range s.Workload.Classes {
		if sp := cl.SharedPrefix; sp.Distinct > 0 {
			parts = append(parts, part{fmt.Sprintf("workload.classes[%d].shared_prefix", i),
				fmt.Sprintf("%d shared prefixes of %d tokens", sp.Distinct, sp.Tokens), "lower distinct or tokens",
				float64(sp.Distinct) * float64(sp.Tokens) * 8})
		}
	}
	if ss := s.Workload.Sessions; ss.Enabled() {
		turns, user := ss.Turns.upper(), ss.UserTokens.upper()
		if ss.UserTokens.Kind == "" {
			user = longestIn
		}
		var out float64
		for _, cl := range s.Workload.Classes {
			out = math.Max(out, cl.OutputTokens.upper())
		}
		// Turn t's prompt: the first input and t−1 answers and messages.
		last := longestIn + (turns-1)*(out+user)
		if last > MaxTokens {
			c.at("workload.sessions", "a conversation of %g turns, each adding an answer of up to %g tokens and a message of up to %g, ends with a prompt of %.0f tokens: "+
				"over any model's context (%d); lower turns or the lengths", turns, out, user, last, MaxTokens)
			return
		}
		// Every turn is prepared when its session starts: its prompt as
		// text, as messages and as the encoded body.
		perSession := turns * (longestIn + last) / 2 * 8 * 3
		held := inFlight + 64 // the sessions running and those prepared ahead
		parts = append(parts, part{"workload.sessions", fmt.Sprintf("%g conversations (%s, and 64 prepared ahead) of up to %g turns, the last prompt %.0f tokens", held, how, turns, last),
			"lower turns, the lengths or the concurrency", perSession * held})
	}
	total, big := 0.0, 0
	for i, p := range parts {
		total += p.bytes
		if p.bytes > parts[big].bytes {
			big = i
		}
	}
	if total > MaxInFlightBytes {
		p := parts[big]
		c.at(p.path, "%s would hold about %.1f GiB, and the run %.1f GiB in all: over the %d GiB a run may hold; %s",
			p.what, p.bytes/(1<<30), total/(1<<30), MaxInFlightBytes>>30, p.fix)
	}
}

// loraName is what a LoRA adapter's name may be: the model name of a request.
var loraName = regexp.MustCompile(`^[A-Za-z0-9._/:-]{1,256}$`)
