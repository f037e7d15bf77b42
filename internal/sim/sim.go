// Package sim is perfgate's embedded stand-in for a vLLM server. It serves the
// OpenAI endpoints with SSE streaming and usage, so every test and the
// quickstart run without a GPU.
//
// This first model is deliberately simple: at most MaxNumSeqs sequences run at
// once (the rest wait in a FIFO queue, as in vLLM), a sequence's first token
// arrives TTFT after it is admitted, and each further token ITL later. The
// output is always max_tokens long (as with ignore_eos).
package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Config sets up a simulator.
type Config struct {
	Model      string        // served model name
	MaxNumSeqs int           // sequences running at once
	TTFT       time.Duration // admission to first token
	ITL        time.Duration // between tokens
	MaxTokens  int           // default max_tokens when a request sets none (16, as OpenAI)
}

// Version is what GET /version answers.
const Version = "perfgate-sim-0.1"

// Server is a simulator. Its Handler serves the HTTP API.
type Server struct {
	cfg   Config
	slots chan struct{}
	mux   *http.ServeMux
	ids   atomic.Int64

	running, waiting        atomic.Int64
	promptTokens, genTokens atomic.Int64
	success, aborted        atomic.Int64
}

// New returns a simulator for cfg, with defaults for unset values.
func New(cfg Config) *Server {
	if cfg.Model == "" {
		cfg.Model = "sim-model"
	}
	if cfg.MaxNumSeqs <= 0 {
		cfg.MaxNumSeqs = 256
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = 16
	}
	s := &Server{cfg: cfg, slots: make(chan struct{}, cfg.MaxNumSeqs), mux: http.NewServeMux()}
	s.mux.HandleFunc("POST /v1/completions", s.completions)
	s.mux.HandleFunc("POST /v1/chat/completions", s.chat)
	s.mux.HandleFunc("GET /v1/models", s.models)
	s.mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {})
	s.mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"version": Version})
	})
	s.mux.HandleFunc("POST /tokenize", s.tokenize)
	s.mux.HandleFunc("GET /metrics", s.metrics)
	return s
}

// Handler serves the simulator's API.
func (s *Server) Handler() http.Handler { return s.mux }

// Running is a simulator listening on a loopback port.
type Running struct {
	URL string
	srv *http.Server
	Sim *Server
}

// Start serves a new simulator on a free 127.0.0.1 port.
func Start(cfg Config) (*Running, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	s := New(cfg)
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	return &Running{URL: "http://" + ln.Addr().String(), srv: hs, Sim: s}, nil
}

// Close stops the server and ends every stream.
func (r *Running) Close() error {
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
	typ := "BadRequestError"
	if e.status == http.StatusNotFound {
		typ = "NotFoundError"
	}
	writeJSON(w, e.status, map[string]any{"error": map[string]any{"message": e.msg, "type": typ, "code": e.status}})
}

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []map[string]any{
		{"id": s.cfg.Model, "object": "model", "owned_by": "perfgate-sim", "max_model_len": 1 << 20},
	}})
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

func (s *Server) parse(r *http.Request, chat bool) (request, int, *apiError) {
	var req request
	if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<20)).Decode(&req); err != nil {
		return req, 0, &apiError{http.StatusBadRequest, "the body is not valid JSON: " + err.Error()}
	}
	if req.Model != s.cfg.Model {
		return req, 0, &apiError{http.StatusNotFound, fmt.Sprintf("The model `%s` does not exist.", req.Model)}
	}
	var prompt int
	if chat {
		if len(req.Messages) == 0 {
			return req, 0, &apiError{http.StatusBadRequest, "messages must not be empty"}
		}
		for _, m := range req.Messages {
			var text string
			if err := json.Unmarshal(m.Content, &text); err != nil {
				return req, 0, &apiError{http.StatusBadRequest, "message content must be a string"}
			}
			prompt += CountTokens(text) + 4 // a chat template adds a few tokens per message
		}
	} else {
		n, err := promptTokens(req.Prompt)
		if err != nil {
			return req, 0, &apiError{http.StatusBadRequest, err.Error()}
		}
		prompt = n
	}
	n := s.cfg.MaxTokens
	if req.MaxCompletion != nil {
		n = *req.MaxCompletion
	} else if req.MaxTokens != nil {
		n = *req.MaxTokens
	}
	if n < 1 {
		return req, 0, &apiError{http.StatusBadRequest, "max_tokens must be at least 1"}
	}
	req.MaxTokens = &n
	return req, prompt, nil
}

func promptTokens(raw json.RawMessage) (int, error) {
	var text string
	if err := json.Unmarshal(raw, &text); err == nil {
		return CountTokens(text), nil
	}
	var ids []int
	if err := json.Unmarshal(raw, &ids); err == nil && len(ids) > 0 {
		return len(ids), nil
	}
	return 0, errors.New("prompt must be a string or a non-empty list of token ids")
}

func (s *Server) completions(w http.ResponseWriter, r *http.Request) { s.serve(w, r, false) }
func (s *Server) chat(w http.ResponseWriter, r *http.Request)        { s.serve(w, r, true) }

func (s *Server) serve(w http.ResponseWriter, r *http.Request, chat bool) {
	req, prompt, aerr := s.parse(r, chat)
	if aerr != nil {
		writeError(w, *aerr)
		return
	}
	ctx := r.Context()
	s.waiting.Add(1)
	select {
	case s.slots <- struct{}{}:
		s.waiting.Add(-1)
	case <-ctx.Done():
		s.waiting.Add(-1)
		s.aborted.Add(1)
		return
	}
	s.running.Add(1)
	defer func() { <-s.slots; s.running.Add(-1) }()
	s.promptTokens.Add(int64(prompt))

	id := s.ids.Add(1)
	n := *req.MaxTokens
	st := &streamer{w: w, chat: chat, model: s.cfg.Model, id: id, created: time.Now().Unix()}
	admitted := time.Now()
	if !req.Stream {
		if !sleepUntil(ctx, admitted.Add(s.cfg.TTFT+time.Duration(n-1)*s.cfg.ITL)) {
			s.aborted.Add(1)
			return
		}
		s.genTokens.Add(int64(n))
		s.success.Add(1)
		writeJSON(w, http.StatusOK, st.whole(id, n, prompt))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	fl, _ := w.(http.Flusher)
	if chat {
		st.roleChunk()
	}
	for i := 0; i < n; i++ {
		if !sleepUntil(ctx, admitted.Add(s.cfg.TTFT+time.Duration(i)*s.cfg.ITL)) {
			s.aborted.Add(1)
			return
		}
		st.token(tokenText(id, i), i == n-1)
		if fl != nil {
			fl.Flush()
		}
		if st.err != nil {
			s.aborted.Add(1)
			return
		}
		s.genTokens.Add(1)
	}
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		st.usage(prompt, n)
	}
	st.done()
	s.success.Add(1)
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
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

func (st *streamer) whole(id int64, n, prompt int) map[string]any {
	var b strings.Builder
	for i := range n {
		b.WriteString(tokenText(id, i))
	}
	usage := map[string]int{"prompt_tokens": prompt, "completion_tokens": n, "total_tokens": prompt + n}
	if st.chat {
		return map[string]any{"id": fmt.Sprintf("chatcmpl-%d", id), "object": "chat.completion", "created": st.created, "model": st.model,
			"choices": []map[string]any{{"index": 0, "message": map[string]string{"role": "assistant", "content": b.String()}, "finish_reason": "length"}},
			"usage":   usage}
	}
	return map[string]any{"id": fmt.Sprintf("cmpl-%d", id), "object": "text_completion", "created": st.created, "model": st.model,
		"choices": []map[string]any{{"index": 0, "text": b.String(), "finish_reason": "length"}}, "usage": usage}
}

func (s *Server) tokenize(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Prompt string `json:"prompt"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, apiError{http.StatusBadRequest, "the body is not valid JSON: " + err.Error()})
		return
	}
	ids := Tokenize(req.Prompt)
	writeJSON(w, http.StatusOK, map[string]any{"count": len(ids), "max_model_len": 1 << 20, "tokens": ids})
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	m := s.cfg.Model
	fmt.Fprintf(w, "# HELP vllm:num_requests_running Number of requests in model execution batches.\n# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{model_name=%q} %d\n", m, s.running.Load())
	fmt.Fprintf(w, "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting{model_name=%q} %d\n", m, s.waiting.Load())
	fmt.Fprintf(w, "# HELP vllm:prompt_tokens_total Number of prefill tokens processed.\n# TYPE vllm:prompt_tokens_total counter\nvllm:prompt_tokens_total{model_name=%q} %d\n", m, s.promptTokens.Load())
	fmt.Fprintf(w, "# HELP vllm:generation_tokens_total Number of generation tokens processed.\n# TYPE vllm:generation_tokens_total counter\nvllm:generation_tokens_total{model_name=%q} %d\n", m, s.genTokens.Load())
	fmt.Fprintf(w, "# HELP vllm:request_success_total Count of successfully processed requests.\n# TYPE vllm:request_success_total counter\nvllm:request_success_total{finished_reason=\"length\",model_name=%q} %d\n", m, s.success.Load())
}

// The toy tokenizer: one token per whitespace-separated word. A word's id is
// its index in the vocabulary when it has one there, and otherwise a hash in
// [vocabSize, 32000). Generated text is one vocabulary word per token.
const vocabSize = 1000

var vocab = func() []string {
	v := make([]string, vocabSize)
	for i := range v {
		v[i] = "w" + strconv.Itoa(i)
	}
	return v
}()

// CountTokens is the toy tokenizer's token count of text.
func CountTokens(text string) int { return len(strings.Fields(text)) }

// Tokenize maps text to the toy tokenizer's ids.
func Tokenize(text string) []int {
	words := strings.Fields(text)
	ids := make([]int, len(words))
	for i, w := range words {
		if n, err := strconv.Atoi(strings.TrimPrefix(w, "w")); err == nil && strings.HasPrefix(w, "w") && n < vocabSize && "w"+strconv.Itoa(n) == w {
			ids[i] = n
			continue
		}
		h := fnv.New32a()
		h.Write([]byte(w))
		ids[i] = vocabSize + int(h.Sum32()%(32000-vocabSize))
	}
	return ids
}

func tokenText(id int64, i int) string { return " " + vocab[(int(id)*31+i)%vocabSize] }
