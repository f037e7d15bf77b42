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
	l.reqCtx, l.cancelReq = context.WithCancelCause(context.Background())
	defer l.cancelReq(nil)
	l.measure, l.stopMeas = context.WithCancelCause(l.reqCtx)
	defer l.stopMeas(nil)

	// Requests are generated and encoded ahead of their send time by a
	// producer, so dispatching costs nothing but a channel receive.
	gen := workload.NewGeneratorFor(s, l.spec.Index, l.cfg.TokensPerWord, l.cfg.Inputs)
	prod := make(chan prepared, 512)
	sessions := make(chan []prepared, 64) // multi-turn: whole conversations
	if s.Workload.Sessions.Enabled() {
		l.sessions = sessions
	}
	prodCtx, stopProd := context.WithCancel(context.Background())
	var prodErr error
	go func() {
		defer close(prod)
		defer close(sessions)
		for {
			if l.sessions == nil {
				r := gen.Next()
				body, err := openai.Body(s.API, l.cfg.Model, openai.Prompt{Text: r.Prompt, IDs: r.PromptIDs, Messages: r.Messages, OutputTokens: r.OutputTokens})
				if err != nil {
					prodErr = err
					return
				}
				select {
				case prod <- prepared{r, body}:
				case <-prodCtx.Done():
					return
				}
				continue
			}
			turns := gen.NextSession()
			ps := make([]prepared, len(turns))
			for i, r := range turns {
				body, err := openai.Body(s.API, l.cfg.Model, openai.Prompt{Text: r.Prompt, IDs: r.PromptIDs, Messages: r.Messages, OutputTokens: r.OutputTokens})
				if err != nil {
					prodErr = err
					return
				}
				ps[i] = prepared{r, body}
			}
			select {
			case sessions <- ps:
			case <-prodCtx.Done():
				return
			}
		}
	}()
	defer func() {
		stopProd()
		for range prod { // let the producer exit
		}
		for range sessions {
		}
	}()

	l.phase.Store(record.PhaseWarmup)
	l.startUS = l.clock.Now()
	out.StartUS = l.startUS
	stopProgress := l.progress()
	var interrupted bool
	if l.spec.Mode == scenario.ModeClosed {
		interrupted = l.closedLoop(ctx, prod, &out)
	} else {
		interrupted = l.openLoop(ctx, prod, &out)
	}
	if now := l.clock.Now(); interrupted && now < out.MeasureEndUS {
		// The window ends where issuing stopped, not where it was planned to.
		out.MeasureEndUS = max(now, out.MeasureStartUS)
	}
	if prodErr != nil {
		l.cancelReq(prodErr)
		l.wg.Wait()
		stopProgress()
		return out, fmt.Errorf("encode request: %w", prodErr)
	}

	// Issuing has stopped. Let what is in flight finish.
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
	stopProgress()
	out.FinishedUS = l.clock.Now()
	out.Issued = int(l.issued.Load())
	out.Interrupted = interrupted
	if p := l.sinkErr.Load(); p != nil {
		return out, *p
	}
	return out, nil
}

// openLoop dispatches on the schedule; it returns true when ctx was canceled.
func (l *level) openLoop(ctx context.Context, prod <-chan prepared, out *LevelRun) bool {
	s := l.cfg.Scenario
	var sch openPlan
	if s.Load.Arrival == scenario.ArrivalTrace {
		sch = planTrace(l.cfg.Inputs.TraceOffsets(l.spec.Rate), s.Phases)
	} else {
		proc, err := arrival.New(s.Load.Arrival, l.spec.Rate, s.Load.Burstiness, workload.Source(s.Seed, l.spec.Index, workload.StreamArrivals))
		if err != nil {
			panic(err) // the scenario was validated
		}
		sch = planOpen(proc, s.Phases)
	}
	l.planned = int64(len(sch.times))
	l.expected = sch.measureEnd
	out.MeasureStartUS = l.startUS + sch.measureStart.Microseconds()
	out.MeasureEndUS = l.startUS + sch.measureEnd.Microseconds()

	var slots chan struct{}
	if s.Load.MaxInFlight > 0 {
		slots = make(chan struct{}, s.Load.MaxInFlight)
	}
	base := l.clock.At(l.startUS)
	for i, off := range sch.times {
		phase := record.PhaseWarmup
		if i >= sch.nWarmup {
			phase = record.PhaseMeasure
		}
		if !pace.Until(ctx, base.Add(off)) {
			return true
		}
		if l.sinkErr.Load() != nil {
			return false
		}
		p, ok := <-prod
		if !ok {
			return false // the producer failed; run() reports it
		}
		l.phase.Store(phase)
		l.issue(p, phase, l.startUS+off.Microseconds(), slots)
	}
	// Wait out the rest of the window: with a duration-limited phase the
	// window ends at its end, not at the last arrival.
	return !pace.Until(ctx, base.Add(sch.measureEnd))
}

// planTrace lays out a trace's arrivals (offsets already scaled): warm-up by
// its duration or count from the start, then measurement — by default the
// rest of the trace.
func planTrace(offs []time.Duration, ph scenario.Phases) openPlan {
	var plan openPlan
	w, m := ph.Warmup, ph.Measure
	i := 0
	if w.Duration > 0 || w.Requests > 0 {
		for i < len(offs) && (w.Duration <= 0 || offs[i] < w.Duration.D()) && (w.Requests <= 0 || i < w.Requests) {
			i++
		}
		plan.nWarmup = i
		plan.measureStart = offs[min(i, len(offs)-1)]
		if w.Duration > 0 && (w.Requests <= 0 || i < w.Requests) {
			plan.measureStart = w.Duration.D()
		}
	}
	n := 0
	for ; i < len(offs); i++ {
		if (m.Duration > 0 && offs[i] >= plan.measureStart+m.Duration.D()) || (m.Requests > 0 && n >= m.Requests) {
			break
		}
		n++
	}
	plan.times = offs[:plan.nWarmup+n]
	switch {
	case m.Duration > 0 && (m.Requests <= 0 || n < m.Requests):
		plan.measureEnd = plan.measureStart + m.Duration.D()
	case n > 0:
		plan.measureEnd = plan.times[len(plan.times)-1]
	default:
		plan.measureEnd = plan.measureStart
	}
	return plan
}

type openPlan struct {
	times                    []time.Duration
	nWarmup                  int
	measureStart, measureEnd time.Duration
}

// planOpen lays out the arrivals of warm-up and measurement. A phase ends at
// its duration or its request count, whichever comes first.
func planOpen(p arrival.Process, ph scenario.Phases) openPlan {
	var plan openPlan
	t := 0.0 // seconds
	at := func() time.Duration { return time.Duration(math.Round(t * 1e9)) }
	w, m := ph.Warmup, ph.Measure
	if w.Duration > 0 || w.Requests > 0 {
		for (w.Duration <= 0 || at() < w.Duration.D()) && (w.Requests <= 0 || plan.nWarmup < w.Requests) {
			plan.times = append(plan.times, at())
			plan.nWarmup++
			t += p.Next()
		}
		if w.Duration > 0 && at() >= w.Duration.D() {
			plan.measureStart = w.Duration.D()
		} else {
			plan.measureStart = at()
		}
	}
	n := 0
	for (m.Duration <= 0 || at() < plan.measureStart+m.Duration.D()) && (m.Requests <= 0 || n < m.Requests) {
		if at() >= plan.measureStart {
			plan.times = append(plan.times, at())
			n++
		}
		t += p.Next()
	}
	if m.Duration > 0 && (m.Requests <= 0 || n < m.Requests) {
		plan.measureEnd = plan.measureStart + m.Duration.D()
	} else if n > 0 {
		plan.measureEnd = plan.times[len(plan.times)-1]
	} else {
		plan.measureEnd = plan.measureStart
	}
	return plan
}

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
func (l *level) issue(p prepared, phase string, scheduledUS int64, slots chan struct{}) {
	l.wg.Add(1)
	go func() {
		var waited int64
		if slots != nil {
			before := l.clock.Now()
			select {
			case slots <- struct{}{}:
				defer func() { <-slots }()
			case <-l.reqCtx.Done(): // send() records it as canceled
			}
			waited = l.clock.Now() - max(before, scheduledUS)
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
