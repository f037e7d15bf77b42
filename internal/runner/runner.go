// Package runner drives load against a server: open loop on an absolute
// schedule computed up front, or closed loop at a fixed concurrency; warm-up
// then measurement at every load level; one record per request issued.
package runner

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/perfgate/perfgate/internal/arrival"
	"github.com/perfgate/perfgate/internal/openai"
	"github.com/perfgate/perfgate/internal/pace"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/scenario"
	"github.com/perfgate/perfgate/internal/workload"
)

// Sink receives each finished request's record.
type Sink interface {
	Write(*record.Record) error
}

// Config is everything one run needs.
type Config struct {
	Scenario      *scenario.Scenario
	Client        *openai.Client
	Model         string
	TokensPerWord float64 // for text prompts; 1 when unknown
	Sink          Sink
	Trial         int
	// Inputs are the scenario's datasets and trace, read (nil: none).
	Inputs *workload.Inputs
	// InterruptGrace is how long requests in flight may finish after ctx is
	// canceled (Ctrl-C) before they are canceled too. Default 5s.
	InterruptGrace time.Duration
	// Progress, when set, is called from one goroutine about four times a second.
	Progress func(Progress)
	// BeforeLevel, when set, runs before every level after the first, once
	// the level before has finished (phases.between_levels: reset empties
	// the prefix cache here). An error does not stop the run: it becomes
	// the level's CacheWarning.
	BeforeLevel func(ctx context.Context, spec scenario.LevelSpec) error
	// WaitUntil waits until t, or returns false when ctx ends first (nil:
	// pace.Until, which sleeps the last millisecond in the kernel). Tests
	// on a fake clock (testing/synctest) give one made of timers only.
	WaitUntil func(ctx context.Context, t time.Time) bool
}

// Progress is a snapshot for a progress display.
type Progress struct {
	Level, Levels int
	Spec          scenario.LevelSpec
	Phase         string
	Elapsed       time.Duration // since the level started
	Expected      time.Duration // planned level length (0 when count-based)
	Issued        int64
	Planned       int64 // requests planned this level (0 when not known up front)
	Done, Failed  int64
	InFlight      int64
}

// LevelRun is what the runner knows about one level beyond its records.
type LevelRun struct {
	Spec           scenario.LevelSpec
	StartUS        int64 // when the level started
	MeasureStartUS int64 // start of the measurement window
	MeasureEndUS   int64 // end of the measurement window (issuing stopped)
	FinishedUS     int64 // when the last request of the level finished
	Issued         int   // requests of every phase
	DrainTimedOut  bool  // in-flight requests were canceled after drain_timeout
	Interrupted    bool
	// CacheWarning says why BeforeLevel failed: the level started with
	// what the levels before it left in the prefix cache.
	CacheWarning string
}

// Result of a run.
type Result struct {
	Levels      []LevelRun
	Issued      int
	Interrupted bool
}

// errEndOfMeasure and friends say why perfgate canceled a request.
var (
	errEndOfMeasure = errors.New("the measurement ended (on_end: cancel)")
	errDrainTimeout = errors.New("drain_timeout passed")
	errInterrupted  = errors.New("interrupted and the grace period passed")
)

// Run runs every level of the scenario in order. It returns early, with what
// was recorded so far, when ctx is canceled (Result.Interrupted) or the sink
// fails (an error).
func Run(ctx context.Context, cfg Config) (Result, error) {
	clock := cfg.Client.Clock()
	if cfg.InterruptGrace == 0 {
		cfg.InterruptGrace = 5 * time.Second
	}
	var res Result
	var nextID atomic.Int64
	specs := cfg.Scenario.LevelSpecs()
	for i, spec := range specs {
		var cacheWarning string
		if i > 0 && cfg.BeforeLevel != nil {
			if err := cfg.BeforeLevel(ctx, spec); err != nil {
				if ctx.Err() != nil {
					res.Interrupted = true
					return res, nil
				}
				cacheWarning = err.Error()
			}
		}
		lr := &level{cfg: &cfg, clock: clock, spec: spec, nLevels: len(specs), ids: &nextID}
		run, err := lr.run(ctx)
		run.CacheWarning = cacheWarning
		res.Levels = append(res.Levels, run)
		res.Issued += run.Issued
		if err != nil {
			return res, err
		}
		if run.Interrupted {
			res.Interrupted = true
			return res, nil
		}
	}
	return res, nil
}

type prepared struct {
	req  workload.Request
	body []byte
}

type level struct {
	cfg     *Config
	clock   record.Clock // the client's: records and windows share it
	spec    scenario.LevelSpec
	nLevels int
	ids     *atomic.Int64

	reqCtx    context.Context // requests run under this; canceled at window end (cancel), drain timeout or interrupt
	cancelReq context.CancelCauseFunc
	measure   context.Context // canceled when measured requests in flight must stop (on_end: cancel)
	stopMeas  context.CancelCauseFunc

	wg       sync.WaitGroup
	inFlight atomic.Int64
	issued   atomic.Int64
	done     atomic.Int64
	failed   atomic.Int64
	sinkErr  atomic.Pointer[error]
	sessions <-chan []prepared // multi-turn conversations, when the scenario has sessions
	phase    atomic.Value      // string
	planned  int64
	expected time.Duration
	startUS  int64
}

func (l *level) run(ctx context.Context) (LevelRun, error) {
	s := l.cfg.Scenario
	out := LevelRun{Spec: l.spec}
	// An open loop's arrival process, made before anything starts: a kind
	// the scenario's validation let through but arrival does not know is an
	// error, not a crash mid-run.
	var arrivals arrival.Process
	if l.spec.Mode != scenario.ModeClosed && s.Load.Arrival != scenario.ArrivalTrace {
		p, err := arrival.New(s.Load.Arrival, l.spec.Rate, s.Load.Burstiness, workload.Source(s.Seed, l.spec.Index, workload.StreamArrivals))
		if err != nil {
			return out, fmt.Errorf("level %d: %w", l.spec.Index+1, err)
		}
		arrivals = p
	}
	l.reqCtx, l.cancelReq = context.WithCancelCause(context.Background())
	defer l.cancelReq(nil)
	l.measure, l.stopMeas = context.WithCancelCause(l.reqCtx)
	defer l.stopMeas(nil)

	// Requests are generated and encoded ahead of their send time by a
	// producer, so dispatching costs nothing but a channel receive.
	prod, prodErr, stopProd := l.produce()
	defer stopProd()

	l.phase.Store(record.PhaseWarmup)
	l.startUS = l.clock.Now()
	out.StartUS = l.startUS
	stopProgress := l.progress()
	var interrupted bool
	if l.spec.Mode == scenario.ModeClosed {
		interrupted = l.closedLoop(ctx, prod, &out)
	} else {
		interrupted = l.openLoop(ctx, prod, &out, arrivals)
	}
	if now := l.clock.Now(); interrupted && now < out.MeasureEndUS {
		// The window ends where issuing stopped, not where it was planned to.
		out.MeasureEndUS = max(now, out.MeasureStartUS)
	}
	if err := prodErr(); err != nil {
		l.cancelReq(err)
		l.wg.Wait()
		stopProgress()
		return out, fmt.Errorf("encode request: %w", err)
	}

	// Issuing has stopped. Let what is in flight finish.
	interrupted = l.waitInFlight(ctx, interrupted, &out)
	stopProgress()
	out.FinishedUS = l.clock.Now()
	out.Issued = int(l.issued.Load())
	out.Interrupted = interrupted
	if p := l.sinkErr.Load(); p != nil {
		return out, *p
	}
	return out, nil
}

// waitUntil is the configured wait, pace.Until by default.
func (l *level) waitUntil(ctx context.Context, t time.Time) bool {
	if l.cfg.WaitUntil != nil {
		return l.cfg.WaitUntil(ctx, t)
	}
	return pace.Until(ctx, t)
}

// produce starts the producer: requests generated and encoded ahead of
// their send time (whole conversations on l.sessions for multi-turn
// workloads). err says why it stopped early (after prod is closed); stop
// ends it and waits for it.
func (l *level) produce() (prod <-chan prepared, err func() error, stop func()) {
	s := l.cfg.Scenario
	gen := workload.NewGeneratorFor(s, l.spec.Index, l.cfg.TokensPerWord, l.cfg.Inputs)
	p := make(chan prepared, 512)
	ss := make(chan []prepared, 64)
	if s.Workload.Sessions.Enabled() {
		l.sessions = ss
	}
	ctx, cancel := context.WithCancel(context.Background())
	var prodErr error
	extra, extraErr := openai.Fields(s.Sampling.Fields())
	encode := func(r workload.Request) (prepared, error) {
		if extraErr != nil {
			return prepared{}, extraErr
		}
		model := l.cfg.Model
		if r.Model != "" {
			model = r.Model // a LoRA adapter, served under its own name
		}
		body, err := openai.Body(s.API, model, openai.Prompt{Text: r.Prompt, IDs: r.PromptIDs, Messages: r.Messages, OutputTokens: r.OutputTokens}, extra)
		return prepared{r, body}, err
	}
	go func() {
		defer close(p)
		defer close(ss)
		for {
			if l.sessions == nil {
				x, err := encode(gen.Next())
				if err != nil {
					prodErr = err
					return
				}
				select {
				case p <- x:
				case <-ctx.Done():
					return
				}
				continue
			}
			turns := gen.NextSession()
			ps := make([]prepared, len(turns))
			for i, r := range turns {
				x, err := encode(r)
				if err != nil {
					prodErr = err
					return
				}
				ps[i] = x
			}
			select {
			case ss <- ps:
			case <-ctx.Done():
				return
			}
		}
	}()
	stop = func() {
		cancel()
		for range p { // let the producer exit
		}
		for range ss {
		}
		gen.Close()
	}
	return p, func() error { return prodErr }, stop
}

// waitInFlight waits for the requests in flight: up to drain_timeout, then
// they are canceled; on an interrupt (before or while waiting), for the
// grace period. It returns whether the level was interrupted.
func (l *level) waitInFlight(ctx context.Context, interrupted bool, out *LevelRun) bool {
	s := l.cfg.Scenario
	if !interrupted && s.Phases.OnEnd == scenario.OnEndCancel {
		l.stopMeas(errEndOfMeasure)
	}
	waitCh := make(chan struct{})
	go func() { l.wg.Wait(); close(waitCh) }()
	drain := time.NewTimer(s.Phases.DrainTimeout.D())
	defer drain.Stop()
	var grace <-chan time.Time
	if interrupted {
		grace = time.After(l.cfg.InterruptGrace)
	}
	ctxDone := ctx.Done()
	if interrupted {
		ctxDone = nil
	}
wait:
	for {
		select {
		case <-waitCh:
			break wait
		case <-drain.C:
			out.DrainTimedOut = true
			l.cancelReq(errDrainTimeout)
		case <-ctxDone:
			interrupted = true
			ctxDone = nil
			grace = time.After(l.cfg.InterruptGrace)
		case <-grace:
			l.cancelReq(errInterrupted)
		}
	}
	return interrupted
}

// openLoop dispatches on the schedule; it returns true when ctx was canceled.
// The schedule is drawn as it is sent, so what a level holds does not grow
// with its duration or rate (a day at 1,000 requests/s planned up front held
// 1.9 GB before the first request).
func (l *level) openLoop(ctx context.Context, prod <-chan prepared, out *LevelRun, arrivals arrival.Process) bool {
	s := l.cfg.Scenario
	var sch schedule
	if s.Load.Arrival == scenario.ArrivalTrace {
		next, stop := l.cfg.Inputs.TraceOffsets(l.spec.Rate)
		defer stop()
		sch = newTraceSchedule(next, s.Phases)
	} else {
		sch = newOpenSchedule(arrivals, s.Phases)
	}
	l.planned, l.expected = sch.planned()
	base := l.clock.At(l.startUS)
	// window sets the measurement window from what the schedule knows by
	// now: all of it when it is done; where issuing stopped when not.
	window := func() {
		start, end, known := sch.window()
		if !known {
			now := time.Duration(l.clock.Now()-l.startUS) * time.Microsecond
			start, end = min(start, now), now
		}
		out.MeasureStartUS = l.startUS + start.Microseconds()
		out.MeasureEndUS = l.startUS + end.Microseconds()
	}

	// With max_in_flight, an arrival that finds no slot waits here, in
	// order, and the arrivals behind it with it: the queue is the schedule
	// not yet reached, which holds nothing (a goroutine and a request body
	// per waiting arrival grew by gigabytes when the server fell behind).
	var slots chan struct{}
	if s.Load.MaxInFlight > 0 {
		slots = make(chan struct{}, s.Load.MaxInFlight)
	}
	queued := false // the arrival before waited for a slot: the queue is not empty
	for {
		off, warm, ok := sch.next()
		if !ok {
			break
		}
		phase := record.PhaseMeasure
		if warm {
			phase = record.PhaseWarmup
		}
		if !l.waitUntil(ctx, base.Add(off)) {
			window()
			return true
		}
		if l.sinkErr.Load() != nil {
			window()
			return false
		}
		p, ok := <-prod
		if !ok {
			window()
			return false // the producer failed; run() reports it
		}
		scheduledUS := l.startUS + off.Microseconds()
		var waited int64
		if slots != nil {
			before := l.clock.Now()
			blocked := false
			select {
			case slots <- struct{}{}:
			default:
				blocked = true
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
					window()
					return true
				case <-l.reqCtx.Done():
					window()
					return false
				}
			}
			now := l.clock.Now()
			// Waiting since it was due when the queue held the arrivals
			// before it; else since it was reached.
			from := max(before, scheduledUS)
			if queued {
				from = min(from, scheduledUS)
			}
			waited = now - from
			queued = blocked
		}
		l.phase.Store(phase)
		l.issue(p, phase, scheduledUS, waited, slots)
	}
	window()
	// Wait out the rest of the window: with a duration-limited phase the
	// window ends at its end, not at the last arrival.
	_, end, _ := sch.window()
	return !l.waitUntil(ctx, base.Add(end))
}

// schedule is a level's open-loop arrivals, in order.
type schedule interface {
	// next is the next arrival's offset from the level's start and whether
	// it is a warm-up request; ok is false when there is none.
	next() (off time.Duration, warm, ok bool)
	// window is the measurement window; known is false until next has
	// said there is no more (start is then the earliest it can be).
	window() (start, end time.Duration, known bool)
	// planned is the count of requests and the level's length when they
	// are known before it runs (0 when not).
	planned() (int64, time.Duration)
}

// phaseState is where a schedule is in its phases: warm-up, then the
// measurement window, whose end is known once it is done.
type phaseState struct {
	ph                       scenario.Phases
	stage                    int // 0 warm-up, 1 measurement, 2 done
	nWarmup, n               int
	measureStart, measureEnd time.Duration
	last                     time.Duration // the last measured arrival
}

func newPhaseState(ph scenario.Phases) phaseState {
	st := phaseState{ph: ph}
	if w := ph.Warmup; w.Duration <= 0 && w.Requests <= 0 {
		st.stage = 1
	}
	return st
}

// warming says whether an arrival at off is still warm-up.
func (st *phaseState) warming(off time.Duration) bool {
	w := st.ph.Warmup
	return (w.Duration <= 0 || off < w.Duration.D()) && (w.Requests <= 0 || st.nWarmup < w.Requests)
}

// measuring says whether an arrival at off still falls in the measurement.
func (st *phaseState) measuring(off time.Duration) bool {
	m := st.ph.Measure
	return (m.Duration <= 0 || off < st.measureStart+m.Duration.D()) && (m.Requests <= 0 || st.n < m.Requests)
}

// finish ends the measurement: at its duration when that ended it, else at
// the last measured arrival.
func (st *phaseState) finish() {
	m := st.ph.Measure
	st.stage = 2
	switch {
	case m.Duration > 0 && (m.Requests <= 0 || st.n < m.Requests):
		st.measureEnd = st.measureStart + m.Duration.D()
	case st.n > 0:
		st.measureEnd = st.last
	default:
		st.measureEnd = st.measureStart
	}
}

func (st *phaseState) window() (time.Duration, time.Duration, bool) {
	if st.stage < 2 {
		start := st.measureStart
		if st.stage == 0 {
			start = st.ph.Warmup.Duration.D()
		}
		return start, 0, false
	}
	return st.measureStart, st.measureEnd, true
}

// openSchedule draws arrivals from a process as they are asked for: warm-up
// by its duration or count from the start, then measurement. A phase ends at
// its duration or its request count, whichever comes first.
type openSchedule struct {
	phaseState
	p arrival.Process
	t float64 // seconds: the next arrival's time
}

func newOpenSchedule(p arrival.Process, ph scenario.Phases) *openSchedule {
	return &openSchedule{phaseState: newPhaseState(ph), p: p}
}

func (o *openSchedule) at() time.Duration { return time.Duration(math.Round(o.t * 1e9)) }

func (o *openSchedule) next() (time.Duration, bool, bool) {
	if o.stage == 0 {
		if o.warming(o.at()) {
			off := o.at()
			o.nWarmup++
			o.t += o.p.Next()
			return off, true, true
		}
		if w := o.ph.Warmup; w.Duration > 0 && o.at() >= w.Duration.D() {
			o.measureStart = w.Duration.D()
		} else {
			o.measureStart = o.at()
		}
		o.stage = 1
	}
	for o.stage == 1 {
		if !o.measuring(o.at()) {
			o.finish()
			break
		}
		off := o.at()
		o.t += o.p.Next()
		if off >= o.measureStart {
			o.n++
			o.last = off
			return off, false, true
		}
	}
	return 0, false, false
}

func (o *openSchedule) planned() (int64, time.Duration) {
	w, m := o.ph.Warmup, o.ph.Measure
	var n int64
	if w.Duration <= 0 && m.Duration <= 0 {
		n = int64(w.Requests + m.Requests)
	}
	var d time.Duration
	if w.Requests <= 0 && m.Requests <= 0 {
		d = w.Duration.D() + m.Duration.D()
	}
	return n, d
}

// traceSchedule replays a trace's arrivals (offsets already scaled) as
// they are read: warm-up by its duration or count from the start, then
// measurement — by default the rest of the trace.
type traceSchedule struct {
	phaseState
	read   func() (time.Duration, bool)
	peeked *time.Duration
	ended  bool
	prev   time.Duration // the last arrival taken, warm-up included
}

func newTraceSchedule(next func() (time.Duration, bool), ph scenario.Phases) *traceSchedule {
	return &traceSchedule{phaseState: newPhaseState(ph), read: next}
}

// peek is the next offset without taking it.
func (t *traceSchedule) peek() (time.Duration, bool) {
	if t.peeked == nil && !t.ended {
		off, ok := t.read()
		if !ok {
			t.ended = true
		} else {
			t.peeked = &off
		}
	}
	if t.peeked == nil {
		return 0, false
	}
	return *t.peeked, true
}

func (t *traceSchedule) take() time.Duration {
	off := *t.peeked
	t.peeked = nil
	t.prev = off
	return off
}

func (t *traceSchedule) next() (time.Duration, bool, bool) {
	if t.stage == 0 {
		off, ok := t.peek()
		if ok && t.warming(off) {
			t.nWarmup++
			return t.take(), true, true
		}
		// The window starts at the first measured arrival (or the last
		// arrival, when the warm-up took the whole trace), or at the
		// warm-up's duration when that ended it.
		switch w := t.ph.Warmup; {
		case w.Duration > 0 && (w.Requests <= 0 || t.nWarmup < w.Requests):
			t.measureStart = w.Duration.D()
		case ok:
			t.measureStart = off
		default:
			t.measureStart = t.prev
		}
		t.stage = 1
	}
	if t.stage == 1 {
		if off, ok := t.peek(); ok && t.measuring(off) {
			t.n++
			t.last = t.take()
			return t.last, false, true
		}
		t.finish()
	}
	return 0, false, false
}

func (t *traceSchedule) planned() (int64, time.Duration) { return 0, 0 }

// closedLoop keeps Concurrency requests in flight until the measurement
// window is over; it returns true when ctx was canceled. Requests still in
// flight when it returns are left to run(), which drains or cancels them.
func (l *level) closedLoop(ctx context.Context, prod <-chan prepared, out *LevelRun) bool {
	ph := l.cfg.Scenario.Phases
	l.expected = ph.Warmup.Duration.D() + ph.Measure.Duration.D()
	if ph.Warmup.Requests+ph.Measure.Requests > 0 && l.expected == 0 {
		l.planned = int64(ph.Warmup.Requests + ph.Measure.Requests)
	}
	var mu sync.Mutex
	st := closedState{ph: ph, start: l.startUS, clock: l.clock}
	if ph.Warmup.Duration <= 0 && ph.Warmup.Requests <= 0 {
		st.inMeasure = true
		st.measureStart = l.startUS
	}
	idle := make(chan struct{}) // closed when every worker has stopped
	quit := make(chan struct{}) // closed when the window is over: think times end early
	think := l.cfg.Scenario.Workload.Sessions.ThinkTime.D()
	var workers sync.WaitGroup
	for range l.spec.Concurrency {
		workers.Add(1)
		go func() {
			defer workers.Done()
			var turns []prepared // the rest of the current conversation
			for {
				if len(turns) > 0 && think > 0 {
					t := time.NewTimer(think)
					select {
					case <-t.C:
					case <-quit:
						t.Stop()
						return
					}
				}
				mu.Lock()
				phase, ok := st.next()
				if ok {
					l.wg.Add(1) // under the lock: run() waits only after stopping st
				}
				mu.Unlock()
				if !ok {
					return
				}
				var p prepared
				if l.sessions != nil {
					if len(turns) == 0 {
						if turns, ok = <-l.sessions; !ok || len(turns) == 0 {
							l.wg.Done()
							return
						}
					}
					p, turns = turns[0], turns[1:]
				} else if p, ok = <-prod; !ok {
					l.wg.Done()
					return
				}
				l.phase.Store(phase)
				l.send(p, phase, l.clock.Now(), 0)
			}
		}()
	}
	go func() { workers.Wait(); close(idle) }()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	stop := func() {
		mu.Lock()
		defer mu.Unlock()
		close(quit)
		st.stopped = true
		out.MeasureStartUS = st.measureStart
		out.MeasureEndUS = st.measureEnd
		if out.MeasureEndUS == 0 {
			out.MeasureEndUS = l.clock.Now()
		}
		if !st.inMeasure {
			out.MeasureStartUS = out.MeasureEndUS
		}
	}
	for {
		select {
		case <-idle:
			stop()
			return false
		case <-ctx.Done():
			stop()
			return true
		case <-tick.C:
			if l.sinkErr.Load() != nil {
				stop()
				return false
			}
			mu.Lock()
			over := st.windowOver()
			mu.Unlock()
			if over {
				stop()
				return false
			}
		}
	}
}

// closedState decides the phase of each new closed-loop request.
type closedState struct {
	ph                       scenario.Phases
	clock                    record.Clock
	start                    int64
	warmupIssued, measIssued int
	inMeasure, stopped       bool
	measureStart, measureEnd int64
}

func (c *closedState) next() (string, bool) {
	if c.stopped {
		return "", false
	}
	now := c.clock.Now()
	if !c.inMeasure {
		w := c.ph.Warmup
		over := (w.Duration > 0 && now-c.start >= w.Duration.D().Microseconds()) || (w.Requests > 0 && c.warmupIssued >= w.Requests)
		if !over {
			c.warmupIssued++
			return record.PhaseWarmup, true
		}
		c.inMeasure = true
		c.measureStart = now
		if w.Duration > 0 && w.Requests <= 0 {
			c.measureStart = c.start + w.Duration.D().Microseconds()
		}
	}
	if c.windowOver() {
		c.stopped = true
		return "", false
	}
	c.measIssued++
	if m := c.ph.Measure; m.Requests > 0 && c.measIssued == m.Requests {
		c.measureEnd = now
	}
	return record.PhaseMeasure, true
}

// windowOver reports (and records) the end of the measurement window.
func (c *closedState) windowOver() bool {
	if !c.inMeasure {
		return false
	}
	m := c.ph.Measure
	now := c.clock.Now()
	if m.Duration > 0 && now-c.measureStart >= m.Duration.D().Microseconds() {
		if c.measureEnd == 0 {
			c.measureEnd = c.measureStart + m.Duration.D().Microseconds()
		}
		return true
	}
	return m.Requests > 0 && c.measIssued >= m.Requests
}

// issue starts one open-loop request in its own goroutine.
// issue sends p in a goroutine of its own; with slots, the caller holds one
// for it, given back when it ends.
func (l *level) issue(p prepared, phase string, scheduledUS, waited int64, slots chan struct{}) {
	l.wg.Add(1)
	go func() {
		if slots != nil {
			defer func() { <-slots }()
		}
		l.send(p, phase, scheduledUS, waited)
	}()
}

// send runs one request and records it; the caller has done wg.Add(1).
func (l *level) send(p prepared, phase string, scheduledUS, queueWaitUS int64) {
	defer l.wg.Done()
	l.issued.Add(1)
	l.inFlight.Add(1)
	rec := &record.Record{
		ID:              l.ids.Add(1) - 1,
		Trial:           l.cfg.Trial,
		Level:           l.spec.Index,
		Phase:           phase,
		Class:           p.req.Class,
		Session:         p.req.Session,
		Turn:            p.req.Turn,
		ScheduledUS:     scheduledUS,
		QueueWaitUS:     max(queueWaitUS, 0),
		RequestedInput:  p.req.InputTokens,
		RequestedOutput: p.req.OutputTokens,
		ChunkUS:         make([]int64, 0, min(p.req.OutputTokens, 1<<16)),
	}
	ctx := l.reqCtx
	if phase == record.PhaseMeasure {
		ctx = l.measure
	}
	if ctx.Err() != nil {
		now := l.clock.Now()
		rec.SentUS, rec.EndUS = now, now
		rec.Error, rec.ErrorMsg = record.ErrCanceled, "canceled by perfgate before it was sent: "+context.Cause(ctx).Error()
	} else {
		l.cfg.Client.Stream(ctx, openai.Path(l.cfg.Scenario.API), p.body, l.cfg.Scenario.RequestTimeout.D(), rec)
	}
	l.inFlight.Add(-1)
	if rec.OK() {
		l.done.Add(1)
	} else {
		l.failed.Add(1)
	}
	if err := l.cfg.Sink.Write(rec); err != nil {
		if l.sinkErr.CompareAndSwap(nil, &err) {
			l.cancelReq(fmt.Errorf("writing records failed: %w", err))
		}
	}
}

func (l *level) progress() (stop func()) {
	if l.cfg.Progress == nil {
		return func() {}
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	report := func() {
		l.cfg.Progress(Progress{
			Level: l.spec.Index, Levels: l.nLevels, Spec: l.spec,
			Phase:   l.phase.Load().(string),
			Elapsed: time.Duration(l.clock.Now()-l.startUS) * time.Microsecond, Expected: l.expected,
			Issued: l.issued.Load(), Planned: l.planned, Done: l.done.Load(), Failed: l.failed.Load(), InFlight: l.inFlight.Load(),
		})
	}
	go func() {
		defer wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				report()
				return
			case <-t.C:
				report()
			}
		}
	}()
	return func() { close(quit); wg.Wait() }
}
