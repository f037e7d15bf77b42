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
	"fmt"
	"math"
	"math/rand/v2"

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
}

// Noises are the calibration suite's noise models.
var Noises = []Noise{
	{Name: "iid", Desc: "log-normal, 3 % per metric per trial", IIDPct: 3},
	{Name: "heavy", Desc: "iid 3 % and one trial in ten 20 % slow", IIDPct: 3, SlowProb: 0.1, SlowPct: 20},
	{Name: "bimodal", Desc: "two clock states 6 % apart, half the trials in each, and 2 % iid", IIDPct: 2, ClockProb: 0.5, ClockPct: 6},
	{Name: "drift", Desc: "iid 3 % and 0.5 % slower every trial in run order", IIDPct: 3, DriftPct: 0.5},
	{Name: "correlated", Desc: "2.5 % shared by every metric of a trial and 1.5 % each", IIDPct: 1.5, CommonPct: 2.5},
	{Name: "slowstart", Desc: "iid 2 %, and each engine start 22 % slow with probability 1/6 (one slow start in six, as the simulator's GPU-like noise draws)", IIDPct: 2, SlowProb: 1.0 / 6, SlowPct: 22},
	{Name: "mix", Desc: "shared 2 %, iid 2 %, clock states 4 % apart (30 %), drift 0.3 %/trial, one trial in 20 15 % slow; the top level's iid noise doubled", IIDPct: 2, CommonPct: 2, ClockProb: 0.3, ClockPct: 4, DriftPct: 0.3, SlowProb: 0.05, SlowPct: 15, TopLevelX: 2},
}

// noiseByName finds a noise model.
func noiseByName(name string) (Noise, bool) {
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

// Change is the true difference of the candidate: TPOT worse by TPOTPct at
// every level.
type Change struct{ TPOTPct float64 }

// trial is one simulated trial: per level, per metric, a value; and counts.
type trial struct {
	v      [Levels]map[string]float64
	counts [Levels]gate.Count
}

// world draws trials for one simulated comparison.
type world struct {
	rng   *rand.Rand
	noise Noise
	ch    Change
	rules gate.Rules
	step  int // trials drawn so far, in run order (drift)
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
	slow := lognorm(w.rng, n.CommonPct) + float64(w.step)*math.Log1p(n.DriftPct/100)
	w.step++
	if w.rng.Float64() < n.SlowProb {
		slow += math.Log1p(n.SlowPct / 100)
	}
	if w.rng.Float64() < n.ClockProb {
		slow += math.Log1p(n.ClockPct / 100)
	}
	var t trial
	for lv := range Levels {
		t.v[lv] = map[string]float64{}
		for _, r := range w.rules.Metrics {
			if gate.Absolute(r.Metric) {
				continue
			}
			iid := n.IIDPct
			if lv == Levels-1 && n.TopLevelX > 0 {
				iid *= n.TopLevelX
			}
			l := math.Log(centers[r.Metric]*(1+0.3*float64(lv))) + lognorm(w.rng, iid)
			if gate.HigherIsBetter(r.Metric) {
				l -= slow
			} else {
				l += slow
			}
			if candidate && r.Metric == "median_tpot_ms" {
				l += math.Log1p(w.ch.TPOTPct / 100)
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
	for lv := range Levels {
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
	rng := rand.New(rand.NewPCG(seed, uint64(ch.TPOTPct*1000)+uint64(d.Fixed)))
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
