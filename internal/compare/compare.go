package compare

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/perfgate/perfgate/internal/comparison"
	"github.com/perfgate/perfgate/internal/gate"
	"github.com/perfgate/perfgate/internal/metric"
	"github.com/perfgate/perfgate/internal/numfmt"
	"github.com/perfgate/perfgate/internal/plot"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/report"
	"github.com/perfgate/perfgate/internal/scenario"
	"github.com/perfgate/perfgate/internal/stats"
)

// Trial is one trial's run folder, as a comparison needs it.
type Trial struct {
	Dir      string
	Meta     record.Meta
	Summary  record.Summary
	Scenario *scenario.Scenario
}

// MismatchError refuses a comparison of unlike runs.
type MismatchError struct{ Reason string }

func (e *MismatchError) Error() string { return e.Reason }

var trialNameRe = regexp.MustCompile(`^trial-[0-9]+$`)

// LoadTrials reads the trials of one side: each directory is a run folder,
// or a folder of trial-NN run folders (perfgate run --trials).
func LoadTrials(dirs []string) ([]Trial, error) {
	var out []Trial
	var errs []error
	for _, d := range dirs {
		subs, _ := filepath.Glob(filepath.Join(d, "trial-*"))
		// trial-NN only: a failed attempt (trial-NN.failed) or a re-run
		// outlier (trial-NN.outlier-K) is kept beside, not compared.
		subs = slices.DeleteFunc(subs, func(s string) bool { return !trialNameRe.MatchString(filepath.Base(s)) })
		slices.Sort(subs)
		if len(subs) == 0 {
			subs = []string{d}
		}
		for _, s := range subs {
			t, err := loadTrial(s)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, t)
		}
	}
	if len(out) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("no trials given"))
	}
	return out, errors.Join(errs...)
}

func loadTrial(dir string) (Trial, error) {
	t := Trial{Dir: dir}
	r, err := report.Load(dir) // recomputes from the records, so interrupted trials count too
	if err != nil {
		return t, err
	}
	t.Meta, t.Summary = r.Meta, r.Summary
	if s, err := scenario.LoadFile(filepath.Join(dir, record.ScenarioFile)); err == nil {
		t.Scenario = s
	} else {
		return t, &report.NotRunFolderError{Dir: dir, Reason: "its scenario.yaml cannot be read: " + err.Error()}
	}
	return t, nil
}

// EnvKey is what must match for two trials to be compared.
func EnvKey(t Trial) string { return envKey(t) }

// envKey is what must match for a comparison to mean something: the
// hardware, its driver, and for the simulator its profile.
func envKey(t Trial) string {
	var parts []string
	parts = append(parts, "engine "+t.Meta.Engine.Kind, "model "+t.Meta.Engine.Model)
	if t.Meta.GPU != nil {
		var gpus []string
		for _, g := range t.Meta.GPU.GPUs {
			gpus = append(gpus, g.Name)
		}
		parts = append(parts, "GPUs "+strings.Join(gpus, ", "), "driver "+t.Meta.GPU.DriverVersion)
	}
	if t.Scenario != nil && t.Scenario.Engine.Kind == scenario.EngineSim {
		p := t.Scenario.Engine.Sim.Profile
		if p == "" {
			p = "default"
		}
		parts = append(parts, "simulator profile "+p)
	}
	return strings.Join(parts, "; ")
}

// inputsKey names the content of the files a trial's workload read.
func inputsKey(t Trial) string {
	var parts []string
	for _, f := range t.Meta.Inputs {
		parts = append(parts, fmt.Sprintf("%s sha256 %.12s", f.Role, f.SHA256))
	}
	slices.Sort(parts)
	if len(parts) == 0 {
		return "no files"
	}
	return strings.Join(parts, ", ")
}

func levelKey(s *scenario.Scenario) string {
	var parts []string
	for _, l := range s.LevelSpecs() {
		parts = append(parts, l.String())
	}
	return s.Name + ": " + strings.Join(parts, ", ")
}

// Comparison is comparison.json, RunInfo how its trials ran and Change one
// telemetry value of both sides: the file's types live in
// internal/comparison, which reporters read without the charts.
type (
	Comparison = comparison.Comparison
	RunInfo    = comparison.RunInfo
	Change     = comparison.Change
)

// ClearScore is the smallest Score a telemetry change needs to be named as a cause.
const ClearScore = comparison.ClearScore

// Options change how a comparison decides.
type Options struct {
	AllowEnvMismatch bool
	// Release is the release profile: alpha 0.01 (or the scenario's when
	// stricter) and two-sided review of large improvements.
	Release bool
	// Look decides as one look of a sequential A/B (gate.Look) instead of a
	// fixed-sample comparison.
	Look bool
	// KeptWhy, when set, says why an outlier of a side is still among the
	// trials (perfgate ab: its side's re-runs were spent); the outlier's
	// note adds it.
	KeptWhy func(side string) string
	// MinTrials and MaxTrials, when set, stand for the scenario's
	// gate.min_trials and gate.max_trials (perfgate ab --min-trials,
	// --max-trials).
	MinTrials, MaxTrials int
}

// gateInputs are the gate's inputs: every gating metric at every gating
// level (1-based), with request counts for error_rate.
func gateInputs(base, cand []Trial, r gate.Rules, levels []int) []gate.Input {
	var inputs []gate.Input
	for _, lv := range levels {
		for _, rule := range r.Metrics {
			in := gate.Input{Level: lv, Metric: rule.Metric}
			in.Baseline = values(base, lv-1, rule.Metric)
			in.Candidate = values(cand, lv-1, rule.Metric)
			if gate.Absolute(rule.Metric) {
				in.BaselineCounts, in.CandidateCounts = counts(base, lv-1), counts(cand, lv-1)
			}
			if len(in.Baseline) > 0 && len(in.Candidate) > 0 {
				inputs = append(inputs, in)
			}
		}
		// Without error_rate among the rules, it is still reported: its
		// request counts are what tells the gate that a side had no
		// successful request at all (gate.BrokenSides).
		if !slices.ContainsFunc(r.Metrics, func(m gate.Rule) bool { return m.Metric == "error_rate" }) {
			in := gate.Input{Level: lv, Metric: "error_rate", Baseline: values(base, lv-1, "error_rate"), Candidate: values(cand, lv-1, "error_rate"),
				BaselineCounts: counts(base, lv-1), CandidateCounts: counts(cand, lv-1)}
			if len(in.Baseline) > 0 && len(in.Candidate) > 0 {
				inputs = append(inputs, in)
			}
		}
	}
	return inputs
}

// counts are each trial's failed and issued requests at a level (0-based).
func counts(ts []Trial, level int) []gate.Count {
	var out []gate.Count
	for _, t := range ts {
		for _, l := range t.Summary.Levels {
			if l.Level == level {
				out = append(out, gate.Count{Failed: l.Errors, Issued: l.NumRequests})
			}
		}
	}
	return out
}

// Compare checks that the sides are alike and decides.
func Compare(base, cand []Trial, o Options) (*Comparison, error) {
	if len(base) == 0 || len(cand) == 0 {
		return nil, &MismatchError{"both sides need at least one trial"}
	}
	s := base[0].Scenario
	c := &Comparison{SchemaVersion: 1, Scenario: s.Name, Environment: envKey(base[0])}
	if err := checkComparable(c, base, cand, o.AllowEnvMismatch); err != nil {
		return nil, err
	}
	for _, t := range base {
		c.Baseline = append(c.Baseline, t.Dir)
	}
	for _, t := range cand {
		c.Candidate = append(c.Candidate, t.Dir)
	}
	for side, ts := range map[string][]Trial{"baseline": base, "candidate": cand} {
		sideTagsAndCommit(c, side, ts)
	}
	c.Rules = rules(s, o)
	if o.Release {
		c.Notes = append(c.Notes, "release profile: alpha 0.01, and significant improvements beyond a fail threshold are flagged for review")
	}
	levels := s.Gate.Levels
	if len(levels) == 0 {
		for i := range s.LevelSpecs() {
			levels = append(levels, i+1)
		}
	}
	inputs := gateInputs(base, cand, c.Rules, levels)
	if o.Look {
		c.Outcome = gate.Look(inputs, c.Rules)
		c.Notes = append(c.Notes, c.Outcome.Notes...) // a futility stop says what would decide
	} else {
		c.Outcome = gate.Decide(inputs, c.Rules)
	}
	broken := gate.BrokenSides(inputs)
	if ok, why := gate.CanFail(min(len(base), len(cand)), c.Rules); !ok && len(broken) == 0 {
		c.Notes = append(c.Notes, why)
	}
	headFirst := brokenNotes(c, base, cand, broken)
	noiseNotes(c)
	c.Outliers = gate.Outliers(inputs, c.Rules)
	outlierNotes(c, base, cand, o)
	c.Explain = explain(base, cand, levels)
	c.Outcome.Headline = c.MakeHeadline()
	if headFirst != "" {
		c.Outcome.Headline += comparison.FirstErrorSep + numfmt.Clip(headFirst, 120)
	}
	return c, nil
}

// checkComparable refuses trials of different scenarios or load levels, or
// that read different workload files, and trials from different
// environments unless allowed (then noted in c).
func checkComparable(c *Comparison, base, cand []Trial, allowEnvMismatch bool) error {
	all := append(slices.Clone(base), cand...)
	s := base[0].Scenario
	for _, t := range all {
		if levelKey(t.Scenario) != levelKey(s) {
			return &MismatchError{fmt.Sprintf("the runs are of different scenarios or load levels: %q in %s, %q in %s", levelKey(s), base[0].Dir, levelKey(t.Scenario), t.Dir)}
		}
	}
	k0 := inputsKey(base[0])
	for _, t := range all {
		if k := inputsKey(t); k != k0 {
			return &MismatchError{fmt.Sprintf("the runs read different workload files, so they did not get the same traffic: %s read %s, %s read %s", base[0].Dir, k0, t.Dir, k)}
		}
	}
	for _, t := range all {
		if k := envKey(t); k != c.Environment {
			c.EnvMismatch = fmt.Sprintf("%s ran on %q, %s on %q", base[0].Dir, c.Environment, t.Dir, k)
			if !allowEnvMismatch {
				return &MismatchError{"the runs come from different environments, so their numbers cannot be compared: " + c.EnvMismatch + " (--allow-env-mismatch compares them anyway)"}
			}
			c.Notes = append(c.Notes, "environments differ (allowed): "+c.EnvMismatch)
			break
		}
	}
	return nil
}

// sideTagsAndCommit records a side's tags (values that differ between its
// trials joined with "|") and its commit when every trial has the same.
func sideTagsAndCommit(c *Comparison, side string, ts []Trial) {
	sha := ts[0].Meta.Git["sha"]
	for _, t := range ts {
		if t.Meta.Git["sha"] != sha {
			sha = ""
		}
		for k, v := range t.Meta.Tags {
			if c.Tags == nil {
				c.Tags = map[string]map[string]string{}
			}
			if c.Tags[side] == nil {
				c.Tags[side] = map[string]string{}
			}
			if old, ok := c.Tags[side][k]; ok && old != v && !slices.Contains(strings.Split(old, "|"), v) {
				v = old + "|" + v
			}
			c.Tags[side][k] = v
		}
	}
	if sha != "" {
		if c.Commits == nil {
			c.Commits = map[string]string{}
		}
		c.Commits[side] = sha
	}
}

// rules are the gate's rules from the scenario's gate: section and the
// options (the release profile: alpha at most 0.01, two-sided).
// GateRules are the rules a comparison of s decides with: the scenario's
// gate, with o's trial bounds and profile.
func GateRules(s *scenario.Scenario, o Options) gate.Rules { return rules(s, o) }

func rules(s *scenario.Scenario, o Options) gate.Rules {
	g := s.Gate
	r := gate.Rules{Alpha: g.Alpha, MinTrials: cmp.Or(o.MinTrials, g.MinTrials), MaxTrials: cmp.Or(o.MaxTrials, g.MaxTrials)}
	r.MaxTrials = max(r.MaxTrials, r.MinTrials)
	if o.Release {
		r.Alpha = min(r.Alpha, 0.01)
		r.TwoSided = true
	}
	for _, m := range g.Metrics {
		r.Metrics = append(r.Metrics, gate.Rule{Metric: m.Name, WarnPct: m.WarnPct, FailPct: m.FailPct})
	}
	return r
}

// brokenNotes notes each level where a side had no successful request, with
// the first error its trials recorded; it returns the first such error, for
// the headline.
func brokenNotes(c *Comparison, base, cand []Trial, broken map[int]gate.Broken) (headFirst string) {
	for _, lv := range slices.Sorted(maps.Keys(broken)) {
		b := broken[lv]
		note := fmt.Sprintf("level %d: %s: nothing of that side to measure, a fail at any number of trials", lv, b.Words())
		if first := firstError(base, cand, b.Side); first != "" {
			note += "; the first error: " + first
			headFirst = cmp.Or(headFirst, first)
		}
		c.Notes = append(c.Notes, note)
	}
	return headFirst
}

// noiseNotes say where the noise leaves the verdict open: a metric shown to
// be within its fail threshold, or that failed, needs no such note.
func noiseNotes(c *Comparison) {
	for _, r := range c.Outcome.Results {
		if r.Gating && r.BelowNoise && r.Verdict != metric.Fail && !(r.PBeyond <= gate.FutilityBeta) {
			c.Notes = append(c.Notes, fmt.Sprintf("level %d %s: at the noise measured here (%.1f %% per trial), %d trials per side detect a change of %.0f %% or more at 90 %% power — past twice the fail threshold (%g %%): more trials or a quieter machine would tell", r.Level, r.Metric, r.NoisePct, min(r.N[0], r.N[1]), math.Ceil(float64(r.DetectablePct)), r.FailPct))
		}
	}
}

// outlierNotes say, for each outlier trial, how far off it is and whether
// the tests left it out.
func outlierNotes(c *Comparison, base, cand []Trial, o Options) {
	for _, ol := range c.Outliers {
		ts := base
		if ol.Side == "candidate" {
			ts = cand
		}
		fate := "kept in the tests: its side has too few other trials to leave it out"
		switch {
		case o.Look:
			fate = "kept in the tests: a sequential look decides on every trial it has"
		case leftOut(c.Outcome, ol):
			fate = fmt.Sprintf("left out of the ratio tests: its side keeps %d other trials", len(ts)-1)
		}
		if o.KeptWhy != nil {
			fate += "; " + o.KeptWhy(ol.Side)
		}
		c.Notes = append(c.Notes, fmt.Sprintf("outlier: the %s's trial %s is %+.0f %% from its side's others on every gating metric together (%s)", ol.Side, filepath.Base(ts[ol.Index].Dir), ol.ShiftPct, fate))
	}
}

// leftOut says whether the decision left an outlier trial out of its tests.
func leftOut(o gate.Outcome, ol gate.Outlier) bool {
	for _, r := range o.Results {
		if slices.ContainsFunc(r.LeftOut, func(x gate.Outlier) bool { return x.Side == ol.Side && x.Index == ol.Index }) {
			return true
		}
	}
	return false
}

// values are a metric's per-trial values at a level (0-based).
func values(ts []Trial, level int, name string) []float64 {
	var out []float64
	for _, t := range ts {
		for _, l := range t.Summary.Levels {
			if l.Level != level {
				continue
			}
			if v, ok := metric.Value(l, name); ok && !math.IsNaN(v) {
				out = append(out, v)
			}
		}
	}
	return out
}

// explain puts the sides' telemetry next to each other and ranks what changed most.
func explain(base, cand []Trial, levels []int) []Change {
	fields := []struct {
		what string
		get  func(*record.TelemetrySummary) *float64
	}{
		{"preemptions", func(s *record.TelemetrySummary) *float64 { return s.Preemptions }},
		{"peak KV-cache usage %", func(s *record.TelemetrySummary) *float64 { return s.KVCachePeakPct }},
		{"prefix-cache hit rate", func(s *record.TelemetrySummary) *float64 { return s.PrefixCacheHitRate }},
		{"server queue time ms", func(s *record.TelemetrySummary) *float64 { return s.QueueTimeMeanMs }},
		{"server prefill time ms", func(s *record.TelemetrySummary) *float64 { return s.PrefillTimeMeanMs }},
		{"server decode time ms", func(s *record.TelemetrySummary) *float64 { return s.DecodeTimeMeanMs }},
		{"spec-decode acceptance rate", func(s *record.TelemetrySummary) *float64 { return s.SpecAcceptanceRate }},
		{"running requests", func(s *record.TelemetrySummary) *float64 { return s.RunningMean }},
		{"waiting requests", func(s *record.TelemetrySummary) *float64 { return s.WaitingMean }},
		{"GPU utilization %", func(s *record.TelemetrySummary) *float64 { return s.GPUUtilMeanPct }},
		{"min SM clock MHz", func(s *record.TelemetrySummary) *float64 { return s.SMClockMinMHz }},
		{"power W", func(s *record.TelemetrySummary) *float64 { return s.PowerMeanW }},
		{"energy per output token J", func(s *record.TelemetrySummary) *float64 { return s.EnergyPerOutputTokenJ }},
		{"client CPU peak %", func(s *record.TelemetrySummary) *float64 { return s.ClientCPUPeakPct }},
	}
	side := func(ts []Trial, lv int, get func(*record.TelemetrySummary) *float64) []float64 {
		var xs []float64
		for _, t := range ts {
			for _, l := range t.Summary.Levels {
				if l.Level == lv && l.Telemetry != nil && l.Telemetry.Measure != nil {
					if p := get(l.Telemetry.Measure); p != nil && !math.IsNaN(*p) {
						xs = append(xs, *p)
					}
				}
			}
		}
		return xs
	}
	var out []Change
	add := func(lv int, what string, bs, cs []float64) {
		if len(bs) == 0 || len(cs) == 0 {
			return
		}
		b, c := stats.Median(bs), stats.Median(cs)
		if b == 0 && c == 0 {
			return
		}
		factor := math.Inf(1)
		if b != 0 {
			factor = c / b
		}
		sc := score(bs, cs)
		out = append(out, Change{Level: lv, What: what, Baseline: b, Candidate: c, Factor: record.Float(factor), Score: record.Float(sc), Clear: sc >= ClearScore})
	}
	for _, lv := range levels {
		for _, f := range fields {
			add(lv, f.what, side(base, lv-1, f.get), side(cand, lv-1, f.get))
		}
		// schedule delay: how late the client sent, per side
		bs, cs := values(base, lv-1, "p99_schedule_delay_ms"), values(cand, lv-1, "p99_schedule_delay_ms")
		if b, c := stats.Median(bs), stats.Median(cs); b > 0 && c > 0 && max(b, c) >= 1 { // below a millisecond it is noise, not a cause
			add(lv, "client p99 schedule delay ms", bs, cs)
		}
	}
	// Clear changes first, each group by its size against its noise, then by size.
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Clear != b.Clear {
			return a.Clear
		}
		if a.Score != b.Score && !(a.Score.IsNaN() || b.Score.IsNaN()) {
			return a.Score > b.Score
		}
		return magnitude(a.Factor) > magnitude(b.Factor)
	})
	return out
}

// score is a telemetry change's size against its own trial-to-trial noise:
// the difference of means over its standard error (on log values when every
// value is positive). NaN with fewer than two trials a side; +Inf when
// neither side varies but they differ.
func score(bs, cs []float64) float64 {
	if len(bs) < 2 || len(cs) < 2 {
		return math.NaN()
	}
	pos := true
	for _, v := range append(slices.Clone(bs), cs...) {
		pos = pos && v > 0
	}
	if pos {
		bs, cs = stats.Logs(bs), stats.Logs(cs)
	}
	diff, se, _ := stats.Welch(bs, cs)
	if se == 0 {
		if diff == 0 {
			return 0
		}
		return math.Inf(1)
	}
	return math.Abs(diff) / se
}

// nan is a missing value.
var nan = record.Float(math.NaN())

func magnitude(rf record.Float) float64 { return comparison.Magnitude(rf) }

// firstError is the first error a broken side's trials recorded, from their
// result.json ("" when none says).
func firstError(base, cand []Trial, side string) string {
	ts := cand
	if side == "baseline" {
		ts = base
	}
	for _, t := range ts {
		if e := t.Summary.Error; e != "" {
			if _, after, ok := strings.Cut(e, "the first: "); ok {
				e = after
			}
			return numfmt.Clip(e, 200)
		}
	}
	return ""
}

// Write writes comparison.json, comparison.md and the overlay
// plots (baseline against candidate) into out. comparison.json comes first;
// a canceled ctx (SIGINT, SIGTERM) stops it between charts with the context's
// cause.
func Write(ctx context.Context, c *Comparison, base, cand []Trial, out string) error {
	if err := os.MkdirAll(filepath.Join(out, "plots"), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := record.WriteFileAtomic(filepath.Join(out, record.ComparisonFile), append(b, '\n')); err != nil {
		return err
	}
	var figs []string
	svgs := map[string][]byte{}
	for name, ch := range charts(c, base, cand) {
		if ch == nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("stopped while drawing the charts (%w); %s is written", context.Cause(ctx), record.ComparisonFile)
		}
		s, err := ch.SVG()
		if err != nil {
			return err
		}
		svgs[name] = s
		p, err := ch.PNG()
		if err != nil {
			return err
		}
		if err := record.WriteFileAtomic(filepath.Join(out, "plots", name+".svg"), s); err != nil {
			return err
		}
		if err := record.WriteFileAtomic(filepath.Join(out, "plots", name+".png"), p); err != nil {
			return err
		}
		figs = append(figs, name)
	}
	slices.Sort(figs)
	if err := record.WriteFileAtomic(filepath.Join(out, "comparison.md"), []byte(comparisonMarkdown(c, figs))); err != nil {
		return err
	}
	page, err := comparisonHTML(c, svgs)
	if err != nil {
		return err
	}
	return record.WriteFileAtomic(filepath.Join(out, "comparison.html"), page)
}

func gatingCount(c *Comparison) int {
	n := 0
	for _, r := range c.Outcome.Results {
		if r.Gating {
			n++
		}
	}
	return n
}

func qText(q record.Float) string { return numfmt.F("%.3g", float64(q)) }

func noiseText(v record.Float) string { return numfmt.F("%.1f %%", float64(v)) }

// clarity says how a telemetry change compares with its own noise.
func clarity(ch Change) string {
	switch {
	case ch.Score.IsNaN():
		return "one trial a side: its noise is unknown"
	case math.IsInf(float64(ch.Score), 1):
		return "clear (neither side varies)"
	case ch.Clear:
		return fmt.Sprintf("clear (%.0f× its standard error)", ch.Score)
	}
	return fmt.Sprintf("within its noise (%.1f× its standard error)", ch.Score)
}

func pct(rv record.Float) string {
	v := float64(rv)
	if math.IsInf(v, 0) {
		return "∞"
	}
	return numfmt.F("%+.1f %%", v)
}

// resultsInOrder are the comparison's results for a reader: regressions
// first, then improvements, then the rest.
func resultsInOrder(c *Comparison) []gate.Result {
	rs := slices.Clone(c.Outcome.Results)
	order := func(r gate.Result) int {
		switch {
		case r.Verdict == metric.Fail:
			return 0
		case r.Verdict == metric.Warn:
			return 1
		case r.Improved:
			return 2
		}
		return 3
	}
	sort.SliceStable(rs, func(i, j int) bool { return order(rs[i]) < order(rs[j]) })
	return rs
}

func comparisonMarkdown(c *Comparison, figs []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s %s\n\n", c.Outcome.Verdict.Mark(), c.Outcome.Headline)
	fmt.Fprintf(&b, "Scenario `%s`; %d baseline and %d candidate trial(s)", c.Scenario, len(c.Baseline), len(c.Candidate))
	if c.Run != nil {
		fmt.Fprintf(&b, " — %s", c.Run.Stopped)
	}
	b.WriteString(".\n\n")
	fmt.Fprintf(&b, "A metric **fails** when it is significantly worse than its margin (the warn threshold plus a quarter of the way to the fail threshold, or the fail threshold less one standard error where the trials are quieter) and its estimated change is past the fail threshold; it **warns** when it is significantly worse and estimated past the warn threshold; a change the trials cannot tell from noise passes. q is the Benjamini-Hochberg value of the fail test over the %d gating tests, significant at %.3g", gatingCount(c), c.Outcome.Alpha)
	if c.Outcome.StopReason != gate.StopFixed && c.Outcome.StopReason != "" {
		fmt.Fprintf(&b, " (a look's share of alpha %g: the sequential A/B looked after every pair of trials)", c.Rules.Alpha)
	}
	b.WriteString(".\n\n")
	if c.Run != nil {
		for _, r := range c.Run.Reruns {
			b.WriteString("> ↻ re-run: " + r + "\n>\n")
		}
		if len(c.Run.Reruns) > 0 {
			b.WriteString("\n")
		}
	}
	for _, n := range c.Notes {
		b.WriteString("> ⚠ " + n + "\n>\n")
	}
	if len(c.Notes) > 0 {
		b.WriteString("\n")
	}
	if slices.Contains(figs, "change") {
		b.WriteString("![change per metric](plots/change.svg)\n\n")
		figs = slices.DeleteFunc(slices.Clone(figs), func(f string) bool { return f == "change" })
	}
	rs := resultsInOrder(c)
	b.WriteString("| | level | metric | baseline | candidate | Δ | 95 % CI | q | n | noise | why |\n| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for _, r := range rs {
		mark := r.Verdict.Mark()
		if r.Improved {
			mark = "🚀"
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %.4g | %.4g | %s | %s … %s | %s | %d/%d | %s | %s |\n", mark, r.Level, r.Metric,
			r.BaselineMedian, r.CandMedian, pct(r.ChangePct), pct(r.CILowPct), pct(r.CIHighPct), qText(r.Q), r.N[0], r.N[1], noiseText(r.NoisePct), r.Reason)
	}
	b.WriteString("\nΔ is the candidate against the baseline (Hodges-Lehmann; for error_rate the pooled difference in percentage points); noise is the per-trial standard deviation of the metric's log values (both sides pooled), in %; thresholds are in the scenario's `gate:` section.\n")
	if len(c.Explain) > 0 {
		b.WriteString("\n## Why it moved\n\nTelemetry of both sides (medians over trials, measurement phase). Changes that are clear against their own trial-to-trial noise come first; only they are named as causes:\n\n")
		for i, ch := range c.Explain {
			if i == 10 {
				break
			}
			fmt.Fprintf(&b, "- level %d: %s — %s\n", ch.Level, ch, clarity(ch))
		}
	}
	b.WriteString("\n## Environment\n\n" + c.Environment + "\n")
	for _, side := range []string{"baseline", "candidate"} {
		if len(c.Tags[side]) > 0 {
			fmt.Fprintf(&b, "\n%s tags: %s\n", side, report.TagString(c.Tags[side]))
		}
	}
	if len(figs) > 0 {
		b.WriteString("\n## Charts\n\n")
		for _, f := range figs {
			fmt.Fprintf(&b, "![%s](plots/%s.svg)\n\n", f, f)
		}
	}
	return b.String()
}

// charts: hockey sticks of both sides (per-level medians, with every
// trial as a dot) and a trial dot plot per gating metric.
// chart is what the comparison's charts have in common: they render.
type chart interface {
	SVG() ([]byte, error)
	PNG() ([]byte, error)
}

// charts are a comparison's charts, by file name: "change" (every
// gating result's change toward worse, coloured by verdict, with its interval
// and thresholds: the picture the PR comment leads with), "metric-NAME" (per
// gating metric, baseline and candidate side by side level by level, every
// trial a dot, the median a bar, its interval a whisker) and
// "compare-hockey" (both sides' p99 E2EL against output throughput over the
// levels, with bands).
func charts(c *Comparison, base, cand []Trial) map[string]chart {
	charts := map[string]chart{}
	levels := map[int]bool{}
	for _, r := range c.Outcome.Results {
		levels[r.Level] = true
	}
	oneLevel := len(levels) == 1
	if div := changeChart(c, oneLevel); len(div.Rows) > 0 {
		charts["change"] = div
	}
	for name, st := range metricCharts(c, oneLevel) {
		charts[name] = st
	}
	charts["compare-hockey"] = hockeyChart(base, cand)
	return charts
}

// ChangeChart draws the change chart ("change": the picture a PR comment
// leads with) of c as SVG and PNG; ok is false when c has no gating result
// to draw. The Action's reporter draws it again from the outcome it
// rechecked instead of publishing the artifact's.
func ChangeChart(c *Comparison) (svg, png []byte, ok bool, err error) {
	levels := map[int]bool{}
	for _, r := range c.Outcome.Results {
		levels[r.Level] = true
	}
	div := changeChart(c, len(levels) == 1)
	if len(div.Rows) == 0 {
		return nil, nil, false, nil
	}
	if svg, err = div.SVG(); err != nil {
		return nil, nil, false, err
	}
	if png, err = div.PNG(); err != nil {
		return nil, nil, false, err
	}
	return svg, png, true, nil
}

// changeChart is every gating result's change toward worse, coloured by
// verdict, with its interval and thresholds.
func changeChart(c *Comparison, oneLevel bool) plot.Diverging {
	// The change per metric.
	div := plot.Diverging{Title: "Change per metric: " + strings.ToUpper(string(c.Outcome.Verdict)),
		XLabel: "change toward worse, % (error_rate: points)"}
	for _, r := range c.Outcome.Results {
		if !r.Gating {
			continue
		}
		lo, hi := r.CILowPct, r.CIHighPct
		if gate.HigherIsBetter(r.Metric) {
			lo, hi = -hi, -lo
		}
		col := plot.ColorPass
		switch {
		case r.Verdict == metric.Fail:
			col = plot.ColorFail
		case r.Verdict == metric.Warn:
			col = plot.ColorWarn
		case r.Improved:
			col = plot.ColorImproved
		}
		label := r.Metric
		if !oneLevel {
			label = fmt.Sprintf("L%d %s", r.Level, r.Metric)
		}
		note := string(r.Verdict)
		if r.Improved {
			note = "improved"
		}
		if r.WorsePct.IsNaN() {
			// No change to draw (a side without a successful request): no
			// bar, no interval, a dash beside the verdict.
			note += " " + numfmt.Dash
			lo, hi = nan, nan
		}
		div.Rows = append(div.Rows, plot.DivRow{Label: label, Value: float64(r.WorsePct), Lo: float64(lo), Hi: float64(hi), Color: col, Note: note, WarnMark: r.WarnPct, FailMark: r.FailPct})
	}
	div.Legend = []plot.DivLegend{{Color: plot.ColorFail, Label: "fail"}, {Color: plot.ColorWarn, Label: "warn"},
		{Color: plot.ColorPass, Label: "pass"}, {Color: plot.ColorImproved, Label: "improved"},
		{Color: plot.ColorWarn, Label: "warn at", Mark: true, Dashed: true}, {Color: plot.ColorFail, Label: "fail at", Mark: true}}
	return div

}

// metricCharts are, per gating metric, both sides level by level: every
// trial a dot, the median a bar, its interval a whisker.
func metricCharts(c *Comparison, oneLevel bool) map[string]plot.Strip {
	charts := map[string]plot.Strip{}
	// Every gating metric's trials, side by side.
	for _, rule := range c.Rules.Metrics {
		var st plot.Strip
		worst := gate.Result{Verdict: metric.Pass}
		for _, r := range c.Outcome.Results {
			if r.Metric != rule.Metric {
				continue
			}
			if worst.Metric == "" || (metric.Worst(r.Verdict, worst.Verdict) == r.Verdict && r.Verdict != worst.Verdict) || (r.Verdict == worst.Verdict && r.WorsePct > worst.WorsePct) {
				worst = r
			}
			bl, bh := stats.MedianCI(r.Baseline, 0.95)
			cl, chi := stats.MedianCI(r.Candidate, 0.95)
			prefix := ""
			if !oneLevel {
				prefix = fmt.Sprintf("L%d ", r.Level)
			}
			st.Groups = append(st.Groups,
				plot.StripGroup{Label: prefix + "baseline", Values: r.Baseline, Median: r.BaselineMedian, Lo: bl, Hi: bh, Color: 0},
				plot.StripGroup{Label: fmt.Sprintf("%scandidate\n%s %s", prefix, pct(r.ChangePct), r.Verdict), Values: r.Candidate, Median: r.CandMedian, Lo: cl, Hi: chi, Color: 1})
		}
		if len(st.Groups) == 0 {
			continue
		}
		at := ""
		if !oneLevel {
			at = fmt.Sprintf(" at level %d", worst.Level)
		}
		st.Title = fmt.Sprintf("%s: %s%s, Δ %s [%s, %s]", rule.Metric, strings.ToUpper(string(worst.Verdict)), at, pct(worst.ChangePct), pct(worst.CILowPct), pct(worst.CIHighPct))
		st.YLabel = rule.Metric
		if info, ok := metric.Lookup(rule.Metric); ok && !strings.HasSuffix(rule.Metric, "_"+info.Unit) {
			st.YLabel += " (" + info.Unit + ")"
		}
		st.XLabel = "dot: one trial · bar: median · whisker: 95 % CI of the median"
		charts["metric-"+rule.Metric] = st
	}

	return charts
}

// hockeyChart is both sides' p99 E2EL against output throughput over the
// levels, with bands.
func hockeyChart(base, cand []Trial) plot.Chart {
	// Both hockey sticks, with bands.
	hockey := plot.Chart{Title: "p99 E2EL against output throughput (bands: 95 % CI of the median)", XLabel: "output throughput (tokens/s)", YLabel: "p99 end-to-end latency (ms)"}
	for i, side := range []struct {
		name string
		ts   []Trial
	}{{"baseline", base}, {"candidate", cand}} {
		var mx, my, lo, hi, dx, dy []float64
		nLevels := len(side.ts[0].Scenario.LevelSpecs())
		for lv := range nLevels {
			xs, ys := values(side.ts, lv, "output_throughput"), values(side.ts, lv, "p99_e2el_ms")
			if len(xs) == 0 || len(xs) != len(ys) {
				continue
			}
			mx, my = append(mx, stats.Median(xs)), append(my, stats.Median(ys))
			l, h := stats.MedianCI(ys, 0.95)
			lo, hi = append(lo, l), append(hi, h)
			dx, dy = append(dx, xs...), append(dy, ys...)
		}
		hockey.Series = append(hockey.Series,
			plot.Series{Label: side.name + ": median of trials", X: mx, Y: my, Lo: lo, Hi: hi, Color: i, Glyphs: true},
			plot.Series{Label: side.name + ": each trial", X: dx, Y: dy, Color: i, Points: true})
	}
	return hockey
}
