package ab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/perfgate/perfgate/internal/compare"
	"github.com/perfgate/perfgate/internal/comparison"
	"github.com/perfgate/perfgate/internal/fault"
	"github.com/perfgate/perfgate/internal/gate"
	"github.com/perfgate/perfgate/internal/metric"
	"github.com/perfgate/perfgate/internal/numfmt"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/retry"
	"github.com/perfgate/perfgate/internal/scenario"
	"github.com/perfgate/perfgate/internal/stats"
)

// Sides.
const (
	Baseline  = gate.Baseline
	Candidate = gate.Candidate
)

// TrialDir is a side's n-th trial folder (1-based) under a scenario's folder.
func TrialDir(scenarioDir, side string, n int) string {
	return record.TrialDir(filepath.Join(scenarioDir, side), n)
}

// Trialer runs trials. Trial runs the side's n-th trial into dir (which
// exists and is empty); an error is a failed trial, retried once.
type Trialer interface {
	Trial(ctx context.Context, side string, n int, dir string) error
}

// Design is how many trials run.
type Design struct {
	// Fixed > 0 runs that many trials per side and decides once (no looks).
	Fixed int
	// Rules are the gate's; MinTrials and MaxTrials bound a sequential run.
	Rules gate.Rules
	// Reruns is the outlier re-runs allowed per side, in either design.
	Reruns int
	// Warmup runs one uncounted trial per side first.
	Warmup bool
	// Release decides with the release profile.
	Release bool
	// Fatal says which errors end the run at once instead of a retry (an
	// interrupt).
	Fatal func(error) bool
	// Log receives one line per trial and per decision.
	Log io.Writer
	// Notes are added to the comparison (engine time, warm caches); called
	// when the comparison is written.
	Notes func() []string
	// NoisePct and Expected: the scenario's recorded per-trial noise
	// (gate.noise_pct) and, from it, the mean trials (both sides) a
	// sequential A/B takes for an unchanged candidate and for a regression
	// of twice the fail threshold (gatesim.Estimate); zero when unknown.
	NoisePct float64
	Expected [2]float64
}

func (d Design) sequential() bool { return d.Fixed <= 0 }

// Order is the side of the i-th trial (0-based) in balanced pairs
// (gate.Order).
func Order(i int) string { return gate.Order(i) }

// Result is one scenario's A/B.
type Result struct {
	Name       string              `json:"name"`
	Dir        string              `json:"dir"`
	Verdict    metric.Verdict      `json:"verdict"` // pass, warn, fail; empty when it did not finish
	Headline   string              `json:"headline"`
	Trials     [2]int              `json:"trials"` // per side, as compared
	StopReason string              `json:"stop_reason,omitempty"`
	Stopped    string              `json:"stopped,omitempty"`
	Reruns     []string            `json:"reruns,omitempty"`
	Retries    []string            `json:"retries,omitempty"`
	Comparison *compare.Comparison `json:"-"`
}

// Run runs a scenario's A/B into dir (its baseline/ and candidate/ trial
// folders) and compares. The procedure — which side next, which trials to
// re-run, when to stop — is gate.Drive, the one the calibration measures;
// Run gives it trials run into folders and comparisons read from them. On
// an error the result holds what ran.
func Run(ctx context.Context, s *scenario.Scenario, t Trialer, dir string, d Design) (Result, error) {
	res := Result{Name: s.Name, Dir: dir}
	logf := func(format string, a ...any) {
		if d.Log != nil {
			fmt.Fprintf(d.Log, "perfgate: "+format+"\n", a...)
		}
	}
	if d.Warmup {
		for _, side := range []string{Baseline, Candidate} {
			wd := filepath.Join(dir, "warmup", side)
			logf("%s: %s warm-up trial (not counted)", s.Name, side)
			if err := runOnce(ctx, t, side, 0, wd, d, &res, logf); err != nil {
				return res, err
			}
		}
	}
	f := &folderTrials{ctx: ctx, s: s, t: t, dir: dir, d: d, res: &res, logf: logf, reruns: map[string]int{}}
	o, reason, n, err := gate.Drive(gate.Design{Fixed: d.Fixed, Reruns: d.Reruns}, d.Rules, f)
	if err != nil {
		return res, err
	}
	if reason == gate.StopFail && o.HasNoSuccess() {
		logf("%s: FAIL after %d trial(s) per side: a side had no successful request", s.Name, n)
	}
	return finish(ctx, dir, f.last, f.sides, res, reason, n, d)
}

// folderTrials are gate.Drive's trials: run into folders, compared from
// them.
type folderTrials struct {
	ctx    context.Context
	s      *scenario.Scenario
	t      Trialer
	dir    string
	d      Design
	res    *Result
	logf   func(string, ...any)
	reruns map[string]int
	last   *compare.Comparison // the latest decision, and the trials it read
	sides  sides
}

func (f *folderTrials) Run(side string, k int) (bool, error) {
	return f.kept(side, k, runOnce(f.ctx, f.t, side, k, TrialDir(f.dir, side, k), f.d, f.res, f.logf))
}

// kept turns a trial with no successful request into data: its records
// stand, and the gate fails such a side at the next balanced look.
func (f *folderTrials) kept(side string, k int, err error) (bool, error) {
	var ns *fault.NoSuccessError
	if errors.As(err, &ns) {
		f.logf("%s trial %d: no request succeeded (%s); kept for the gate", side, k, numfmt.Clip(ns.Msg, 200))
		return true, nil
	}
	return false, err
}

func (f *folderTrials) Rerun(ol gate.Outlier) (bool, error) {
	f.reruns[ol.Side]++
	k := ol.Index + 1
	td := TrialDir(f.dir, ol.Side, k)
	kept := fmt.Sprintf("%s.outlier-%d", td, f.reruns[ol.Side])
	if err := os.Rename(td, kept); err != nil {
		return false, err
	}
	why := fmt.Sprintf("the %s's trial %d was %+.0f %% from its side's others on every gating metric together; kept in %s", ol.Side, k, ol.ShiftPct, filepath.Base(kept))
	if clk := clockNote(f.sides, ol); clk != "" {
		why += "; " + clk
	}
	f.res.Reruns = append(f.res.Reruns, why)
	f.logf("%s: outlier: %s; re-running it (%d of %d for the %s)", f.s.Name, why, f.reruns[ol.Side], f.d.Reruns, ol.Side)
	return f.kept(ol.Side, k, runOnce(f.ctx, f.t, ol.Side, k, td, f.d, f.res, f.logf))
}

func (f *folderTrials) Decide(look bool) (gate.Outcome, []gate.Outlier, error) {
	c, sd, err := compareSoFar(f.dir, f.d, look, keptWhy(f.d.Reruns, f.reruns))
	if err != nil {
		return gate.Outcome{}, nil, err
	}
	f.last, f.sides = c, sd
	if look {
		n := min(len(c.Baseline), len(c.Candidate))
		f.logf("%s: look after %d trials per side: %s", f.s.Name, n, lookWords(c.Outcome, n))
	}
	return c.Outcome, c.Outliers, nil
}

// keptWhy says why this A/B did not re-run an outlier of side still among
// the trials compared: its side's re-runs were spent, or none are allowed.
func keptWhy(budget int, used map[string]int) func(side string) string {
	return func(side string) string {
		if budget == 0 {
			return "gate.outlier_reruns is 0"
		}
		return fmt.Sprintf("the %s's %d outlier re-run(s) were spent", side, used[side])
	}
}

func lookWords(o gate.Outcome, n int) string {
	if o.Stop {
		return strings.ToUpper(string(o.Verdict)) + ", " + gate.StopWords(o.StopReason, n)
	}
	return "not clear yet, one more pair"
}

// runOnce runs a trial, retrying a failure once; the failed attempt is kept
// beside it as trial-NN.failed.
func runOnce(ctx context.Context, t Trialer, side string, n int, dir string, d Design, res *Result, logf func(string, ...any)) error {
	// A trial with no successful request is not retried: it ran, and its
	// records are what the gate decides on (a broken commit, not a glitch).
	fatal := func(err error) bool {
		var ns *fault.NoSuccessError
		return errors.As(err, &ns) || d.Fatal != nil && d.Fatal(err)
	}
	tries := 0
	err := retry.Do(ctx, retry.Policy{Attempts: 2,
		Retryable: func(err error) bool { return !fatal(err) },
		Between: func(_ int, err error) error {
			failed := dir + ".failed"
			os.RemoveAll(failed)
			if err := os.Rename(dir, failed); err != nil {
				return err
			}
			logf("%s trial %d failed (%v); kept in %s, retrying once", side, n, err, failed)
			return nil
		}},
		func(attempt int) error {
			tries = attempt
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			logf("%s trial %d (attempt %d)", side, n, attempt)
			err := t.Trial(ctx, side, n, dir)
			if err != nil && !fatal(err) && ctx.Err() == nil {
				res.Retries = append(res.Retries, fmt.Sprintf("%s %s: %v", side, filepath.Base(dir), err))
			}
			return err
		})
	if err != nil && tries == 2 && !fatal(err) && ctx.Err() == nil {
		return fmt.Errorf("the %s's trial %d failed twice: %w", side, n, err)
	}
	return err
}

// sides are the trials of both sides, as one comparison loaded them.
type sides struct{ base, cand []compare.Trial }

// compareSoFar loads the trials so far (once: finish and clockNote use them) and
// decides (a look, or the fixed decision); kept, when set, says why an
// outlier still among the trials was not re-run (CompareOptions.KeptWhy).
func compareSoFar(dir string, d Design, look bool, kept func(side string) string) (*compare.Comparison, sides, error) {
	var s sides
	var err error
	if s.base, err = compare.LoadTrials([]string{filepath.Join(dir, Baseline)}); err != nil {
		return nil, s, err
	}
	if s.cand, err = compare.LoadTrials([]string{filepath.Join(dir, Candidate)}); err != nil {
		return nil, s, err
	}
	c, err := compare.Compare(s.base, s.cand, compare.Options{Release: d.Release, Look: look,
		MinTrials: d.Rules.MinTrials, MaxTrials: d.Rules.MaxTrials, KeptWhy: kept})
	return c, s, err
}

// finish writes the comparison with how the trials ran.
func finish(ctx context.Context, dir string, c *compare.Comparison, s sides, res Result, reason string, n int, d Design) (Result, error) {
	bt, ct := s.base, s.cand
	max := d.Fixed
	if d.sequential() {
		max = c.Rules.MaxTrials
	}
	c.Run = &comparison.RunInfo{Sequential: d.sequential(), Trials: [2]int{len(bt), len(ct)}, MaxTrials: max,
		StopReason: reason, Stopped: gate.StopWords(reason, n), Reruns: res.Reruns}
	if reason == gate.StopMax && c.Outcome.Verdict == metric.Warn {
		c.Run.Stopped += " with the verdict still unclear"
	}
	// In a sequential run the outliers left are those past the budget.
	for _, r := range res.Retries {
		c.Notes = append(c.Notes, "retried: "+r)
	}
	if d.Notes != nil {
		c.Notes = append(c.Notes, d.Notes()...)
	}
	if err := compare.Write(ctx, c, bt, ct, dir); err != nil {
		return res, err
	}
	res.Verdict, res.Headline, res.Comparison = c.Outcome.Verdict, c.Outcome.Headline, c
	res.Trials, res.StopReason, res.Stopped = c.Run.Trials, reason, c.Run.Stopped
	return res, nil
}

// Finish compares trials that ran by other means (two GPUs at once) as a
// fixed design, and writes the comparison.
func Finish(ctx context.Context, dir string, d Design, res Result) (Result, error) {
	c, s, err := compareSoFar(dir, d, false, nil)
	if err != nil {
		return res, err
	}
	return finish(ctx, dir, c, s, res, gate.StopFixed, min(len(c.Baseline), len(c.Candidate)), d)
}

// clockNote compares an outlier trial's lowest SM clock (NVML telemetry)
// with its side's other trials, to say whether the GPU throttled; empty
// without telemetry. The trials are the ones the look decided on.
func clockNote(s sides, ol gate.Outlier) string {
	ts := s.base
	if ol.Side == Candidate {
		ts = s.cand
	}
	if ol.Index >= len(ts) {
		return ""
	}
	var others []float64
	for i, t := range ts {
		if v := smClock(t); i != ol.Index && !math.IsNaN(v) {
			others = append(others, v)
		}
	}
	mine := smClock(ts[ol.Index])
	if math.IsNaN(mine) || len(others) == 0 {
		return ""
	}
	usual := stats.Median(others)
	if mine < 0.97*usual {
		return fmt.Sprintf("its GPU clock dropped to %.0f MHz against %.0f MHz in the side's other trials (throttling)", mine, usual)
	}
	return fmt.Sprintf("its GPU clock was as usual (%.0f MHz), so the cause was elsewhere", mine)
}

// smClock is the lowest SM clock of a trial's measurement phases, NaN when
// it has none.
func smClock(t compare.Trial) float64 {
	v := math.NaN()
	for _, l := range t.Summary.Levels {
		if l.Telemetry != nil && l.Telemetry.Measure != nil && l.Telemetry.Measure.SMClockMinMHz != nil {
			if x := *l.Telemetry.Measure.SMClockMinMHz; math.IsNaN(v) || x < v {
				v = x
			}
		}
	}
	return v
}

// RunOneSide runs n trials of one side (history tracking: one commit, no
// comparison), with the same retries.
func RunOneSide(ctx context.Context, t Trialer, dir, side string, n int, d Design) (Result, error) {
	res := Result{Dir: dir}
	logf := func(format string, a ...any) {
		if d.Log != nil {
			fmt.Fprintf(d.Log, "perfgate: "+format+"\n", a...)
		}
	}
	for k := 1; k <= n; k++ {
		if err := runOnce(ctx, t, side, k, TrialDir(dir, side, k), d, &res, logf); err != nil {
			return res, err
		}
	}
	res.Trials = [2]int{0, n}
	if side == Baseline {
		res.Trials = [2]int{n, 0}
	}
	return res, nil
}
