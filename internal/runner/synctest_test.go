package runner

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/perfgate/perfgate/internal/openai"
	"github.com/perfgate/perfgate/internal/record"
)

// memNet is a listener whose connections are in-memory pipes, dialled by
// the client: inside a synctest bubble, a request and its answer block on
// channels only, so the fake clock advances exactly by the server's sleeps.
type memNet struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newMemNet() *memNet { return &memNet{conns: make(chan net.Conn), done: make(chan struct{})} }

func (m *memNet) Accept() (net.Conn, error) {
	select {
	case c := <-m.conns:
		return c, nil
	case <-m.done:
		return nil, net.ErrClosed
	}
}

func (m *memNet) Close() error   { m.once.Do(func() { close(m.done) }); return nil }
func (m *memNet) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

func (m *memNet) Dial(ctx context.Context, _, _ string) (net.Conn, error) {
	c, s := net.Pipe()
	select {
	case m.conns <- s:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-m.done:
		return nil, net.ErrClosed
	}
}

// timerWait is pace.Until made of timers only: on the fake clock a wait
// ends exactly at t.
func timerWait(ctx context.Context, t time.Time) bool {
	tm := time.NewTimer(time.Until(t))
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// fakeEngine answers every completion after ttft with tokens chunks gap
// apart, then the usage; inFlight counts the requests it holds, peak the
// most at once.
type fakeEngine struct {
	ttft, gap time.Duration
	tokens    int
	inFlight  atomic.Int64
	peak      atomic.Int64
}

func (f *fakeEngine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for p := f.peak.Load(); n > p && !f.peak.CompareAndSwap(p, n); p = f.peak.Load() {
	}
	w.Header().Set("Content-Type", "text/event-stream")
	fl := w.(http.Flusher)
	time.Sleep(f.ttft)
	for i := range f.tokens {
		if i > 0 {
			time.Sleep(f.gap)
		}
		fmt.Fprint(w, `data: {"choices":[{"text":" x"}]}`+"\n\n")
		fl.Flush()
	}
	fmt.Fprintf(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":16,\"completion_tokens\":%d}}\n\ndata: [DONE]\n\n", f.tokens)
	fl.Flush()
}

// runBubbled runs the scenario against the fake engine on the fake clock
// and returns the records.
func runBubbled(t *testing.T, y string, eng *fakeEngine) ([]record.Record, Result) {
	t.Helper()
	var recs []record.Record
	var res Result
	synctest.Test(t, func(t *testing.T) {
		mn := newMemNet()
		srv := &http.Server{Handler: eng}
		go srv.Serve(mn)
		c := openai.New(openai.Options{BaseURL: "http://engine", Dial: mn.Dial})
		sink := &memSink{}
		var err error
		res, err = Run(context.Background(), Config{Scenario: load(t, base+y), Client: c, Model: "m", Sink: sink, WaitUntil: timerWait})
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		srv.Close()
		mn.Close()
		synctest.Wait()
		recs = sink.recs
	})
	return recs, res
}

// The open loop on a fake clock: every request is sent at its scheduled
// time to the microsecond, and the client reads the server's TTFT and
// every gap exactly — the runner adds nothing of its own.
func TestOpenLoopOnAFakeClock(t *testing.T) {
	eng := &fakeEngine{ttft: 50 * time.Millisecond, gap: 10 * time.Millisecond, tokens: 4}
	recs, _ := runBubbled(t, `
load: {rate: 20, arrival: poisson}
phases: {warmup: {requests: 3}, measure: {requests: 30}}
`, eng)
	if len(recs) != 33 {
		t.Fatalf("%d records, want 33", len(recs))
	}
	measured := 0
	for _, r := range recs {
		if r.Phase == record.PhaseMeasure {
			measured++
		}
		if !r.OK() {
			t.Fatalf("request %d failed: %s %s", r.ID, r.Error, r.ErrorMsg)
		}
		if r.SentUS != r.ScheduledUS {
			t.Errorf("request %d sent %d µs after its time", r.ID, r.SentUS-r.ScheduledUS)
		}
		if r.TTFTUS() != 50_000 {
			t.Errorf("request %d: TTFT %d µs, the server's is 50,000", r.ID, r.TTFTUS())
		}
		for k := 1; k < len(r.ChunkUS); k++ {
			if g := r.ChunkUS[k] - r.ChunkUS[k-1]; g != 10_000 {
				t.Errorf("request %d: gap %d µs, the server's is 10,000", r.ID, g)
			}
		}
		if r.OutputTokens != 4 || r.PromptTokens != 16 {
			t.Errorf("request %d: usage %d/%d", r.ID, r.PromptTokens, r.OutputTokens)
		}
	}
	if measured != 30 {
		t.Errorf("%d measured, want 30", measured)
	}
}

// The closed loop on a fake clock: never more in flight than its
// concurrency, each worker's next request sent the instant the last one
// ended, and the level lasts exactly its rounds of requests.
func TestClosedLoopOnAFakeClock(t *testing.T) {
	eng := &fakeEngine{ttft: 50 * time.Millisecond, gap: 10 * time.Millisecond, tokens: 5}
	recs, res := runBubbled(t, `
load: {concurrency: 3}
phases: {measure: {requests: 12}}
`, eng)
	if len(recs) != 12 {
		t.Fatalf("%d records, want 12", len(recs))
	}
	if p := eng.peak.Load(); p != 3 {
		t.Errorf("at most %d in flight at the server, want exactly the concurrency, 3", p)
	}
	const e2e = 90_000 // 50 ms to the first token, four gaps of 10
	for _, r := range recs {
		if d := r.EndUS - r.SentUS; d != e2e {
			t.Errorf("request %d took %d µs, want %d", r.ID, d, e2e)
		}
	}
	l := res.Levels[0]
	// four rounds of three: the last request ends 360 ms after the first was sent
	if d := l.FinishedUS - l.StartUS; d != 4*e2e {
		t.Errorf("the level took %d µs, want %d (four rounds)", d, 4*e2e)
	}
}
