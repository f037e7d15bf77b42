package sim

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/perfgate/perfgate/internal/pace"
	"github.com/perfgate/perfgate/internal/sim/profile"
)

// seq is one request inside the engine.
type seq struct {
	id        int64
	prompt    []int // token ids; its hash chain drives prefix caching
	maxTokens int

	// Scheduler state, guarded by engine.mu.
	computed  int // tokens whose KV is computed
	generated int
	blocks    []int
	hashes    []uint64
	running   bool
	finished  bool
	aborted   bool
	preempted int
	admitted  bool // scheduled at least once

	// Model-time milestones, in seconds since the engine started.
	arrived, scheduled, firstToken, lastToken float64
	// queued is when the engine first saw the request waiting: the start of
	// the first step after it arrived. vLLM's engine core takes new
	// requests into its scheduler's queue between steps, and its queue time
	// runs from there, not from the arrival (which TTFT runs from).
	queued float64

	// Output, read by the HTTP handler.
	emitted atomic.Int64  // tokens generated so far
	done    atomic.Bool   // no more tokens will come
	notify  chan struct{} // poked (without blocking) when emitted or done changes
}

// tokens is the sequence's length so far: prompt plus generated tokens.
func (s *seq) tokens() int { return len(s.prompt) + s.generated }

func (s *seq) poke() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// engine is the step loop of a vLLM-like scheduler.
type engine struct {
	cfg     Config
	prof    profile.Profile
	knobs   profile.Knobs
	kv      *kvCache
	metrics *metrics
	rng     *rand.Rand
	noise   float64 // this start's step-time factor (Config.Noise); 0: no noise

	mu      sync.Mutex
	waiting []*seq // FIFO; preempted sequences go back to the front
	running []*seq // admission order; the last is preempted first
	wake    chan struct{}

	// Model time: seconds since start, advanced by each step's cost. It
	// runs time_scale times faster than the wall clock.
	start    time.Time
	now      float64
	nextID   atomic.Int64
	finished atomic.Int64 // requests finished, for the crash fault
}

func newEngine(cfg Config, prof profile.Profile, m *metrics) *engine {
	blocks := cfg.NumGPUBlocksOverride
	if blocks <= 0 {
		blocks = prof.KVCapacityTokens(cfg.GPUMemoryUtilization) / cfg.BlockSize
	}
	knobs := prof.Knobs()
	knobs.SlowdownDecode, knobs.SlowdownPrefill = cfg.SlowdownDecode, cfg.SlowdownPrefill
	if cfg.StepOverheadMs >= 0 {
		knobs.StepOverheadMs = cfg.StepOverheadMs
	}
	e := &engine{
		cfg:     cfg,
		prof:    prof,
		knobs:   knobs,
		kv:      newKVCache(blocks, cfg.BlockSize, cfg.EnablePrefixCaching),
		metrics: m,
		rng:     rand.New(rand.NewPCG(cfg.Seed, 0x5eed)),
		wake:    make(chan struct{}, 1),
		start:   time.Now(),
	}
	if cfg.Noise != (Noise{}) {
		e.noise = cfg.Noise.startDraw(cfg.Seed, cfg.StartSeed)
	}
	return e
}

// wallModel is the model time that the wall clock has reached.
func (e *engine) wallModel() float64 {
	return time.Since(e.start).Seconds() * e.cfg.TimeScale
}

// add queues a new request that reached the server at wall time arrived.
func (e *engine) add(prompt []int, maxTokens int, arrived time.Time) *seq {
	s := &seq{id: e.nextID.Add(1), prompt: prompt, maxTokens: maxTokens, notify: make(chan struct{}, 1)}
	e.mu.Lock()
	s.arrived = arrived.Sub(e.start).Seconds() * e.cfg.TimeScale
	e.waiting = append(e.waiting, s)
	e.metrics.promptTokens.Add(float64(len(prompt)))
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
	return s
}

// abort removes a request whose client went away.
func (e *engine) abort(s *seq) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s.finished || s.aborted {
		return
	}
	s.aborted = true
	e.kv.release(s)
	e.waiting = removeSeq(e.waiting, s)
	e.running = removeSeq(e.running, s)
	e.metrics.finished("abort", s, e.now)
}

func removeSeq(list []*seq, s *seq) []*seq {
	for i, x := range list {
		if x == s {
			return append(list[:i], list[i+1:]...)
		}
	}
	return list
}

// scheduled is one sequence's share of a step.
type scheduled struct {
	s *seq
	n int // tokens computed this step
}

// run steps until ctx ends.
func (e *engine) run(ctx context.Context) {
	for {
		e.mu.Lock()
		if len(e.running) == 0 && len(e.waiting) == 0 {
			e.mu.Unlock()
			select {
			case <-e.wake:
			case <-ctx.Done():
				return
			}
			// An idle engine's clock jumps to the first arrival, so neither
			// its wake-up nor request parsing delays the first step. A busy
			// engine keeps its own clock: a step that ended late is made up
			// by the next, so lateness never accumulates.
			e.mu.Lock()
			first := e.wallModel()
			for _, s := range e.waiting {
				first = min(first, s.arrived)
			}
			e.now = max(e.now, first)
			e.mu.Unlock()
			continue
		}
		batch, stepEnd := e.begin()
		e.mu.Unlock()

		if !pace.Until(ctx, e.start.Add(time.Duration(stepEnd/e.cfg.TimeScale*float64(time.Second)))) {
			return
		}

		e.mu.Lock()
		e.finishStep(batch, stepEnd)
		e.mu.Unlock()
	}
}

// begin schedules a step and advances the model clock to its end, which it
// returns. Called with mu held.
func (e *engine) begin() ([]scheduled, float64) {
	batch, work := e.schedule()
	dt := e.prof.StepTime(work, e.knobs)
	if e.cfg.Jitter > 0 {
		dt *= math.Max(0.5, 1+e.cfg.Jitter*e.rng.NormFloat64())
	}
	if e.noise > 0 {
		dt *= e.cfg.Noise.stepFactor(e.noise, e.now, e.rng)
	}
	e.now += dt
	return batch, e.now
}

// gauges sets running, waiting and KV usage as vLLM does: from the
// statistics a step returns when it ends (its scheduler's
// update_from_output calls make_stats, after the finished requests left),
// so through a step that began from idle they still read the step before.
func (e *engine) gauges() {
	e.metrics.running.Set(float64(len(e.running)))
	e.metrics.waiting.Set(float64(len(e.waiting)))
	e.metrics.kvUsage.Set(e.kv.usage())
}

// schedule picks this step's work, vLLM v1 style: running sequences first
// (each decodes one token or continues its prefill in chunks), then waiting
// ones while max_num_seqs, the token budget and the KV cache allow. When a
// running sequence cannot grow, the newest running sequence is preempted:
// its blocks are freed and it waits to be recomputed. Called with mu held.
func (e *engine) schedule() ([]scheduled, profile.Work) {
	var batch []scheduled
	var work profile.Work
	budget := e.cfg.MaxNumBatchedTokens
	preempted := false
	for i := 0; i < len(e.running) && budget > 0; i++ {
		s := e.running[i]
		n := min(s.tokens()-s.computed, budget)
		for !e.kv.allocate(s, s.computed+n) {
			victim := e.running[len(e.running)-1]
			e.preempt(victim)
			preempted = true
			if victim == s {
				n = 0
				break
			}
		}
		if n == 0 {
			break
		}
		e.kv.commit(s, s.computed+n)
		batch = append(batch, scheduled{s, n})
		e.account(&work, s, n)
		budget -= n
	}
	// The step that first sees a request starts its queue time. New
	// arrivals are the waiting queue's tail (a preempted sequence goes to
	// the front, already seen), so only they are visited.
	for i := len(e.waiting) - 1; i >= 0 && e.waiting[i].queued == 0; i-- {
		e.waiting[i].queued = e.now
	}
	for !preempted && len(e.waiting) > 0 && len(e.running) < e.cfg.MaxNumSeqs && budget > 0 {
		s := e.waiting[0]
		// Looked up afresh every time it heads the queue, as vLLM does: a
		// waiting sequence holds no blocks, so its prefix may be evicted
		// while it waits, and a hit counts only when it is admitted.
		h := e.kv.lookup(s)
		n := min(s.tokens()-h.tokens(e.kv.blockSize), budget)
		if !e.kv.admit(s, h, n) {
			break // wait for blocks (its whole length must fit)
		}
		if s.preempted == 0 {
			e.metrics.prefixQueries.Add(float64(len(s.prompt)))
			e.metrics.prefixHits.Add(float64(s.computed))
		}
		e.kv.commit(s, s.computed+n)
		e.waiting = e.waiting[1:]
		s.running = true
		if !s.admitted {
			s.admitted, s.scheduled = true, e.now
		}
		e.running = append(e.running, s)
		batch = append(batch, scheduled{s, n})
		e.account(&work, s, n)
		budget -= n
	}
	return batch, work
}

func (e *engine) account(w *profile.Work, s *seq, n int) {
	if n == 1 && s.generated > 0 && s.computed == s.tokens()-1 {
		w.AddDecode(s.computed)
	} else {
		w.AddPrefill(n, s.computed)
	}
}

// preempt frees s's blocks and puts it at the front of the waiting queue;
// it will recompute its prompt and what it generated so far.
func (e *engine) preempt(s *seq) {
	e.kv.release(s)
	s.computed = 0
	s.running = false
	s.preempted++
	e.running = removeSeq(e.running, s)
	e.waiting = append([]*seq{s}, e.waiting...)
	e.metrics.preemptions.Inc()
}

// finishStep applies a step's results at model time t: computed tokens, a
// new token for every sequence that caught up, and finished requests.
func (e *engine) finishStep(batch []scheduled, t float64) {
	var ready []*seq
	defer func() {
		// The gauges change before any client hears of the step, so a
		// scrape after a response never sees it still running.
		e.gauges()
		for _, s := range ready {
			if s.finished {
				s.done.Store(true)
			}
			s.poke()
		}
	}()
	for _, b := range batch {
		s := b.s
		if s.aborted || !s.running {
			continue // aborted, or preempted later in the same step
		}
		s.computed += b.n
		if s.computed < s.tokens() {
			continue // a prefill chunk; more to come
		}
		s.generated++
		e.metrics.genTokens.Inc()
		if s.generated == 1 {
			s.firstToken = t
			e.metrics.ttft.Observe(t - s.arrived)
		} else {
			e.metrics.itl.Observe(t - s.lastToken)
		}
		s.lastToken = t
		s.emitted.Store(int64(s.generated))
		if s.generated >= s.maxTokens {
			s.finished = true
			e.kv.release(s)
			e.running = removeSeq(e.running, s)
			e.metrics.finished("length", s, t)
			e.finished.Add(1)
		}
		ready = append(ready, s)
	}
}

// resetPrefixCache empties the prefix cache when no request holds blocks.
func (e *engine) resetPrefixCache() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.kv.reset()
}
