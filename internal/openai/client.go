package openai

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fastjson"

	"github.com/perfgate/perfgate/internal/numfmt"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/secret"
)

// Client sends requests to one server.
type Client struct {
	base     string
	apiKey   string
	redactor secret.Redactor
	maxEvent int
	hc       *http.Client
	clock    record.Clock
	readers  sync.Pool
	parsers  sync.Pool
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
	// MaxEvent is the largest stream event (or line) taken, in bytes
	// (default DefaultMaxEvent); a larger one fails the request (malformed).
	MaxEvent int
	// Dial makes the connections (nil: TCP). Tests give one that connects
	// in memory, so a run can be driven on a fake clock (testing/synctest).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
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
	if o.Dial != nil {
		tr.DialContext = o.Dial
	}
	if o.Clock.Start.IsZero() {
		o.Clock = record.NewClock()
	}
	c := &Client{
		base:     strings.TrimRight(o.BaseURL, "/"),
		apiKey:   o.APIKey,
		redactor: secret.New(o.APIKey),
		maxEvent: o.MaxEvent,
		hc:       &http.Client{Transport: tr},
		clock:    o.Clock,
	}
	c.readers.New = func() any { return newSSEReader(nil) }
	c.parsers.New = func() any { return new(chunkParser) }
	return c
}

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Clock is the clock request times are read from.
func (c *Client) Clock() record.Clock { return c.clock }

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
	defer c.redact(rec)
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
		if clientSide(err) {
			fail(rec, record.ErrClient, "perfgate's machine could not open a connection: "+err.Error()+
				" (raise the open-file limit, ulimit -n, or lower the load)")
			return
		}
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
			// A header is the server's text: clipped like its body.
			rec.ErrorMsg += " (Retry-After: " + numfmt.Clip(ra, maxHeaderValue) + ")"
		}
		return
	}
	sr := c.readers.Get().(*SSEReader)
	sr.Reset(resp.Body)
	sr.SetMax(c.maxEvent)
	defer func() { sr.Reset(nil); c.readers.Put(sr) }()
	c.readStream(ctx, rctx, cancel, sr, rec)
}

// afterDone is how long the body may take to end after [DONE] (or the
// final usage chunk) before perfgate closes the connection: a server that
// ends the stream properly does so at once and keeps its connection for
// the next request; one that lingers or resets it has still answered.
const afterDone = 20 * time.Millisecond

// maxHeaderValue is the most of a header's value a record keeps.
const maxHeaderValue = 64

// redact removes the API key from what the server sent back: a server that
// echoes the Authorization header — whole, escaped, or clipped through the
// key — must not put it into the records.
func (c *Client) redact(rec *record.Record) {
	rec.ErrorMsg = c.redactor.String(rec.ErrorMsg)
}

func (c *Client) readStream(ctx, rctx context.Context, cancel context.CancelFunc, sr *SSEReader, rec *record.Record) {
	cp := c.parsers.Get().(*chunkParser)
	defer c.parsers.Put(cp)
	done := false
	finish := func(now int64) {
		// The answer is complete: its end is now, whatever the connection does next.
		done = true
		rec.DoneUS = now
		if rec.EndUS == 0 {
			rec.EndUS = now
		}
		if rec.UsageMissing = rec.OutputTokens == 0 && rec.PromptTokens == 0; rec.UsageMissing {
			rec.OutputTokens = len(rec.ChunkUS)
		}
		time.AfterFunc(afterDone, cancel)
	}
	for {
		data, err := sr.Next()
		now := c.clock.Now()
		if done {
			if err != nil {
				return // the end of the body, or the connection after the answer: not the request's failure
			}
			continue // nothing may follow [DONE]; read on to the end of the body
		}
		if err != nil {
			rec.DoneUS = now
			if rec.EndUS == 0 {
				rec.EndUS = now
			}
			switch {
			case err == io.EOF:
				fail(rec, record.ErrStreamBroken, "the stream ended without data: [DONE]")
			case errors.Is(err, ErrEventTooLarge):
				fail(rec, record.ErrMalformed, err.Error())
			default:
				c.failCtx(ctx, rctx, rec, record.ErrStreamBroken, err)
			}
			return
		}
		if bytes.Equal(data, doneMarker) {
			finish(now)
			continue
		}
		ch, err := cp.parse(data)
		if err != nil {
			rec.EndUS = now
			fail(rec, record.ErrMalformed, fmt.Sprintf("chunk %d is not JSON: %v: %s", len(rec.ChunkUS)+1, err, numfmt.Clip(string(data[:min(len(data), 1024)]), 200)))
			return
		}
		if ch.isErr {
			rec.EndUS = now
			fail(rec, errClass(ch.errCode), "error in stream: "+ch.errMsg)
			return
		}
		if ch.content {
			if len(rec.ChunkUS) == 0 {
				rec.FirstTokenUS = now
			}
			rec.ChunkUS = append(rec.ChunkUS, now-rec.SentUS)
			rec.EndUS = now
		}
		if ch.usage {
			rec.PromptTokens = ch.promptTokens
			rec.OutputTokens = ch.completion
			if ch.final {
				finish(now) // the final usage chunk: [DONE] may follow, or not
			}
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

// clientSide says whether a failed dial is the client machine's own: out of
// open files (EMFILE, ENFILE) or of local ports (EADDRNOTAVAIL). Recorded
// as the server's connect error, it made a broken measurement look like a
// server that refuses connections, and the run exited 0.
func clientSide(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.EADDRNOTAVAIL)
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

// chunkInfo is what perfgate reads from a streamed completion chunk.
type chunkInfo struct {
	content                  bool // it carries generated text
	usage                    bool
	final                    bool // usage with no choices: the stream's last chunk
	promptTokens, completion int
	errMsg                   string // an error object in the stream
	errCode                  int
	isErr                    bool
}

// chunkParser decodes chunks with fastjson: it validates the whole JSON text
// and allocates nothing once warm, which matters at one chunk per token.
type chunkParser struct{ p fastjson.Parser }

func (cp *chunkParser) parse(data []byte) (chunkInfo, error) {
	var ci chunkInfo
	v, err := cp.p.ParseBytes(data)
	if err != nil {
		return ci, err
	}
	if v.Type() != fastjson.TypeObject {
		return ci, fmt.Errorf("a chunk must be a JSON object, got %s", v.Type())
	}
	// Generated text: completion text, chat content or reasoning content
	// that is not empty. A chat stream's first chunk (the role, with empty
	// content) is not a token.
	for _, ch := range v.GetArray("choices") {
		if len(ch.GetStringBytes("text")) > 0 ||
			len(ch.GetStringBytes("delta", "content")) > 0 ||
			len(ch.GetStringBytes("delta", "reasoning_content")) > 0 {
			ci.content = true
			break
		}
	}
	if u := v.Get("usage"); u != nil && u.Type() == fastjson.TypeObject {
		ci.usage = true
		ch := v.Get("choices")
		ci.final = ch == nil || ch.Type() == fastjson.TypeArray && len(ch.GetArray()) == 0
		ci.promptTokens = u.GetInt("prompt_tokens")
		ci.completion = u.GetInt("completion_tokens")
	}
	// {"error": {...}}, or vLLM's bare {"object": "error", "message": ...}.
	if e := v.Get("error"); e != nil && e.Type() == fastjson.TypeObject {
		ci.isErr = true
		ci.errMsg = string(e.GetStringBytes("message"))
		if ci.errMsg == "" {
			ci.errMsg = string(e.GetStringBytes("type"))
		}
		ci.errCode = codeOf(e.Get("code"))
	} else if string(v.GetStringBytes("object")) == "error" {
		ci.isErr = true
		ci.errMsg = string(v.GetStringBytes("message"))
		ci.errCode = codeOf(v.Get("code"))
	}
	return ci, nil
}

func codeOf(v *fastjson.Value) int {
	if v == nil {
		return 0
	}
	switch v.Type() {
	case fastjson.TypeNumber:
		return v.GetInt()
	case fastjson.TypeString:
		n, _ := strconv.Atoi(string(v.GetStringBytes()))
		return n
	}
	return 0
}

// errClass maps an in-stream error's code to an error class; an error
// without a code is taken as the server's failure.
func errClass(code int) string {
	if code >= 400 {
		return statusClass(code)
	}
	return record.ErrHTTP5xx
}

func oneLine(b []byte) string {
	return strings.Join(strings.Fields(numfmt.Clip(string(b[:min(len(b), 4096)]), 300)), " ")
}
