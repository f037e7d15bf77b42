package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/perfgate/perfgate/internal/pace"
	"github.com/perfgate/perfgate/internal/sim/profile"
)

// Config sets up a simulator. DefaultConfig gives vLLM's defaults.
type Config struct {
	Model                string   // served model name; the profile's model when empty
	LoRAModules          []string // LoRA adapters served by name beside the model (their cost is not modelled)
	Profile              string   // gpu/model, see profile.Names
	TensorParallel       int      // 0: the profile's default
	MaxNumSeqs           int      // sequences running at once
	MaxNumBatchedTokens  int      // tokens computed per step (chunked prefill)
	GPUMemoryUtilization float64  // fraction of GPU memory vLLM may use
	BlockSize            int      // tokens per KV block
	MaxModelLen          int      // 0: the model's, capped by the KV capacity
	EnablePrefixCaching  bool
	NumGPUBlocksOverride int // > 0 sets the KV capacity in blocks directly

	TimeScale       float64 // run this many times faster than real time; metrics stay in model time
	Seed            uint64
	Jitter          float64 // relative standard deviation of step times
	Noise           Noise   // trial-to-trial noise (noise.go); zero: none
	StartSeed       uint64  // tells starts apart in the noise's start draw (0: Seed alone); perfgate ab gives each start its own
	SlowdownDecode  float64 // multiplies decode work, step overhead included (1: none)
	SlowdownPrefill float64 // multiplies prefill work (1: none)
	StepOverheadMs  float64 // < 0: the profile's
	// StepModel, when set, prices steps with a linear model fitted to a
	// real engine instead of the profile's (step overhead: StepOverheadMs,
	// else the profile's).
	StepModel *profile.Linear

	FaultErrorRate      float64 // fraction of requests answered with HTTP 500
	FaultStallAfter     int     // > 0: every stream stops after this many tokens and hangs
	FaultDisconnectRate float64 // fraction of streams whose connection is dropped mid-stream
	FaultCrashAfter     int     // > 0: the server dies when this many requests have arrived

	MaxTokens int // max_tokens of a request that sets none (16, as OpenAI)

	// DevMode serves the development endpoints (POST /reset_prefix_cache).
	// vLLM mounts them only when VLLM_SERVER_DEV_MODE=1; without it the
	// route is not there (404), and so it is here.
	DevMode bool

	// OnCrash is what a crash does. Start's default closes the server and
	// every connection; `perfgate sim serve` exits the process.
	OnCrash func()
}

// DefaultConfig returns vLLM's defaults on the default profile.
func DefaultConfig() Config {
	return Config{
		Profile:              profile.Default,
		MaxNumSeqs:           256,
		MaxNumBatchedTokens:  8192,
		GPUMemoryUtilization: 0.9,
		BlockSize:            16,
		EnablePrefixCaching:  true,
		TimeScale:            1,
		SlowdownDecode:       1,
		SlowdownPrefill:      1,
		StepOverheadMs:       -1,
		MaxTokens:            16,
	}
}

// Validate reports every bad value at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if _, err := profile.Lookup(c.Profile, c.TensorParallel); err != nil {
		errs = append(errs, err)
	}
	if c.TensorParallel < 0 {
		bad("tensor parallel size must be ≥ 1, got %d", c.TensorParallel)
	}
	if c.MaxNumSeqs < 1 {
		bad("max_num_seqs must be ≥ 1, got %d", c.MaxNumSeqs)
	}
	if c.MaxNumBatchedTokens < 1 {
		bad("max_num_batched_tokens must be ≥ 1, got %d", c.MaxNumBatchedTokens)
	}
	if !(c.GPUMemoryUtilization > 0 && c.GPUMemoryUtilization <= 1) {
		bad("gpu_memory_utilization must be in (0, 1], got %g", c.GPUMemoryUtilization)
	}
	if c.BlockSize < 1 || c.BlockSize > 1024 {
		bad("block_size must be between 1 and 1024, got %d", c.BlockSize)
	}
	if c.MaxModelLen < 0 {
		bad("max_model_len must be ≥ 0, got %d", c.MaxModelLen)
	}
	if sm := c.StepModel; sm != nil && (sm.PrefillTokenMs < 0 || sm.DecodeSeqMs < 0 || sm.AttnPairNs < 0 || sm.RequestMs < 0 || sm.MixedPrefillTokenMs < 0 || sm.DecodeCtxTokenNs < 0) {
		bad("step model figures must be ≥ 0, got %+v", *sm)
	}
	if c.NumGPUBlocksOverride < 0 {
		bad("num_gpu_blocks_override must be ≥ 0, got %d", c.NumGPUBlocksOverride)
	}
	if !(c.TimeScale > 0 && c.TimeScale <= profile.MaxTimeScale) {
		bad("time_scale must be > 0 and at most %d, got %g", profile.MaxTimeScale, c.TimeScale)
	}
	if c.Jitter < 0 || c.Jitter > 1 {
		bad("jitter must be between 0 and 1, got %g", c.Jitter)
	}
	n := c.Noise
	if n.LowClockShare < 0 || n.LowClockShare > 1 || n.SlowShare < 0 || n.SlowShare > 1 || n.LowClockPct < 0 || n.SlowPct < 0 || n.DriftPctPerMin < 0 || n.StepJitter < 0 || n.StepJitter > 1 {
		bad("noise settings out of range: %+v", n)
	}
	if !(c.SlowdownDecode > 0 && c.SlowdownDecode <= profile.MaxSlowdown) || !(c.SlowdownPrefill > 0 && c.SlowdownPrefill <= profile.MaxSlowdown) {
		bad("slowdowns must be > 0 and at most %d (1: none), got decode %g, prefill %g", profile.MaxSlowdown, c.SlowdownDecode, c.SlowdownPrefill)
	}
	for name, v := range map[string]float64{"fault_error_rate": c.FaultErrorRate, "fault_disconnect_rate": c.FaultDisconnectRate} {
		if v < 0 || v > 1 {
			bad("%s must be between 0 and 1, got %g", name, v)
		}
	}
	if c.FaultStallAfter < 0 || c.FaultCrashAfter < 0 {
		bad("fault_stall_after and fault_crash_after must be ≥ 0")
	}
	return errors.Join(errs...)
}

// Version is what GET /version answers.
const Version = "perfgate-sim-0.2"

// Server is a simulator. Its Handler serves the HTTP API.
type Server struct {
	cfg         Config
	prof        profile.Profile
	eng         *engine
	metrics     *metrics
	mux         *http.ServeMux
	maxModelLen int

	faultMu  sync.Mutex
	faultRng *rand.Rand
	arrived  atomic.Int64
	crashed  atomic.Bool
	stopEng  context.CancelFunc
}

// New returns a simulator for cfg, whose step loop runs until Stop.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	prof := cfg.profile()
	if cfg.Model == "" {
		cfg.Model = prof.Model.Name
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = 16
	}
	m := newMetrics(cfg.Model)
	eng := newEngine(cfg, prof, m)
	if eng.kv.numBlocks() == 0 {
		return nil, fmt.Errorf("no room for a KV cache: %s (TP %d) at gpu_memory_utilization %g leaves no memory after the weights; raise it or the tensor-parallel size",
			prof.Key, prof.TP, cfg.GPUMemoryUtilization)
	}
	s := &Server{cfg: cfg, prof: prof, eng: eng, metrics: m, mux: http.NewServeMux(), faultRng: rand.New(rand.NewPCG(cfg.Seed, 0xfa17))}
	s.maxModelLen = prof.Model.MaxModelLen
	if cfg.MaxModelLen > 0 {
		s.maxModelLen = cfg.MaxModelLen
	}
	s.maxModelLen = min(s.maxModelLen, eng.kv.numBlocks()*cfg.BlockSize)
	ctx, cancel := context.WithCancel(context.Background())
	s.stopEng = cancel
	go eng.run(ctx)

	s.mux.HandleFunc("POST /v1/completions", func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, false) })
	s.mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, true) })
	s.mux.HandleFunc("GET /v1/models", s.models)
	s.mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {})
	s.mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"version": Version})
	})
	s.mux.HandleFunc("POST /tokenize", s.tokenize)
	s.mux.HandleFunc("POST /detokenize", s.detokenize)
	if cfg.DevMode {
		s.mux.HandleFunc("POST /reset_prefix_cache", func(w http.ResponseWriter, r *http.Request) {
			if !s.eng.resetPrefixCache() {
				writeError(w, apiError{http.StatusConflict, "requests are running; the prefix cache can only be reset when the engine is idle"})
			}
		})
	}
	s.mux.Handle("GET /metrics", m.handler())
	return s, nil
}

// profile is the configured profile, its step times replaced by StepModel
// when one is set. Validate has checked that the profile exists.
func (c Config) profile() profile.Profile {
	prof, _ := profile.Lookup(c.Profile, c.TensorParallel)
	if c.StepModel != nil {
		l := *c.StepModel
		prof.Linear = &l
	}
	return prof
}

// Handler serves the simulator's API.
func (s *Server) Handler() http.Handler { return s.mux }

// Stop ends the step loop.
func (s *Server) Stop() { s.stopEng() }

// Profile is the profile the simulator runs.
func (s *Server) Profile() profile.Profile { return s.prof }

// MaxModelLen is the longest prompt plus output a request may have.
func (s *Server) MaxModelLen() int { return s.maxModelLen }

// KVBlocks is the KV cache's size in blocks.
func (s *Server) KVBlocks() int { return s.eng.kv.numBlocks() }

// NoiseFactor is the step-time factor this start drew (Config.Noise: its
// clock state and slow start, before drift and jitter); 1 without noise.
func (s *Server) NoiseFactor() float64 {
	if s.eng.noise == 0 {
		return 1
	}
	return s.eng.noise
}

// Running is a simulator listening on a loopback port.
type Running struct {
	URL  string
	Sim  *Server
	srv  *http.Server
	ln   net.Listener
	died chan struct{}
	once sync.Once
}

// Died is closed when the simulated engine crashed (fault_crash_after).
func (r *Running) Died() <-chan struct{} { return r.died }

// Start serves a new simulator on a free 127.0.0.1 port (port 0) or the
// given address.
func Start(cfg Config) (*Running, error) { return Listen("127.0.0.1:0", cfg) }

// Listen serves a new simulator on addr.
func Listen(addr string, cfg Config) (*Running, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	r := &Running{URL: "http://" + ln.Addr().String(), ln: ln, died: make(chan struct{})}
	if cfg.OnCrash == nil {
		cfg.OnCrash = func() {
			r.once.Do(func() { close(r.died) })
			r.srv.Close()
		}
	}
	s, err := New(cfg)
	if err != nil {
		ln.Close()
		return nil, err
	}
	r.Sim = s
	r.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go r.srv.Serve(ln)
	return r, nil
}

// Serve blocks serving until ctx ends or the server fails.
func (r *Running) Serve(ctx context.Context) error {
	<-ctx.Done()
	return r.Close()
}

// Close stops the server, every stream and the step loop.
func (r *Running) Close() error {
	defer r.Sim.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		return r.srv.Close()
	}
	return nil
}

type apiError struct {
	status int
	msg    string
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e apiError) {
	typ := map[int]string{400: "BadRequestError", 404: "NotFoundError", 409: "ConflictError", 500: "InternalServerError"}[e.status]
	writeJSON(w, e.status, map[string]any{"error": map[string]any{"message": e.msg, "type": typ, "code": e.status}})
}

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	data := []map[string]any{
		{"id": s.cfg.Model, "object": "model", "owned_by": "perfgate-sim", "root": s.prof.Model.Name, "max_model_len": s.maxModelLen},
	}
	for _, a := range s.cfg.LoRAModules { // as vLLM lists an adapter: its parent is the base model
		data = append(data, map[string]any{"id": a, "object": "model", "owned_by": "perfgate-sim", "root": a, "parent": s.cfg.Model, "max_model_len": s.maxModelLen})
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

// request is the part of a completion request the simulator reads.
type request struct {
	Model    string          `json:"model"`
	Prompt   json.RawMessage `json:"prompt"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	MaxTokens     *int `json:"max_tokens"`
	MaxCompletion *int `json:"max_completion_tokens"`
	Stream        bool `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// messageText is a chat message's content: a string, or OpenAI's list of
// content parts, whose text parts vLLM joins with newlines (GuideLLM and
// AIPerf send parts). Other parts (images, audio) are refused: the
// simulator models text.
func messageText(raw json.RawMessage) (string, error) {
	var text string
	if json.Unmarshal(raw, &text) == nil {
		return text, nil
	}
	var parts []struct {
		Type string  `json:"type"`
		Text *string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New("message content must be a string or a list of content parts")
	}
	var texts []string
	for _, p := range parts {
		if p.Type != "text" || p.Text == nil {
			return "", fmt.Errorf("content part of type %q: the simulator serves text parts only", p.Type)
		}
		texts = append(texts, *p.Text)
	}
	return strings.Join(texts, "\n"), nil
}

// parse reads a request and returns it with its prompt's token ids and its max_tokens.
func (s *Server) parse(r *http.Request, chat bool) (request, []int, int, *apiError) {
	var req request
	if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<20)).Decode(&req); err != nil {
		return req, nil, 0, &apiError{http.StatusBadRequest, "the body is not valid JSON: " + err.Error()}
	}
	if req.Model != s.cfg.Model && !slices.Contains(s.cfg.LoRAModules, req.Model) {
		return req, nil, 0, &apiError{http.StatusNotFound, fmt.Sprintf("The model `%s` does not exist.", req.Model)}
	}
	var ids []int
	if chat {
		if len(req.Messages) == 0 {
			return req, nil, 0, &apiError{http.StatusBadRequest, "messages must not be empty"}
		}
		var msgs []Message
		for _, m := range req.Messages {
			text, err := messageText(m.Content)
			if err != nil {
				return req, nil, 0, &apiError{http.StatusBadRequest, err.Error()}
			}
			msgs = append(msgs, Message{Role: m.Role, Content: text})
		}
		ids = chatTemplate(msgs)
	} else {
		var err error
		if ids, err = promptIDs(req.Prompt); err != nil {
			return req, nil, 0, &apiError{http.StatusBadRequest, err.Error()}
		}
	}
	n := s.cfg.MaxTokens
	if req.MaxCompletion != nil {
		n = *req.MaxCompletion
	} else if req.MaxTokens != nil {
		n = *req.MaxTokens
	}
	if n < 1 {
		return req, nil, 0, &apiError{http.StatusBadRequest, "max_tokens must be at least 1"}
	}
	if len(ids)+n > s.maxModelLen {
		return req, nil, 0, &apiError{http.StatusBadRequest, fmt.Sprintf(
			"This model's maximum context length is %d tokens. However, you requested %d tokens (%d in the messages, %d in the completion). Please reduce the length of the messages or completion.",
			s.maxModelLen, len(ids)+n, len(ids), n)}
	}
	return req, ids, n, nil
}

func promptIDs(raw json.RawMessage) ([]int, error) {
	var text string
	if err := json.Unmarshal(raw, &text); err == nil {
		return append([]int{BOS}, Tokenize(text)...), nil
	}
	var ids []int
	if err := json.Unmarshal(raw, &ids); err == nil && len(ids) > 0 {
		return ids, nil
	}
	return nil, errors.New("prompt must be a string or a non-empty list of token ids")
}

func (s *Server) faultRoll(rate float64) bool {
	if rate <= 0 {
		return false
	}
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return s.faultRng.Float64() < rate
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, chat bool) {
	arrived := time.Now()
	if s.crashed.Load() {
		http.Error(w, "the simulated engine has died", http.StatusServiceUnavailable)
		return
	}
	if n := s.arrived.Add(1); s.cfg.FaultCrashAfter > 0 && n > int64(s.cfg.FaultCrashAfter) {
		if s.crashed.CompareAndSwap(false, true) {
			go s.cfg.OnCrash()
		}
		panic(http.ErrAbortHandler) // drop this connection, as a dead process would
	}
	req, ids, n, aerr := s.parse(r, chat)
	if aerr != nil {
		writeError(w, *aerr)
		return
	}
	if s.faultRoll(s.cfg.FaultErrorRate) {
		writeError(w, apiError{http.StatusInternalServerError, "simulated engine error (fault_error_rate)"})
		return
	}
	disconnectAt := 0
	if s.faultRoll(s.cfg.FaultDisconnectRate) {
		s.faultMu.Lock()
		disconnectAt = 1 + s.faultRng.IntN(n)
		s.faultMu.Unlock()
	}
	if l := s.prof.Linear; l != nil && l.RequestMs > 0 {
		// a fitted engine's API server works on each request before its
		// engine sees it (parsing, tokenizing): measured, not a step
		if !pace.Until(r.Context(), time.Now().Add(time.Duration(l.RequestMs/s.cfg.TimeScale*float64(time.Millisecond)))) {
			return
		}
		arrived = time.Now()
	}
	sq := s.eng.add(ids, n, arrived)
	st := &streamer{w: w, chat: chat, model: s.cfg.Model, id: sq.id, created: time.Now().Unix()}
	if !req.Stream {
		for !sq.done.Load() {
			select {
			case <-sq.notify:
			case <-r.Context().Done():
				s.eng.abort(sq)
				return
			}
		}
		writeJSON(w, http.StatusOK, st.whole(n, len(ids)))
		return
	}
	usage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	s.stream(r.Context(), w, st, sq, n, len(ids), disconnectAt, usage)
}

// stream writes a streamed answer as the engine emits its tokens, with the
// faults asked for: a stall after fault_stall_after tokens, a dropped
// connection at disconnectAt. A client that leaves aborts the sequence.
func (s *Server) stream(ctx context.Context, w http.ResponseWriter, st *streamer, sq *seq, n, promptTokens, disconnectAt int, usage bool) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	fl, _ := w.(http.Flusher)
	flush := func() {
		if fl != nil {
			fl.Flush()
		}
	}
	written := 0
	for {
		select {
		case <-sq.notify:
		case <-ctx.Done():
			s.eng.abort(sq)
			return
		}
		upto := int(sq.emitted.Load())
		done := sq.done.Load()
		for written < upto {
			if st.chat && written == 0 {
				st.roleChunk()
			}
			st.token(TokenText(sq.id, written), written == n-1)
			written++
			if st.err != nil {
				s.eng.abort(sq)
				return
			}
			if s.cfg.FaultStallAfter > 0 && written >= s.cfg.FaultStallAfter {
				flush()
				<-ctx.Done() // hang, as a stuck engine does, until the client gives up
				s.eng.abort(sq)
				return
			}
			if written == disconnectAt {
				flush()
				if hj, ok := w.(http.Hijacker); ok {
					if conn, _, err := hj.Hijack(); err == nil {
						conn.Close()
					}
				}
				s.eng.abort(sq)
				return
			}
		}
		flush()
		if done && written >= upto {
			if usage {
				st.usage(promptTokens, n)
			}
			st.done()
			flush()
			return
		}
	}
}

// streamer writes the SSE chunks of one response.
type streamer struct {
	w       http.ResponseWriter
	chat    bool
	model   string
	id      int64
	created int64
	buf     []byte
	err     error
}

func (st *streamer) head() {
	st.buf = append(st.buf[:0], `data: {"id":"`...)
	if st.chat {
		st.buf = append(st.buf, "chatcmpl-"...)
	} else {
		st.buf = append(st.buf, "cmpl-"...)
	}
	st.buf = strconv.AppendInt(st.buf, st.id, 10)
	if st.chat {
		st.buf = append(st.buf, `","object":"chat.completion.chunk","created":`...)
	} else {
		st.buf = append(st.buf, `","object":"text_completion","created":`...)
	}
	st.buf = strconv.AppendInt(st.buf, st.created, 10)
	st.buf = append(st.buf, `,"model":`...)
	st.buf = strconv.AppendQuote(st.buf, st.model)
}

func (st *streamer) write() {
	if st.err == nil {
		_, st.err = st.w.Write(st.buf)
	}
}

func (st *streamer) roleChunk() {
	st.head()
	st.buf = append(st.buf, `,"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}`+"\n\n"...)
	st.write()
}

func (st *streamer) token(text string, last bool) {
	st.head()
	if st.chat {
		st.buf = append(st.buf, `,"choices":[{"index":0,"delta":{"content":`...)
		st.buf = strconv.AppendQuote(st.buf, text)
		st.buf = append(st.buf, `},"logprobs":null,"finish_reason":`...)
	} else {
		st.buf = append(st.buf, `,"choices":[{"index":0,"text":`...)
		st.buf = strconv.AppendQuote(st.buf, text)
		st.buf = append(st.buf, `,"logprobs":null,"finish_reason":`...)
	}
	if last {
		st.buf = append(st.buf, `"length"`...)
	} else {
		st.buf = append(st.buf, `null`...)
	}
	st.buf = append(st.buf, "}]}\n\n"...)
	st.write()
}

func (st *streamer) usage(prompt, completion int) {
	st.head()
	st.buf = append(st.buf, `,"choices":[],"usage":{"prompt_tokens":`...)
	st.buf = strconv.AppendInt(st.buf, int64(prompt), 10)
	st.buf = append(st.buf, `,"total_tokens":`...)
	st.buf = strconv.AppendInt(st.buf, int64(prompt+completion), 10)
	st.buf = append(st.buf, `,"completion_tokens":`...)
	st.buf = strconv.AppendInt(st.buf, int64(completion), 10)
	st.buf = append(st.buf, "}}\n\n"...)
	st.write()
}

func (st *streamer) done() {
	st.buf = append(st.buf[:0], "data: [DONE]\n\n"...)
	st.write()
}

func (st *streamer) whole(n, prompt int) map[string]any {
	var b strings.Builder
	for i := range n {
		b.WriteString(TokenText(st.id, i))
	}
	usage := map[string]int{"prompt_tokens": prompt, "completion_tokens": n, "total_tokens": prompt + n}
	if st.chat {
		return map[string]any{"id": fmt.Sprintf("chatcmpl-%d", st.id), "object": "chat.completion", "created": st.created, "model": st.model,
			"choices": []map[string]any{{"index": 0, "message": map[string]string{"role": "assistant", "content": b.String()}, "finish_reason": "length"}},
			"usage":   usage}
	}
	return map[string]any{"id": fmt.Sprintf("cmpl-%d", st.id), "object": "text_completion", "created": st.created, "model": st.model,
		"choices": []map[string]any{{"index": 0, "text": b.String(), "finish_reason": "length"}}, "usage": usage}
}

func (s *Server) tokenize(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Prompt           *string   `json:"prompt"`
		Messages         []Message `json:"messages"`
		AddSpecialTokens *bool     `json:"add_special_tokens"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, apiError{http.StatusBadRequest, "the body is not valid JSON: " + err.Error()})
		return
	}
	var ids []int
	switch {
	case req.Messages != nil:
		ids = chatTemplate(req.Messages)
	case req.Prompt != nil:
		ids = Tokenize(*req.Prompt)
		if req.AddSpecialTokens == nil || *req.AddSpecialTokens {
			ids = append([]int{BOS}, ids...)
		}
	default:
		writeError(w, apiError{http.StatusBadRequest, "give prompt or messages"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": len(ids), "max_model_len": s.maxModelLen, "tokens": ids})
}

func (s *Server) detokenize(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Tokens []int `json:"tokens"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, apiError{http.StatusBadRequest, "the body is not valid JSON: " + err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"prompt": Detokenize(req.Tokens)})
}
