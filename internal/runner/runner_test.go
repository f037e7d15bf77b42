package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/perfgate/perfgate/internal/arrival"
	"github.com/perfgate/perfgate/internal/openai"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/scenario"
	"github.com/perfgate/perfgate/internal/sim"
	"github.com/perfgate/perfgate/internal/timingtest"
)

type memSink struct {
	mu   sync.Mutex
	recs []record.Record
	fail error
}

func (m *memSink) Write(r *record.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.recs = append(m.recs, *r)
	return nil
}

func (m *memSink) phase(p string) []record.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []record.Record
	for _, r := range m.recs {
		if r.Phase == p {
			out = append(out, r)
		}
	}
	return out
}

func load(t testing.TB, y string) *scenario.Scenario {
	t.Helper()
	s, err := scenario.Parse("test.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// serverLog is what a delay server saw and did for one request.
type serverLog struct {
	arrived time.Time
	sent    []time.Time // when each content chunk was flushed
}

type logs struct {
	mu  sync.Mutex
	all []*serverLog
}

// delayServer streams n content chunks: the first ttft after the request
// arrives, then one every gap. stall makes it hang after the first chunk.
func delayServer(t *testing.T, ttft, gap time.Duration, n int, stall bool) string {
	url, _ := delayServerLog(t, ttft, gap, n, stall)
	return url
}

// delayServerLog is delayServer that also logs its own send times, so a test
// can compare what perfgate measured with what the server really did.
func delayServerLog(t *testing.T, ttft, gap time.Duration, n int, stall bool) (string, *logs) {
	t.Helper()
	lg := &logs{}
	quit := make(chan struct{}) // closed before the server, so no handler outlives the test
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sl := &serverLog{arrived: start}
		lg.mu.Lock()
		lg.all = append(lg.all, sl)
		lg.mu.Unlock()
		// Read the body: net/http watches for the client going away (and
		// cancels r.Context) only once it has. A client canceled while
		// sending would otherwise leave a stalled handler waiting forever.
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return
		}
		fl := w.(http.Flusher)
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range n {
			time.Sleep(time.Until(start.Add(ttft + time.Duration(i)*gap)))
			fmt.Fprintf(w, "data: {\"choices\":[{\"text\":\" t%d\"}]}\n\n", i)
			fl.Flush()
			lg.mu.Lock()
			sl.sent = append(sl.sent, time.Now())
			lg.mu.Unlock()
			if stall {
				select {
				case <-r.Context().Done():
				case <-quit:
				}
				return
			}
		}
		fmt.Fprintf(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":%d}}\n\ndata: [DONE]\n\n", n)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(quit) }) // cleanups run last-first
	return srv.URL, lg
}

// match finds the server's log of the request sent at sent.
func (lg *logs) match(sent time.Time) *serverLog {
	lg.mu.Lock()
	defer lg.mu.Unlock()
	var best *serverLog
	for _, l := range lg.all {
		if best == nil || absDur(l.arrived.Sub(sent)) < absDur(best.arrived.Sub(sent)) {
			best = l
		}
	}
	return best
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func runWith(t *testing.T, ctx context.Context, s *scenario.Scenario, url string, sink Sink) Result {
	t.Helper()
	c := openai.New(openai.Options{BaseURL: url, MaxConns: 64})
	t.Cleanup(c.Close)
	res, err := Run(ctx, Config{Scenario: s, Client: c, Model: "m", Sink: sink, InterruptGrace: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

const base = `
name: t
seed: 3
workload: {classes: [{input_tokens: 16, output_tokens: 4}]}
`

func TestOpenLoopMeasuresKnownDelays(t *testing.T) {
	const ttft, gap = 30 * time.Millisecond, 10 * time.Millisecond
	url, lg := delayServerLog(t, ttft, gap, 4, false)
	s := load(t, base+`
load: {rate: 20, arrival: constant}
phases: {warmup: {requests: 2}, measure: {requests: 10}}
`)
	sink := &memSink{}
	c := openai.New(openai.Options{BaseURL: url})
	t.Cleanup(c.Close)
	mon := timingtest.Start()
	res, err := Run(context.Background(), Config{Scenario: s, Client: c, Model: "m", Sink: sink})
	jitter := mon.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if res.Issued != 12 || len(sink.recs) != 12 {
		t.Fatalf("issued %d, recorded %d", res.Issued, len(sink.recs))
	}
	meas := sink.phase(record.PhaseMeasure)
	if len(meas) != 10 || len(sink.phase(record.PhaseWarmup)) != 2 {
		t.Fatalf("phases: %d measured", len(meas))
	}
	slices.SortFunc(meas, func(a, b record.Record) int { return int(a.ScheduledUS - b.ScheduledUS) })
	// Within the accuracy target, plus what this machine's scheduler adds right now.
	tol := timingtest.Tolerance(timingTolerance, jitter)
	for i, r := range meas {
		if !r.OK() || r.OutputTokens != 4 || r.PromptTokens != 7 {
			t.Fatalf("record %d: %+v", i, r)
		}
		// What the server really did (its own clock), measured within 2 ms.
		sl := lg.match(c.Clock().At(r.SentUS))
		us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
		if d := us(r.TTFTUS()) - sl.sent[0].Sub(sl.arrived); d < -tol || d > tol {
			t.Errorf("TTFT off by %v (tolerance %v)", d, tol)
		}
		for j := 1; j < len(r.ChunkUS); j++ {
			if d := us(r.ChunkUS[j]-r.ChunkUS[j-1]) - sl.sent[j].Sub(sl.sent[j-1]); d < -tol || d > tol {
				t.Errorf("gap %d off by %v (tolerance %v)", j, d, tol)
			}
		}
		// And the delays the server meant are what it did, give or take its sleep.
		if d := us(r.TTFTUS()) - ttft; d < 0 || d > timingtest.Tolerance(20*time.Millisecond, jitter) {
			t.Errorf("TTFT %v, want about %v", us(r.TTFTUS()), ttft)
		}
		// Constant arrivals every 50 ms: the 3rd arrival (index 2) starts measurement.
		if want := int64(2+i) * 50_000; r.ScheduledUS-res.Levels[0].StartUS != want {
			t.Errorf("request %d scheduled at %d µs, want %d", i, r.ScheduledUS-res.Levels[0].StartUS, want)
		}
		if r.SentUS < r.ScheduledUS {
			t.Errorf("sent before its time: %+v", r)
		}
	}
	lr := res.Levels[0]
	if lr.MeasureStartUS-lr.StartUS != 100_000 || lr.MeasureEndUS-lr.StartUS != 550_000 {
		t.Errorf("window %d..%d", lr.MeasureStartUS-lr.StartUS, lr.MeasureEndUS-lr.StartUS)
	}
}

func TestSameSeedSameTraffic(t *testing.T) {
	url := delayServer(t, time.Millisecond, time.Millisecond, 2, false)
	s := load(t, `
name: t
seed: 11
workload: {classes: [{input_tokens: {dist: uniform, min: 10, max: 500}, output_tokens: {dist: uniform, min: 1, max: 50}}]}
load: {rate: 200}
phases: {measure: {requests: 40}}
`)
	shape := func() ([]int64, []int) {
		sink := &memSink{}
		res := runWith(t, context.Background(), s, url, sink)
		slices.SortFunc(sink.recs, func(a, b record.Record) int { return int(a.ID - b.ID) })
		var at []int64
		var lens []int
		for _, r := range sink.recs {
			at = append(at, r.ScheduledUS-res.Levels[0].StartUS)
			lens = append(lens, r.RequestedInput*1000+r.RequestedOutput)
		}
		return at, lens
	}
	a1, l1 := shape()
	a2, l2 := shape()
	slices.Sort(a1)
	slices.Sort(a2)
	slices.Sort(l1)
	slices.Sort(l2)
	if !slices.Equal(a1, a2) || !slices.Equal(l1, l2) {
		t.Error("the same seed must give the same arrivals and lengths")
	}
}

func TestClosedLoopKeepsConcurrency(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.Model, cfg.TimeScale = "m", 5
	r, err := sim.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s := load(t, base+`
load: {concurrency: 3}
phases: {warmup: {requests: 6}, measure: {requests: 30}}
`)
	sink := &memSink{}
	res := runWith(t, context.Background(), s, r.URL, sink)
	meas := sink.phase(record.PhaseMeasure)
	if len(meas) != 30 || len(sink.phase(record.PhaseWarmup)) != 6 || res.Issued != 36 {
		t.Fatalf("measured %d, issued %d", len(meas), res.Issued)
	}
	// Never more than 3 in flight.
	type ev struct {
		t int64
		d int
	}
	var evs []ev
	for _, r := range sink.recs {
		evs = append(evs, ev{r.SentUS, 1}, ev{r.DoneUS, -1})
	}
	slices.SortFunc(evs, func(a, b ev) int {
		if a.t != b.t {
			return int(a.t - b.t)
		}
		return a.d - b.d
	})
	cur, peak := 0, 0
	for _, e := range evs {
		cur += e.d
		peak = max(peak, cur)
	}
	if peak != 3 {
		t.Errorf("peak in flight %d, want 3", peak)
	}
}

func TestOnEndCancelCancelsInFlight(t *testing.T) {
	url := delayServer(t, 5*time.Millisecond, 0, 1, true) // streams one chunk, then stalls
	s := load(t, base+`
load: {rate: 10, arrival: constant}
phases: {measure: {duration: 1s}, on_end: cancel}
`)
	sink := &memSink{}
	res := runWith(t, context.Background(), s, url, sink)
	if res.Issued != 10 || len(sink.recs) != 10 {
		t.Fatalf("issued %d recorded %d", res.Issued, len(sink.recs))
	}
	// Every request stalls after its first chunk, so all end canceled by the
	// end of the window. On a stalled machine some may be issued only after
	// the window (canceled before sending) or lose the race with their first
	// chunk, so the test asks only that one — the first, sent at the start of
	// a one-second window — kept its chunk.
	kept := 0
	for _, r := range sink.recs {
		if r.Error != record.ErrCanceled || len(r.ChunkUS) > 1 || !strings.HasSuffix(r.ErrorMsg, "the measurement ended (on_end: cancel)") {
			t.Errorf("want canceled at the end of the measurement: %+v", r)
		}
		if len(r.ChunkUS) == 1 {
			kept++
		}
	}
	if kept == 0 {
		t.Errorf("no canceled request kept its first chunk: %+v", sink.recs)
	}
}

func TestDrainTimeoutCancels(t *testing.T) {
	url := delayServer(t, time.Millisecond, 0, 1, true)
	s := load(t, base+`
load: {rate: 50, arrival: constant}
phases: {measure: {requests: 3}, drain_timeout: 100ms}
`)
	sink := &memSink{}
	res := runWith(t, context.Background(), s, url, sink)
	if !res.Levels[0].DrainTimedOut || len(sink.recs) != 3 {
		t.Fatalf("got %+v, %d records", res.Levels[0], len(sink.recs))
	}
	for _, r := range sink.recs {
		if r.Error != record.ErrCanceled {
			t.Errorf("%+v", r)
		}
	}
}

func TestInterruptKeepsEverything(t *testing.T) {
	url, lg := delayServerLog(t, time.Millisecond, 0, 1, true)
	s := load(t, base+`
load: {levels: [20, 40], mode: open, arrival: constant}
phases: {measure: {duration: 10s}}
`)
	sink := &memSink{}
	ctx, cancel := context.WithCancel(context.Background())
	// Interrupt once five requests have reached the server (each stalls
	// after its first chunk), whenever a busy machine gets there.
	start := time.Now()
	var canceledAt time.Time
	poll := make(chan struct{})
	go func() {
		defer close(poll)
		for ctx.Err() == nil {
			lg.mu.Lock()
			n := len(lg.all)
			lg.mu.Unlock()
			if n >= 5 {
				canceledAt = time.Now()
				cancel()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	mon := timingtest.Start()
	res := runWith(t, ctx, s, url, sink)
	jitter := mon.Stop()
	cancel()
	<-poll
	if !res.Interrupted || len(res.Levels) != 1 {
		t.Fatalf("want an interrupted first level: %+v", res)
	}
	if el := time.Since(canceledAt); el > 3*time.Second {
		t.Errorf("took %v to stop", el)
	}
	if len(sink.recs) != res.Issued || res.Issued < 5 {
		t.Errorf("issued %d recorded %d", res.Issued, len(sink.recs))
	}
	lr := res.Levels[0]
	w := time.Duration(lr.MeasureEndUS-lr.MeasureStartUS) * time.Microsecond
	if limit := canceledAt.Sub(start) + timingtest.Tolerance(50*time.Millisecond, jitter); w > limit {
		t.Errorf("the window must end where issuing stopped: got %v, interrupted after %v", w, canceledAt.Sub(start))
	}
}

func TestMaxInFlightRecordsQueueWait(t *testing.T) {
	url := delayServer(t, 40*time.Millisecond, 0, 1, false)
	s := load(t, base+`
load: {rate: 100, arrival: constant, max_in_flight: 1}
phases: {measure: {requests: 4}}
`)
	sink := &memSink{}
	mon := timingtest.Start() // a stalled machine delays issuing: that is schedule delay
	runWith(t, context.Background(), s, url, sink)
	jitter := mon.Stop()
	var waits []time.Duration
	for _, r := range sink.recs {
		waits = append(waits, time.Duration(r.QueueWaitUS)*time.Microsecond)
		if d := time.Duration(r.ScheduleDelayUS()) * time.Microsecond; d > timingtest.Tolerance(20*time.Millisecond, jitter) {
			t.Errorf("queue wait counted as schedule delay (wake-up jitter %v): %+v", jitter, r)
		}
	}
	slices.Sort(waits)
	// Requests every 10 ms into a 40 ms server one at a time: the 4th waits
	// about 90 ms — less if a stall delayed its issue.
	if waits[0] > timingtest.Tolerance(5*time.Millisecond, jitter) || waits[3] < 80*time.Millisecond-2*jitter {
		t.Errorf("queue waits %v (wake-up jitter %v)", waits, jitter)
	}
}

// Arrivals waiting for a slot hold nothing: at 20,000 requests/s into a
// server that answers two at a time every 100 ms, the waiting arrivals are
// the schedule not reached yet, not a goroutine and a request each (they
// grew by gigabytes when a server fell behind); an interrupt while they
// wait ends the level at once.
func TestWaitingArrivalsHoldNothing(t *testing.T) {
	url := delayServer(t, 100*time.Millisecond, 0, 1, false)
	s := load(t, base+`
load: {rate: 20000, max_in_flight: 2}
phases: {measure: {duration: 1h}}
`)
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	most := 0
	stop := make(chan struct{})
	go func() {
		defer cancel()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		end := time.After(1500 * time.Millisecond)
		for {
			select {
			case <-tick.C:
				most = max(most, runtime.NumGoroutine()-before)
			case <-end:
				return
			case <-stop:
				return
			}
		}
	}()
	start := time.Now()
	res := runWith(t, ctx, s, url, &memSink{})
	close(stop)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the interrupted level took %s to end", took)
	}
	if !res.Interrupted {
		t.Error("not interrupted")
	}
	if most > 200 {
		t.Errorf("%d goroutines while arrivals waited for 2 slots", most)
	}
}

func TestSinkFailureStopsTheRun(t *testing.T) {
	url := delayServer(t, time.Millisecond, 0, 1, false)
	s := load(t, base+`
load: {rate: 100}
phases: {measure: {duration: 5s}}
`)
	boom := errors.New("disk full")
	c := openai.New(openai.Options{BaseURL: url})
	defer c.Close()
	start := time.Now()
	_, err := Run(context.Background(), Config{Scenario: s, Client: c, Model: "m", Sink: &memSink{fail: boom}})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Error("a failing sink must stop the run early")
	}
}

// An arrival kind the runner cannot make (a scenario that skipped
// validation) is an error before anything is sent, not a panic mid-run.
func TestUnknownArrivalIsAnError(t *testing.T) {
	s := load(t, base+`
load: {rate: 10}
phases: {measure: {requests: 1}}
`)
	s.Load.Arrival = "no-such-arrival"
	c := openai.New(openai.Options{BaseURL: "http://127.0.0.1:9"})
	defer c.Close()
	sink := &memSink{}
	_, err := Run(context.Background(), Config{Scenario: s, Client: c, Model: "m", Sink: sink})
	if err == nil || !strings.Contains(err.Error(), "no-such-arrival") {
		t.Fatalf("got %v", err)
	}
	if len(sink.recs) != 0 {
		t.Errorf("%d request(s) sent", len(sink.recs))
	}
}

// openPlan is a whole schedule, drawn.
type openPlan struct {
	times                    []time.Duration
	nWarmup                  int
	measureStart, measureEnd time.Duration
}

// planOpen draws a whole open schedule, as openLoop does one arrival at a
// time.
func planOpen(p arrival.Process, ph scenario.Phases) openPlan {
	o := newOpenSchedule(p, ph)
	var plan openPlan
	for {
		off, warm, ok := o.next()
		if !ok {
			break
		}
		plan.times = append(plan.times, off)
		if warm {
			plan.nWarmup++
		}
	}
	plan.measureStart, plan.measureEnd, _ = o.window()
	return plan
}

func TestPlanOpen(t *testing.T) {
	ph := func(y string) scenario.Phases { return load(t, base+"load: {rate: 10}\n"+y).Phases }
	p := &constProc{0.1}
	plan := planOpen(p, ph("phases: {warmup: {duration: 1s}, measure: {duration: 2s}}"))
	if plan.nWarmup != 10 || len(plan.times) != 30 || plan.measureStart != time.Second || plan.measureEnd != 3*time.Second {
		t.Errorf("duration phases: %d warmup, %d total, window %v..%v", plan.nWarmup, len(plan.times), plan.measureStart, plan.measureEnd)
	}
	plan = planOpen(p, ph("phases: {warmup: {requests: 3}, measure: {requests: 5}}"))
	if plan.nWarmup != 3 || len(plan.times) != 8 || plan.measureStart != 300*time.Millisecond || plan.measureEnd != 700*time.Millisecond {
		t.Errorf("count phases: %+v", plan)
	}
	plan = planOpen(p, ph("phases: {measure: {duration: 10s, requests: 4}}"))
	if len(plan.times) != 4 || plan.measureEnd != 300*time.Millisecond {
		t.Errorf("whichever first: %+v", plan)
	}
}

// The schedule is drawn as it is sent: a level of 100,000 requests/s for a
// week (6e10 arrivals; planned up front it held gigabytes and was killed)
// gives its first arrivals at once, holding nothing, and says what it knows
// of the level before it runs.
func TestOpenScheduleIsLazy(t *testing.T) {
	ph := load(t, base+"load: {rate: 100000}\nphases: {warmup: {duration: 1h}, measure: {duration: 167h}}\n").Phases
	o := newOpenSchedule(&constProc{1e-5}, ph)
	for i := range 1000 {
		off, warm, ok := o.next()
		if !ok || !warm || off != time.Duration(i)*10*time.Microsecond {
			t.Fatalf("arrival %d: %v %v %v", i, off, warm, ok)
		}
	}
	if start, _, known := o.window(); known || start != time.Hour {
		t.Errorf("window before the end: %v known %v", start, known)
	}
	if n, d := o.planned(); n != 0 || d != 168*time.Hour {
		t.Errorf("planned %d, %v", n, d)
	}
}

type constProc struct{ gap float64 }

func (c *constProc) Next() float64 { return c.gap }

// BeforeLevel runs between levels (never before the first), after the level
// before has finished; its error is the level's CacheWarning, not the run's.
func TestBeforeLevelRunsBetweenLevels(t *testing.T) {
	url := delayServer(t, time.Millisecond, 0, 4, false)
	s := load(t, base+`
load: {levels: [1, 2, 3], mode: closed}
phases: {measure: {requests: 4}}
`)
	sink := &memSink{}
	c := openai.New(openai.Options{BaseURL: url, MaxConns: 8})
	t.Cleanup(c.Close)
	var called []int
	res, err := Run(context.Background(), Config{Scenario: s, Client: c, Model: "m", Sink: sink,
		BeforeLevel: func(ctx context.Context, spec scenario.LevelSpec) error {
			called = append(called, spec.Index)
			if len(sink.recs) != 4*spec.Index {
				t.Errorf("before level %d: %d records, want the levels before it finished", spec.Index+1, len(sink.recs))
			}
			if spec.Index == 2 {
				return errors.New("refused")
			}
			return nil
		}})
	if err != nil || len(res.Levels) != 3 {
		t.Fatalf("%v %+v", err, res)
	}
	if !slices.Equal(called, []int{1, 2}) || res.Levels[1].CacheWarning != "" || res.Levels[2].CacheWarning != "refused" {
		t.Errorf("called %v, warnings %q %q", called, res.Levels[1].CacheWarning, res.Levels[2].CacheWarning)
	}
}

// A trace's arrivals are replayed as they are read: warm-up by count or
// duration, then the measurement window, as the trace's whole schedule was
// laid out before.
func TestTraceSchedule(t *testing.T) {
	ph := func(y string) scenario.Phases { return load(t, base+"load: {rate: 10}\n"+y).Phases }
	every100ms := func() func() (time.Duration, bool) {
		i := 0
		return func() (time.Duration, bool) {
			if i >= 10 {
				return 0, false
			}
			i++
			return time.Duration(i-1) * 100 * time.Millisecond, true
		}
	}
	drain := func(s *traceSchedule) (warm, measured []time.Duration) {
		for off, w, ok := s.next(); ok; off, w, ok = s.next() {
			if w {
				warm = append(warm, off)
			} else {
				measured = append(measured, off)
			}
		}
		return
	}
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	for _, c := range []struct {
		phases           string
		warm, measured   int
		start, end, from time.Duration
	}{
		{"phases: {warmup: {requests: 3}, measure: {requests: 4}}", 3, 4, ms(300), ms(600), ms(300)},
		{"phases: {warmup: {duration: 250ms}, measure: {duration: 300ms}}", 3, 3, ms(250), ms(550), ms(300)},
		{"phases: {measure: {requests: 100}}", 0, 10, 0, ms(900), 0},
	} {
		s := newTraceSchedule(every100ms(), ph(c.phases))
		warm, measured := drain(s)
		start, end, known := s.window()
		if len(warm) != c.warm || len(measured) != c.measured || !known || start != c.start || end != c.end || measured[0] != c.from {
			t.Errorf("%s: %d warm-up, %d measured from %v, window %v..%v (%v)", c.phases, len(warm), len(measured), measured[0], start, end, known)
		}
	}
}

// Every request carries the scenario's sampling parameters and extra body,
// and no sampling parameter the scenario did not set.
func TestRequestsCarryTheScenariosSampling(t *testing.T) {
	var mu sync.Mutex
	var bodies []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		bodies = append(bodies, m)
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {\"choices\":[{\"text\":\" t\"}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":1}}\n\ndata: [DONE]\n\n")
	}))
	defer srv.Close()
	for _, c := range []struct {
		yaml string
		want map[string]any
	}{
		{"", map[string]any{}},
		{"sampling: {temperature: 0.7, top_k: 20, extra_body: {min_tokens: 1, stop: [\"x\"]}}", map[string]any{"temperature": 0.7, "top_k": 20.0, "min_tokens": 1.0}},
	} {
		bodies = nil
		s := load(t, base+"load: {concurrency: 2}\nphases: {measure: {requests: 3}}\n"+c.yaml+"\n")
		runWith(t, context.Background(), s, srv.URL, &memSink{})
		mu.Lock()
		if len(bodies) != 3 {
			t.Fatalf("%d requests", len(bodies))
		}
		for _, b := range bodies {
			for _, k := range []string{"temperature", "top_p", "top_k", "min_p"} {
				if _, set := c.want[k]; !set && b[k] != nil {
					t.Errorf("%q: %s sent though the scenario does not set it: %v", c.yaml, k, b)
				}
			}
			for k, v := range c.want {
				if b[k] != v {
					t.Errorf("%q: %s = %v, want %v", c.yaml, k, b[k], v)
				}
			}
		}
		mu.Unlock()
	}
}

// A class with a LoRA adapter asks for it by name: its requests' model is
// the adapter's, the others' the base model's.
func TestLoRAClassesNameTheirAdapter(t *testing.T) {
	var mu sync.Mutex
	models := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		models[fmt.Sprint(m["model"])]++
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {\"choices\":[{\"text\":\" t\"}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":1}}\n\ndata: [DONE]\n\n")
	}))
	defer srv.Close()
	s := load(t, `
name: t
seed: 3
workload:
  classes:
    - {name: base, input_tokens: 16, output_tokens: 4}
    - {name: sql, input_tokens: 16, output_tokens: 4, lora: sql-lora}
load: {concurrency: 2}
phases: {measure: {requests: 40}}
`)
	sink := &memSink{}
	runWith(t, context.Background(), s, srv.URL, sink)
	mu.Lock()
	defer mu.Unlock()
	if len(models) != 2 || models["sql-lora"] == 0 || models["sql-lora"] == 40 {
		t.Errorf("models asked for: %v", models)
	}
}
