package sim

// The simulator earns trust by these tests. They drive the engine in model
// time without sleeping ("virtual" runs), so they are exact, fast and do not
// depend on the speed of the machine; sim_test.go checks the same behaviour
// end to end over HTTP.

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/perfgate/perfgate/internal/arrival"
	"github.com/perfgate/perfgate/internal/sim/profile"
	"github.com/perfgate/perfgate/internal/stats"
)

type arrivalSpec struct {
	at     float64 // model seconds
	prompt []int
	out    int
}

func newTestEngine(t testing.TB, mod func(*Config)) *engine {
	t.Helper()
	cfg := DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return newEngine(cfg, cfg.profile(), newMetrics("m"))
}

// virtual runs the arrivals to completion in model time and returns the sequences.
func virtual(e *engine, arr []arrivalSpec) []*seq {
	var all []*seq
	i := 0
	for {
		for i < len(arr) && arr[i].at <= e.now {
			s := e.add(arr[i].prompt, arr[i].out, e.start)
			s.arrived = arr[i].at
			all = append(all, s)
			i++
		}
		if len(e.running) == 0 && len(e.waiting) == 0 {
			if i == len(arr) {
				return all
			}
			e.now = arr[i].at
			continue
		}
		batch, end := e.begin()
		e.finishStep(batch, end)
	}
}

var idRng = rand.New(rand.NewPCG(1, 2))

func randomPrompt(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = 1000 + idRng.IntN(30000)
	}
	return p
}

func poisson(rate float64, n, in, out int, seed uint64) []arrivalSpec {
	p, _ := arrival.New("poisson", rate, 0, rand.NewPCG(seed, 9))
	var arr []arrivalSpec
	t := 0.0
	for range n {
		arr = append(arr, arrivalSpec{at: t, prompt: randomPrompt(in), out: out})
		t += p.Next()
	}
	return arr
}

type lat struct{ ttft, tpot, e2el []float64 }

func latencies(seqs []*seq) lat {
	var l lat
	for _, s := range seqs {
		l.ttft = append(l.ttft, s.firstToken-s.arrived)
		l.e2el = append(l.e2el, s.lastToken-s.arrived)
		if s.generated > 1 {
			l.tpot = append(l.tpot, (s.lastToken-s.firstToken)/float64(s.generated-1))
		}
	}
	return l
}

func within(t *testing.T, name string, got, want, rel float64) {
	t.Helper()
	if math.Abs(got/want-1) > rel {
		t.Errorf("%s = %.4g, want %.4g ± %.0f%% (off by %+.1f%%)", name, got, want, rel*100, (got/want-1)*100)
	}
}

func TestLowLoadMatchesAnalyticTimes(t *testing.T) {
	for _, key := range profile.Names() {
		t.Run(key, func(t *testing.T) {
			e := newTestEngine(t, func(c *Config) { c.Profile = key })
			// Requests far apart: each runs alone.
			var arr []arrivalSpec
			for i := range 4 {
				arr = append(arr, arrivalSpec{at: float64(i) * 100, prompt: randomPrompt(2048), out: 64})
			}
			l := latencies(virtual(e, arr))
			within(t, "TTFT", stats.Describe(l.ttft, nil).Pct[50], e.prof.PrefillTime(2048), 0.05)
			within(t, "TPOT", stats.Describe(l.tpot, nil).Pct[50], e.prof.DecodeTime(1, 2048+32), 0.05)
		})
	}
}

func TestSaturatedThroughputMatchesCapacity(t *testing.T) {
	const in, out, batch = 512, 128, 32
	for _, key := range profile.Names() {
		t.Run(key, func(t *testing.T) {
			e := newTestEngine(t, func(c *Config) { c.Profile = key; c.MaxNumSeqs = batch })
			// Poisson arrivals at 1.5× capacity: the queue never empties, and
			// requests start (and so finish) spread out, as in production.
			capacity := e.prof.Capacity(in, out, batch)
			seqs := virtual(e, poisson(1.5*capacity/out, 1500, in, out, 11))
			ends := make([]float64, len(seqs))
			for i, s := range seqs {
				ends[i] = s.lastToken
			}
			slices.Sort(ends)
			// Between the 300th and the 1,300th completion the engine is saturated.
			got := float64(1000*out) / (ends[1300] - ends[300])
			t.Logf("%s: %.0f tok/s measured, %.0f analytic (%+.1f%%)", key, got, capacity, (got/capacity-1)*100)
			within(t, "output tokens/s", got, capacity, 0.10)
		})
	}
}

func TestHockeyStick(t *testing.T) {
	const in, out, batch = 256, 128, 32
	e0 := newTestEngine(t, func(c *Config) { c.MaxNumSeqs = batch })
	capReq := e0.prof.Capacity(in, out, batch) / out
	p99 := func(load float64, n int) float64 {
		e := newTestEngine(t, func(c *Config) { c.MaxNumSeqs = batch })
		seqs := virtual(e, poisson(load*capReq, n, in, out, 5))
		return stats.Describe(latencies(seqs[n/10:]).e2el, []float64{99}).Pct[99] // skip the start
	}
	low := p99(0.02, 300)
	half := p99(0.49, 6000)
	high := p99(0.95, 6000)
	t.Logf("capacity %.1f req/s; p99 E2EL: 2%% load %.2fs, 49%% %.2fs, 95%% %.2fs", capReq, low, half, high)
	if high < 3*low {
		t.Errorf("at 95%% of capacity p99 E2EL is %.2fs, want at least 3× the low-load %.2fs", high, low)
	}
	if half > 1.3*low {
		t.Errorf("below 50%% of capacity p99 E2EL is %.2fs, want within 1.3× the low-load %.2fs", half, low)
	}
}

func TestKVPressurePreempts(t *testing.T) {
	e := newTestEngine(t, func(c *Config) { c.NumGPUBlocksOverride = 64 }) // 1,024 tokens
	var arr []arrivalSpec
	for range 12 {
		arr = append(arr, arrivalSpec{at: 0, prompt: randomPrompt(200), out: 100})
	}
	seqs := virtual(e, arr)
	for _, s := range seqs {
		if s.generated != 100 || !s.finished {
			t.Fatalf("a request did not complete: %+v", s)
		}
	}
	if n := counterValue(t, e.metrics, "vllm:num_preemptions_total"); n == 0 {
		t.Error("no preemptions under KV pressure")
	}
	if e.kv.used != 0 {
		t.Errorf("%d blocks still in use after every request finished", e.kv.used)
	}
}

func TestPrefixCachingCutsTTFT(t *testing.T) {
	shared := randomPrompt(4096)
	mk := func() []int { return append(slices.Clone(shared), randomPrompt(64)...) }
	arr := []arrivalSpec{{at: 0, prompt: mk(), out: 8}, {at: 100, prompt: mk(), out: 8}}
	for _, caching := range []bool{true, false} {
		e := newTestEngine(t, func(c *Config) { c.EnablePrefixCaching = caching })
		seqs := virtual(e, arr)
		first, second := seqs[0].firstToken-seqs[0].arrived, seqs[1].firstToken-seqs[1].arrived
		hits := counterValue(t, e.metrics, "vllm:prefix_cache_hits_total")
		if caching && (second > first/4 || hits != 4096) {
			t.Errorf("with caching: TTFT %.4fs then %.4fs, %v tokens hit", first, second, hits)
		}
		if !caching && (math.Abs(second/first-1) > 0.01 || hits != 0) {
			t.Errorf("without caching: TTFT %.4fs then %.4fs, %v hits", first, second, hits)
		}
	}
}

func TestSlowdownDecode(t *testing.T) {
	arr := poisson(0.5, 20, 256, 128, 3)
	tpot := func(slow float64) float64 {
		e := newTestEngine(t, func(c *Config) { c.SlowdownDecode = slow })
		return stats.Describe(latencies(virtual(e, arr)).tpot, nil).Mean
	}
	within(t, "TPOT ratio", tpot(1.05)/tpot(1), 1.05, 0.01/1.05)
}

func TestSameSeedSameTimings(t *testing.T) {
	arr := poisson(20, 100, 300, 50, 7)
	run := func(seed uint64) []float64 {
		e := newTestEngine(t, func(c *Config) { c.Seed = seed; c.Jitter = 0.1 })
		var times []float64
		for _, s := range virtual(e, arr) {
			times = append(times, s.firstToken, s.lastToken)
		}
		return times
	}
	a, b, c := run(1), run(1), run(2)
	if !slices.Equal(a, b) {
		t.Error("the same seed gave different token timings")
	}
	if slices.Equal(a, c) {
		t.Error("jitter with another seed gave the same timings")
	}
}

func TestChunkedPrefillSpreadsLongPrompts(t *testing.T) {
	e := newTestEngine(t, func(c *Config) { c.MaxNumBatchedTokens = 1024 })
	seqs := virtual(e, []arrivalSpec{{at: 0, prompt: randomPrompt(4000), out: 2}})
	// 4,000 tokens in chunks of at most 1,024: four steps before the first token.
	var w profile.Work
	want := 0.0
	for done := 0; done < 4000; done += 1024 {
		w = profile.Work{}
		w.AddPrefill(min(1024, 4000-done), done)
		want += e.prof.StepTime(w, e.knobs)
	}
	within(t, "TTFT", seqs[0].firstToken-seqs[0].arrived, want, 1e-9)
}

// counterValue sums a counter of the simulator's registry.
func counterValue(t testing.TB, m *metrics, name string) float64 {
	t.Helper()
	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		var sum float64
		for _, mt := range f.GetMetric() {
			sum += mt.GetCounter().GetValue()
		}
		return sum
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// Queue time runs from the first step boundary after a request arrived, as
// vLLM's engine core takes new requests in between steps: a request that
// arrives mid-step and finds room has none, though its TTFT waits for the
// step to end.
func TestQueueTimeFromTheNextStep(t *testing.T) {
	e := newTestEngine(t, nil)
	p := make([]int, 64)
	for i := range p {
		p[i] = 1000 + i
	}
	// a long request first, a second arriving 1 ms into its first step
	all := virtual(e, []arrivalSpec{{0, p, 200}, {0.001, append([]int{7}, p...), 5}})
	second := all[1]
	if q := second.scheduled - second.queued; q != 0 {
		t.Errorf("queue time %.6f s with room to run", q)
	}
	if second.queued <= second.arrived || second.firstToken-second.arrived <= second.firstToken-second.queued {
		t.Errorf("arrived %.6f, queued %.6f: TTFT from the arrival must hold the rest of the step it arrived in", second.arrived, second.queued)
	}
}

// A waiting sequence is admitted only when its whole prompt fits, as vLLM
// 0.32.0 admits (scheduler_reserve_full_isl): its first chunk fitting is
// not enough. Here the second request's first 32-token chunk would fit
// beside the first request, its 96-token prompt would not: it waits for the
// first to finish instead of running and being preempted.
func TestAdmissionNeedsTheWholePrompt(t *testing.T) {
	e := newTestEngine(t, func(c *Config) { c.NumGPUBlocksOverride, c.MaxNumBatchedTokens, c.EnablePrefixCaching = 10, 32, false }) // 160 tokens
	mk := func(n, base int) []int {
		p := make([]int, n)
		for i := range p {
			p[i] = base + i
		}
		return p
	}
	all := virtual(e, []arrivalSpec{{0, mk(64, 1000), 40}, {0.0005, mk(96, 2000), 4}})
	a, b := all[0], all[1]
	if b.scheduled < a.lastToken {
		t.Errorf("the second request ran at %.4f s, before the first finished at %.4f s, though its prompt did not fit beside it", b.scheduled, a.lastToken)
	}
	if n := counterValue(t, e.metrics, "vllm:num_preemptions_total"); n != 0 {
		t.Errorf("%v preemptions", n)
	}
}

// A sequence that cannot be admitted holds no blocks while it waits, as in
// vLLM (it looks its prefix up again each time it heads the queue), and its
// prefix-cache hit counts only when it is admitted.
func TestWaitingHoldsNoBlocks(t *testing.T) {
	e := newTestEngine(t, func(c *Config) { c.NumGPUBlocksOverride, c.BlockSize = 10, 16 }) // 160 tokens
	shared := randomPrompt(64)
	long := arrivalSpec{at: 0, prompt: append(slices.Clone(shared), randomPrompt(32)...), out: 40}
	// the second shares the first's 64-token prefix, but its whole length
	// (64 + 64) does not fit beside the first's 96 + 40
	e.add(long.prompt, long.out, e.start)
	batch, end := e.begin()
	e.finishStep(batch, end)
	w := e.add(append(slices.Clone(shared), randomPrompt(64)...), 4, e.start)
	batch, end = e.begin()
	e.finishStep(batch, end)
	if len(e.waiting) != 1 || len(w.blocks) != 0 {
		t.Fatalf("waiting %d, the waiting sequence holds %d blocks; want it waiting with none", len(e.waiting), len(w.blocks))
	}
	if q := counterValue(t, e.metrics, "vllm:prefix_cache_queries_total"); q != float64(len(long.prompt)) {
		t.Errorf("prefix-cache queries %v before the second was admitted, want the first's %d", q, len(long.prompt))
	}
	for len(e.running)+len(e.waiting) > 0 {
		batch, end = e.begin()
		e.finishStep(batch, end)
	}
	if h := counterValue(t, e.metrics, "vllm:prefix_cache_hits_total"); h != 64 {
		t.Errorf("prefix-cache hits %v, want the shared 64 tokens once", h)
	}
}

// A preempted sequence finds its own blocks — prompt and output — again
// when it is re-admitted, if nothing evicted them, as vLLM caches every full
// block of a request: it recomputes only what was lost.
func TestPreemptedFindsItsOwnBlocks(t *testing.T) {
	e := newTestEngine(t, func(c *Config) { c.NumGPUBlocksOverride, c.BlockSize = 64, 16 })
	s := e.add(randomPrompt(100), 80, e.start)
	for s.generated < 40 {
		batch, end := e.begin()
		e.finishStep(batch, end)
	}
	e.preempt(s)
	h := e.kv.lookup(s)
	if got, want := h.tokens(16), (s.tokens()-1)/16*16; got != want {
		t.Errorf("after a preemption the sequence finds %d of its %d tokens cached, want %d", got, s.tokens(), want)
	}
}

// Blocks are registered when their step is scheduled, as vLLM's scheduler
// caches them: a request admitted in the same step as another with the same
// prompt prefix already reuses it.
func TestSameStepSharesAPrefix(t *testing.T) {
	e := newTestEngine(t, nil)
	shared := randomPrompt(512)
	e.add(append(slices.Clone(shared), randomPrompt(32)...), 4, e.start)
	e.add(append(slices.Clone(shared), randomPrompt(32)...), 4, e.start)
	batch, _ := e.begin()
	if len(batch) != 2 || batch[1].n != 512+32-512/e.kv.blockSize*e.kv.blockSize {
		t.Fatalf("the second request computes %d tokens in the first step, want only what follows the shared blocks", batch[1].n)
	}
}

// A step model replaces the profile's step times: a step costs what the
// fitted figures say, and requests wait their own work first.
func TestStepModelReplacesTheProfile(t *testing.T) {
	l := profile.Linear{PrefillTokenMs: 0.02, DecodeSeqMs: 0.1, AttnPairNs: 5, RequestMs: 4}
	e := newTestEngine(t, func(c *Config) { c.StepModel, c.StepOverheadMs = &l, 2 })
	var w profile.Work
	w.AddPrefill(100, 0)
	w.AddDecode(50)
	want := (2 + 100*0.02 + 0.1 + 5e-6*(w.PrefillAttnTok+50)) / 1000
	if got := e.prof.StepTime(w, e.knobs); math.Abs(got-want) > 1e-12 {
		t.Errorf("step time %.6g s, want %.6g s", got, want)
	}
	if e.prof.Linear.RequestMs != 4 {
		t.Errorf("request work %v ms, want 4", e.prof.Linear.RequestMs)
	}
	// beside decodes, a prefill token costs the mixed figure; alone, not
	l.MixedPrefillTokenMs = 0.06
	e = newTestEngine(t, func(c *Config) { c.StepModel, c.StepOverheadMs = &l, 2 })
	want = (2 + 100*0.06 + 0.1 + 5e-6*(w.PrefillAttnTok+50)) / 1000
	if got := e.prof.StepTime(w, e.knobs); math.Abs(got-want) > 1e-12 {
		t.Errorf("a mixed step: %.6g s, want %.6g s", got, want)
	}
	var alone profile.Work
	alone.AddPrefill(100, 0)
	want = (2 + 100*0.02 + 5e-6*alone.PrefillAttnTok) / 1000
	if got := e.prof.StepTime(alone, e.knobs); math.Abs(got-want) > 1e-12 {
		t.Errorf("a prefill alone: %.6g s, want %.6g s", got, want)
	}
	// a decoding sequence's context at its own price, the prefill's
	// attention pairs still at theirs
	l.DecodeCtxTokenNs = 300
	e = newTestEngine(t, func(c *Config) { c.StepModel, c.StepOverheadMs = &l, 2 })
	want = (2 + 100*0.06 + 0.1 + 5e-6*w.PrefillAttnTok + 300e-6*50) / 1000
	if got := e.prof.StepTime(w, e.knobs); math.Abs(got-want) > 1e-12 {
		t.Errorf("decode context priced apart: %.6g s, want %.6g s", got, want)
	}
}

// The running gauge changes when a step ends, as vLLM's does: through the
// first step from idle (the new request's prefill) it still reads 0, after it
// 1, and after the step that finishes the request 0 again.
func TestGaugesChangeWhenAStepEnds(t *testing.T) {
	e := newTestEngine(t, nil)
	running := func() float64 {
		t.Helper()
		fams, err := e.metrics.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fams {
			if f.GetName() == "vllm:num_requests_running" {
				return f.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no running gauge")
		return 0
	}
	e.add(randomPrompt(64), 2, e.start)
	batch, end := e.begin()
	if r := running(); r != 0 {
		t.Errorf("during the prefill step from idle: running %v, want 0", r)
	}
	e.finishStep(batch, end)
	if r := running(); r != 1 {
		t.Errorf("after it: running %v, want 1", r)
	}
	batch, end = e.begin()
	if r := running(); r != 1 {
		t.Errorf("during the last decode step: running %v, want 1", r)
	}
	e.finishStep(batch, end)
	if r := running(); r != 0 {
		t.Errorf("after the request finished: running %v, want 0", r)
	}
}
