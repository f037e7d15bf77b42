package openai

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/timingtest"
)

func textChunk(s string) string {
	return fmt.Sprintf("data: {\"choices\":[{\"index\":0,\"text\":%q}]}\n\n", s)
}

const usageChunk = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":3}}\n\n"

func stream(t *testing.T, h http.HandlerFunc) (*Client, func()) {
	t.Helper()
	srv := httptest.NewServer(h)
	c := New(Options{BaseURL: srv.URL, Clock: record.NewClock()})
	return c, func() { c.Close(); srv.Close() }
}

func run(c *Client, timeout time.Duration) *record.Record {
	rec := &record.Record{}
	c.Stream(context.Background(), "/v1/completions", []byte(`{}`), timeout, rec)
	return rec
}

func TestStreamTimingAndUsage(t *testing.T) {
	const ttft, gap = 30 * time.Millisecond, 15 * time.Millisecond
	// What the server did, on its own clock: when the request arrived and
	// when each chunk went out (its sleeps overshoot on a busy machine).
	var mu sync.Mutex
	var arrived time.Time
	var sent []time.Time
	c, done := stream(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrived = time.Now()
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		time.Sleep(ttft)
		for i, s := range []string{"a", "b", "c"} {
			if i > 0 {
				time.Sleep(gap)
			}
			mu.Lock()
			sent = append(sent, time.Now())
			mu.Unlock()
			fmt.Fprint(w, textChunk(s))
			fl.Flush()
		}
		fmt.Fprint(w, usageChunk+"data: [DONE]\n\n")
	})
	defer done()
	mon := timingtest.Start()
	rec := run(c, 5*time.Second)
	jitter := mon.Stop()
	if !rec.OK() {
		t.Fatalf("failed: %s %s", rec.Error, rec.ErrorMsg)
	}
	if rec.PromptTokens != 11 || rec.OutputTokens != 3 || rec.UsageMissing {
		t.Errorf("usage: %+v", rec)
	}
	if len(rec.ChunkUS) != 3 {
		t.Fatalf("chunks: %v", rec.ChunkUS)
	}
	// Measured against what the server did, within the target plus what
	// this machine's scheduler added while the request ran — both ways: a
	// late read of one chunk lengthens the gap before it and shortens the
	// one after (a one-sided bound failed 5 runs in 100 under load).
	mu.Lock()
	defer mu.Unlock()
	tol := timingtest.Tolerance(2*timingTolerance, jitter)
	within := func(name string, got, want time.Duration) {
		if d := got - want; d < -tol || d > tol {
			t.Errorf("%s = %v, the server's %v (within %v)", name, got, want, tol)
		}
	}
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	within("TTFT", us(rec.TTFTUS()), sent[0].Sub(arrived))
	within("gap 1", us(rec.ChunkUS[1]-rec.ChunkUS[0]), sent[1].Sub(sent[0]))
	within("gap 2", us(rec.ChunkUS[2]-rec.ChunkUS[1]), sent[2].Sub(sent[1]))
	if rec.FirstTokenUS != rec.SentUS+rec.ChunkUS[0] || rec.EndUS != rec.SentUS+rec.ChunkUS[2] {
		t.Errorf("absolute times disagree: %+v", rec)
	}
}

func TestChatRoleChunkIsNotAToken(t *testing.T) {
	c, done := stream(t, func(w http.ResponseWriter, r *http.Request) {
		fl := w.(http.Flusher)
		fmt.Fprint(w, "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n")
		fl.Flush()
		time.Sleep(20 * time.Millisecond)
		fmt.Fprint(w, "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n")
		fmt.Fprint(w, "data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"hm\"}}]}\n\n")
		fmt.Fprint(w, "data: [DONE]\n\n")
	})
	defer done()
	rec := run(c, time.Second)
	if !rec.OK() || len(rec.ChunkUS) != 2 || rec.TTFTUS() < 19000 {
		t.Fatalf("got %+v", rec)
	}
	if !rec.UsageMissing || rec.OutputTokens != 2 {
		t.Errorf("without usage the chunk count stands in, flagged: %+v", rec)
	}
}

func TestErrorClasses(t *testing.T) {
	cases := []struct {
		name    string
		h       http.HandlerFunc
		timeout time.Duration
		class   string
		msg     string
	}{
		{"500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) }, time.Second, record.ErrHTTP5xx, "HTTP 500: boom"},
		{"429", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "3")
			http.Error(w, "slow down", 429)
		}, time.Second, record.ErrHTTP429, "Retry-After: 3"},
		{"400", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "bad", 400) }, time.Second, record.ErrHTTP4xx, "HTTP 400"},
		{"no done", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, textChunk("a")) }, time.Second, record.ErrStreamBroken, "without data: [DONE]"},
		{"malformed", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, textChunk("a")+"data: {nope\n\n") }, time.Second, record.ErrMalformed, "chunk 2 is not JSON"},
		{"error object", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "data: {\"error\":{\"message\":\"overloaded\",\"code\":503}}\n\n")
		}, time.Second, record.ErrHTTP5xx, "overloaded"},
		{"bare error object", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "data: {\"object\":\"error\",\"message\":\"too long\",\"code\":400}\n\n")
		}, time.Second, record.ErrHTTP4xx, "too long"},
		{"stall", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, textChunk("a"))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}, 100 * time.Millisecond, record.ErrTimeout, "timeout"},
		{"disconnect", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, textChunk("a"))
			w.(http.Flusher).Flush()
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}, time.Second, record.ErrStreamBroken, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, done := stream(t, tc.h)
			defer done()
			rec := run(c, tc.timeout)
			if rec.Error != tc.class || !strings.Contains(rec.ErrorMsg, tc.msg) {
				t.Errorf("got %q %q, want %q containing %q", rec.Error, rec.ErrorMsg, tc.class, tc.msg)
			}
			if rec.EndUS < rec.SentUS {
				t.Errorf("end before send: %+v", rec)
			}
		})
	}
}

func TestConnectRefused(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	c := New(Options{BaseURL: "http://" + addr, Clock: record.NewClock()})
	rec := run(c, time.Second)
	if rec.Error != record.ErrConnect {
		t.Errorf("got %q %q", rec.Error, rec.ErrorMsg)
	}
}

func TestCanceledByPerfgate(t *testing.T) {
	flushed := make(chan struct{}, 1)
	c, done := stream(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, textChunk("a"))
		w.(http.Flusher).Flush()
		flushed <- struct{}{}
		<-r.Context().Done()
	})
	defer done()
	rec := &record.Record{}
	// Cancel 100 ms after the chunk went out: on a calm machine the client
	// has it by then; a stall could make the cancel win the race.
	timingtest.Calm(t, 50*time.Millisecond, func() {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			<-flushed
			time.Sleep(100 * time.Millisecond)
			cancel()
		}()
		*rec = record.Record{}
		c.Stream(ctx, "/v1/completions", []byte(`{}`), time.Minute, rec)
	})
	if rec.Error != record.ErrCanceled || len(rec.ChunkUS) != 1 || !strings.Contains(rec.ErrorMsg, "canceled by perfgate") {
		t.Errorf("got %+v", rec)
	}
}

func TestServerHelpers(t *testing.T) {
	c, done := stream(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/models":
			fmt.Fprint(w, `{"object":"list","data":[{"id":"m1"},{"id":"m2"}]}`)
		case "/tokenize":
			fmt.Fprint(w, `{"count":5,"tokens":[1,2,3,4,5]}`)
		case "/version":
			fmt.Fprint(w, `{"version":"0.9.1"}`)
		default:
			http.NotFound(w, r)
		}
	})
	defer done()
	ctx := context.Background()
	if m, err := c.Models(ctx); err != nil || len(m) != 2 || m[0] != "m1" {
		t.Errorf("models: %v %v", m, err)
	}
	if n, err := c.Tokenize(ctx, "m1", "a b c"); err != nil || n != 5 {
		t.Errorf("tokenize: %v %v", n, err)
	}
	if v := c.Version(ctx); v != "0.9.1" {
		t.Errorf("version %q", v)
	}
	if err := c.Health(ctx); err == nil {
		t.Error("health on a server without /health must fail")
	}
}

// A stream is complete at [DONE] (or at the final usage chunk): what the
// connection does afterwards — linger, reset — is not the request's
// failure, and the request ends where the answer did.
func TestDoneEndsTheRequest(t *testing.T) {
	t.Parallel() // waits on processes, not the CPU
	hijackReset := func(w http.ResponseWriter) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				tc.SetLinger(0) // close with a reset
			}
			conn.Close()
		}
	}
	cases := []struct {
		name  string
		after func(w http.ResponseWriter)
		final string
	}{
		{"done then linger 2s", func(http.ResponseWriter) { time.Sleep(2 * time.Second) }, usageChunk + "data: [DONE]\n\n"},
		{"done then reset", hijackReset, usageChunk + "data: [DONE]\n\n"},
		{"usage chunk then reset, no done", hijackReset, usageChunk},
		{"usage chunk then linger, no done", func(http.ResponseWriter) { time.Sleep(2 * time.Second) }, usageChunk},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each its own server; two of them linger 2 s
			c, done := stream(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				fmt.Fprint(w, textChunk("a")+textChunk("b")+textChunk("c")+tc.final)
				w.(http.Flusher).Flush()
				tc.after(w)
			})
			defer done()
			start := time.Now()
			rec := run(c, 10*time.Second)
			if !rec.OK() || rec.OutputTokens != 3 {
				t.Fatalf("a complete answer failed: %s %s (%d tokens)", rec.Error, rec.ErrorMsg, rec.OutputTokens)
			}
			// The answer's end, not the connection's: the linger is 2 s.
			if took := time.Since(start); took > time.Second {
				t.Errorf("the request took %v: it waited for the connection", took)
			}
			if rec.DoneUS-rec.SentUS > 1_000_000 {
				t.Errorf("done %d µs after sending", rec.DoneUS-rec.SentUS)
			}
		})
	}
}

// A server that echoes the Authorization header into its error must not
// put the key into the records.
func TestKeyEchoedIsRedacted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad request; you sent "+r.Header.Get("Authorization"), http.StatusBadRequest)
	}))
	defer srv.Close()
	c := New(Options{BaseURL: srv.URL, APIKey: "sk-secret-123456", Clock: record.NewClock()})
	defer c.Close()
	rec := run(c, 5*time.Second)
	if strings.Contains(rec.ErrorMsg, "sk-secret-123456") || !strings.Contains(rec.ErrorMsg, "Bearer [redacted]") {
		t.Errorf("error message %q", rec.ErrorMsg)
	}
}

// A key the server escapes (`\/` for `/`) or that a clip cuts through is
// still removed: the record keeps no run of 8 of its characters.
func TestKeyEscapedOrClippedIsRedacted(t *testing.T) {
	const key = "sk-proj/0123456789abcdefghijklmnopqrstuvwxyz"
	for name, body := range map[string]func(auth string) string{
		"escaped": func(auth string) string {
			return `{"error":"you sent ` + strings.ReplaceAll(auth, "/", `\/`) + `"}`
		},
		// The error text is clipped at 300 bytes: 22 of the key's characters are left.
		"clipped": func(auth string) string { return strings.Repeat("x", 270) + " " + auth },
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, body(r.Header.Get("Authorization")), http.StatusBadRequest)
			}))
			defer srv.Close()
			c := New(Options{BaseURL: srv.URL, APIKey: key, Clock: record.NewClock()})
			defer c.Close()
			rec := run(c, 5*time.Second)
			if strings.Contains(rec.ErrorMsg, "sk-proj") || strings.Contains(rec.ErrorMsg, "0123") || !strings.Contains(rec.ErrorMsg, "[redacted]") {
				t.Errorf("error message %q", rec.ErrorMsg)
			}
		})
	}
}

// A 429's Retry-After is the server's text: a record keeps its first 64
// bytes, not a header of any size in every record.
func TestRetryAfterClipped(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", strings.Repeat("9", 100<<10))
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	c := New(Options{BaseURL: srv.URL, Clock: record.NewClock()})
	defer c.Close()
	rec := run(c, 5*time.Second)
	if rec.Error != record.ErrHTTP429 || len(rec.ErrorMsg) > 200 || !strings.Contains(rec.ErrorMsg, "Retry-After: 9999") {
		t.Errorf("%s: %d bytes: %.200q", rec.Error, len(rec.ErrorMsg), rec.ErrorMsg)
	}
}

// An event over the limit fails the request as malformed, with memory bounded.
func TestEventOverTheLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, textChunk("a"))
		fmt.Fprint(w, "data: "+strings.Repeat("x", 200<<10)+"\n\n")
	}))
	defer srv.Close()
	c := New(Options{BaseURL: srv.URL, MaxEvent: 64 << 10, Clock: record.NewClock()})
	defer c.Close()
	rec := run(c, 5*time.Second)
	if rec.Error != record.ErrMalformed || !strings.Contains(rec.ErrorMsg, "over 65536 bytes") {
		t.Errorf("%s %s", rec.Error, rec.ErrorMsg)
	}
}

// A server that ends its stream properly keeps its connection: ending the
// request at [DONE] must not cost a new connection per request.
func TestConnectionReusedAfterDone(t *testing.T) {
	var conns atomicCount
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, textChunk("a"))
		w.(http.Flusher).Flush()
		fmt.Fprint(w, usageChunk+"data: [DONE]\n\n")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.add()
		}
	}
	srv.Start()
	defer srv.Close()
	c := New(Options{BaseURL: srv.URL, Clock: record.NewClock()})
	defer c.Close()
	for range 20 {
		if rec := run(c, 5*time.Second); !rec.OK() {
			t.Fatalf("%s %s", rec.Error, rec.ErrorMsg)
		}
	}
	if n := conns.get(); n != 1 {
		t.Errorf("%d connections for 20 sequential requests", n)
	}
}

type atomicCount struct {
	mu sync.Mutex
	n  int
}

func (a *atomicCount) add() { a.mu.Lock(); a.n++; a.mu.Unlock() }
func (a *atomicCount) get() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

// A /tokenize or /version that never answers is given up after its own
// timeout, as ErrNoAnswer (the run then falls back to approximate lengths),
// and the version is simply unknown.
func TestHangingCallsAreGivenUp(t *testing.T) {
	defer func(v, k time.Duration) { versionTimeout, tokenizeTimeout = v, k }(versionTimeout, tokenizeTimeout)
	versionTimeout, tokenizeTimeout = 100*time.Millisecond, 100*time.Millisecond
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-stop }))
	defer srv.Close()
	defer close(stop)
	c := New(Options{BaseURL: srv.URL, Clock: record.NewClock()})
	defer c.Close()
	if v := c.Version(context.Background()); v != "" {
		t.Errorf("version %q", v)
	}
	_, err := c.Tokenize(context.Background(), "m", "some words")
	if !errors.Is(err, ErrNoAnswer) {
		t.Errorf("tokenize: %v", err)
	}
}
