// Package openai is a streaming client for OpenAI-compatible servers
// (/v1/completions and /v1/chat/completions with SSE). It times every content
// chunk as it is read and turns every failure into an error class on the
// request's record.
package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/perfgate/perfgate/internal/record"
)

// Client sends requests to one server.
type Client struct {
	base    string
	apiKey  string
	hc      *http.Client
	clock   record.Clock
	readers sync.Pool
}

// Options configure a Client.
type Options struct {
	BaseURL string // e.g. http://127.0.0.1:8000 (without /v1)
	APIKey  string // sent as a bearer token when set
	// MaxConns is the number of requests expected in flight at once; the
	// connection pool keeps that many idle connections so none is re-dialled
	// under load. There is no cap on open connections.
	MaxConns int
	// Clock is the run clock that request times are read from; a new one
	// starts when it is unset.
	Clock record.Clock
}

// New returns a client for the server at o.BaseURL.
func New(o Options) *Client {
	conns := max(o.MaxConns, 16)
	tr := &http.Transport{
		Proxy:               nil, // benchmarks talk to the server directly
		DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     0,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
		WriteBufferSize:     16 << 10,
		ReadBufferSize:      16 << 10,
	}
	if o.Clock.Start.IsZero() {
		o.Clock = record.NewClock()
	}
	c := &Client{
		base:   strings.TrimRight(o.BaseURL, "/"),
		apiKey: o.APIKey,
		hc:     &http.Client{Transport: tr},
		clock:  o.Clock,
	}
	c.readers.New = func() any { return NewSSEReader(nil) }
	return c
}

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Clock is the clock request times are read from.
func (c *Client) Clock() record.Clock { return c.clock }

// BaseURL is the server's address.
func (c *Client) BaseURL() string { return c.base }

// Path of each API.
func Path(api string) string {
	if api == "chat" {
		return "/v1/chat/completions"
	}
	return "/v1/completions"
}

var errRequestTimeout = errors.New("request timeout")

// Stream sends one streaming request with the JSON body to path and fills the
// timing, usage and error fields of rec. Failures are recorded in rec, never
// returned: a failed request is data. ctx canceled means perfgate canceled
// the request (class canceled); timeout bounds the whole request (class
// timeout).
func (c *Client) Stream(ctx context.Context, path string, body []byte, timeout time.Duration, rec *record.Record) {
	rctx, cancel := context.WithTimeoutCause(ctx, timeout, errRequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		rec.SentUS = c.clock.Now()
		rec.EndUS = rec.SentUS
		fail(rec, record.ErrConnect, err.Error())
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	rec.SentUS = c.clock.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		rec.EndUS = c.clock.Now()
		c.failCtx(ctx, rctx, rec, record.ErrConnect, err)
		return
	}
	defer resp.Body.Close()
	rec.Status = resp.StatusCode
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
		rec.EndUS = c.clock.Now()
		fail(rec, statusClass(resp.StatusCode), fmt.Sprintf("HTTP %d: %s", resp.StatusCode, oneLine(msg)))
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			rec.ErrorMsg += " (Retry-After: " + ra + ")"
		}
		return
	}
	sr := c.readers.Get().(*SSEReader)
	sr.Reset(resp.Body)
	defer func() { sr.Reset(nil); c.readers.Put(sr) }()
	c.readStream(ctx, rctx, sr, rec)
}

func (c *Client) readStream(ctx, rctx context.Context, sr *SSEReader, rec *record.Record) {
	var ch chunk
	done := false
	for {
		data, err := sr.Next()
		now := c.clock.Now()
		if err != nil {
			rec.DoneUS = now
			if rec.EndUS == 0 {
				rec.EndUS = now
			}
			if err == io.EOF {
				if !done {
					fail(rec, record.ErrStreamBroken, "the stream ended without data: [DONE]")
				}
			} else {
				c.failCtx(ctx, rctx, rec, record.ErrStreamBroken, err)
			}
			return
		}
		if done {
			continue // nothing may follow [DONE]; read on to the end of the body
		}
		if bytes.Equal(data, doneMarker) {
			done = true
			if rec.UsageMissing = rec.OutputTokens == 0 && rec.PromptTokens == 0; rec.UsageMissing {
				rec.OutputTokens = len(rec.ChunkUS)
			}
			continue
		}
		ch.reset()
		if err := json.Unmarshal(data, &ch); err != nil {
			rec.EndUS = now
			fail(rec, record.ErrMalformed, fmt.Sprintf("chunk %d is not JSON: %v: %s", len(rec.ChunkUS)+1, err, clip(data, 200)))
			return
		}
		if ch.Error != nil {
			rec.EndUS = now
			fail(rec, ch.Error.class(), "error in stream: "+ch.Error.message())
			return
		}
		if ch.hasContent() {
			if len(rec.ChunkUS) == 0 {
				rec.FirstTokenUS = now
			}
			rec.ChunkUS = append(rec.ChunkUS, now-rec.SentUS)
			rec.EndUS = now
		}
		if ch.Usage != nil {
			rec.PromptTokens = ch.Usage.PromptTokens
			rec.OutputTokens = ch.Usage.CompletionTokens
		}
	}
}

// failCtx records err, unless the context explains it better: perfgate
// canceled the request, or the request timed out.
func (c *Client) failCtx(ctx, rctx context.Context, rec *record.Record, class string, err error) {
	switch {
	case ctx.Err() != nil:
		fail(rec, record.ErrCanceled, "canceled by perfgate: "+context.Cause(ctx).Error())
	case errors.Is(context.Cause(rctx), errRequestTimeout):
		fail(rec, record.ErrTimeout, "the request timeout passed")
	default:
		fail(rec, class, err.Error())
	}
}

func fail(rec *record.Record, class, msg string) {
	rec.Error = class
	rec.ErrorMsg = msg
}

func statusClass(code int) string {
	switch {
	case code == http.StatusTooManyRequests:
		return record.ErrHTTP429
	case code >= 500:
		return record.ErrHTTP5xx
	default:
		return record.ErrHTTP4xx
	}
}

var doneMarker = []byte("[DONE]")

// chunk holds the parts of a streamed completion chunk that perfgate reads.
type chunk struct {
	Choices []struct {
		Text  *string `json:"text"`
		Delta struct {
			Content          *string `json:"content"`
			ReasoningContent *string `json:"reasoning_content"`
		} `json:"delta"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
	Error *streamError `json:"error"`
	// vLLM (and others) may send {"object": "error", "message": ...} bare.
	Object  string `json:"object"`
	Message string `json:"message"`
	Code    any    `json:"code"`
}

func (c *chunk) reset() {
	c.Choices = c.Choices[:0]
	c.Usage = nil
	c.Error = nil
	c.Object, c.Message, c.Code = "", "", nil
}

// hasContent reports whether the chunk carries generated text: completion
// text, chat content or reasoning content that is not empty. A chat stream's
// first chunk (the role, with empty content) is not a token.
func (c *chunk) hasContent() bool {
	for _, ch := range c.Choices {
		if (ch.Text != nil && *ch.Text != "") ||
			(ch.Delta.Content != nil && *ch.Delta.Content != "") ||
			(ch.Delta.ReasoningContent != nil && *ch.Delta.ReasoningContent != "") {
			return true
		}
	}
	return false
}

type streamError struct {
	Message string `json:"message"`
	Code    any    `json:"code"`
	Type    string `json:"type"`
}

func (e *streamError) message() string {
	if e.Message != "" {
		return e.Message
	}
	return e.Type
}

func (e *streamError) class() string {
	var code int
	switch v := e.Code.(type) {
	case float64:
		code = int(v)
	case string:
		fmt.Sscan(v, &code)
	}
	if code >= 400 {
		return statusClass(code)
	}
	return record.ErrHTTP5xx
}

// UnmarshalJSON accepts both {"error": {...}} and the bare {"object": "error"} form.
func (c *chunk) UnmarshalJSON(b []byte) error {
	type plain chunk
	if err := json.Unmarshal(b, (*plain)(c)); err != nil {
		return err
	}
	if c.Error == nil && c.Object == "error" {
		c.Error = &streamError{Message: c.Message, Code: c.Code}
	}
	return nil
}

func oneLine(b []byte) string { return strings.Join(strings.Fields(string(clip(b, 300))), " ") }

func clip(b []byte, n int) []byte {
	if len(b) > n {
		return append(append([]byte(nil), b[:n]...), "..."...)
	}
	return b
}
