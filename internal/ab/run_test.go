package ab

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/perfgate/perfgate/internal/gate"
	"github.com/perfgate/perfgate/internal/metric"
)

var seq = Design{Rules: gate.Rules{MinTrials: 3, MaxTrials: 10}, Reruns: 1}

// Every way a sequential A/B stops, from canned trials (no engine, no
// clock): a clear regression fails at the first look (3 + 3), an A/A
// stops as within, a change in the grey zone runs to the maximum and
// says so, and a fixed design decides once after its count.
func TestRunStopReasons(t *testing.T) {
	t.Parallel() // canned trials in folders of its own
	for _, c := range []struct {
		name    string
		design  Design
		cand    float64 // the candidate's scale against the baseline's
		noise   float64 // trial-to-trial spread
		verdict metric.Verdict
		reason  string
		trials  [2]int
	}{
		{"a 30 % regression fails at the first look", seq, 1.30, 0.01, metric.Fail, gate.StopFail, [2]int{3, 3}},
		{"an A/A stops as within", seq, 1.00, 0.004, metric.Pass, gate.StopWithin, [2]int{}},
		{"a 7 % change in heavy noise runs to the maximum", Design{Rules: gate.Rules{MinTrials: 3, MaxTrials: 4}, Reruns: 1}, 1.07, 0.08, "", gate.StopMax, [2]int{4, 4}},
		{"a fixed design decides once", Design{Fixed: 4}, 1.30, 0.01, metric.Fail, gate.StopFixed, [2]int{4, 4}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeTrialer{t: t, spec: func(side string, n int) trialSpec {
				// a fixed pattern of spread: -1, 0, +1, -1, ... × noise
				scale := 1 + c.noise*float64(n%3-1)
				if n%2 == 0 && side == Candidate {
					scale = 1 + c.noise*float64((n+1)%3-1)
				}
				if side == Candidate {
					scale *= c.cand
				}
				return trialSpec{scale: scale}
			}}
			res, err := Run(context.Background(), scenarioOf(t), f, t.TempDir(), c.design)
			if err != nil {
				t.Fatal(err)
			}
			if res.StopReason != c.reason || (c.verdict != "" && res.Verdict != c.verdict) || (c.trials != [2]int{} && res.Trials != c.trials) {
				t.Errorf("verdict %s, stop %q, trials %v (want %s, %q, %v): %s", res.Verdict, res.StopReason, res.Trials, c.verdict, c.reason, c.trials, res.Headline)
			}
			// New trials run in the balanced order (a re-run of an outlier
			// repeats a trial's number and is not counted here).
			seen, i := map[string]bool{}, 0
			for _, call := range f.calls {
				if seen[call] {
					continue
				}
				seen[call] = true
				if want := Order(i)[:1]; call[:1] != want {
					t.Fatalf("new trial %d was %s, the order wants %s: %v", i, call, want, f.calls)
				}
				i++
			}
			if res.Stopped == "" {
				t.Error("no words for why it stopped")
			}
		})
	}
}

// A trial that fails is kept as trial-NN.failed and run once more; the
// retry is reported. Failing twice ends the A/B with the cause; an error
// Design.Fatal names (an interrupt) ends it at once, without a retry.
func TestRunRetries(t *testing.T) {
	t.Parallel() // canned trials in folders of its own
	glitch := errors.New("connection reset")
	t.Run("once", func(t *testing.T) {
		failed := false
		f := &failingTrialer{fakeTrialer{t: t, spec: func(string, int) trialSpec { return trialSpec{scale: 1} }},
			func(side string, n int) error {
				if side == Candidate && n == 2 && !failed {
					failed = true
					return glitch
				}
				return nil
			}}
		dir := t.TempDir()
		res, err := Run(context.Background(), scenarioOf(t), f, dir, Design{Fixed: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Retries) != 1 || !strings.Contains(res.Retries[0], "candidate trial-02: connection reset") {
			t.Errorf("retries %q", res.Retries)
		}
		if _, err := os.Stat(TrialDir(dir, Candidate, 2) + ".failed"); err != nil {
			t.Errorf("the failed attempt is not kept: %v", err)
		}
		if res.Trials != [2]int{3, 3} {
			t.Errorf("trials %v", res.Trials)
		}
	})
	t.Run("twice", func(t *testing.T) {
		f := &failingTrialer{fakeTrialer{t: t, spec: func(string, int) trialSpec { return trialSpec{scale: 1} }},
			func(side string, n int) error {
				if side == Baseline && n == 2 {
					return glitch
				}
				return nil
			}}
		_, err := Run(context.Background(), scenarioOf(t), f, t.TempDir(), Design{Fixed: 3})
		if err == nil || !strings.Contains(err.Error(), "the baseline's trial 2 failed twice: connection reset") {
			t.Errorf("got %v", err)
		}
		if n := strings.Count(strings.Join(f.calls, " "), "b-2"); n != 2 {
			t.Errorf("baseline trial 2 ran %d times: %v", n, f.calls)
		}
	})
	t.Run("fatal", func(t *testing.T) {
		interrupt := errors.New("interrupted")
		f := &failingTrialer{fakeTrialer{t: t, spec: func(string, int) trialSpec { return trialSpec{scale: 1} }},
			func(side string, n int) error {
				if n == 2 {
					return interrupt
				}
				return nil
			}}
		d := Design{Fixed: 3, Fatal: func(err error) bool { return errors.Is(err, interrupt) }}
		_, err := Run(context.Background(), scenarioOf(t), f, t.TempDir(), d)
		if !errors.Is(err, interrupt) {
			t.Errorf("got %v", err)
		}
		if !slices.Equal(f.calls, []string{"b-1", "c-1", "c-2"}) && !slices.Equal(f.calls, []string{"b-1", "c-1", "b-2"}) {
			t.Errorf("trials %v: a fatal error is not retried", f.calls)
		}
	})
}

// The sequential design re-runs an outlier trial within its budget, as the
// fixed one does (TestFixedDesignRerunsAnOutlier): one slow baseline start
// (+25 %) in an A/A does not fail it, and is named as re-run.
func TestSequentialRerunsAnOutlier(t *testing.T) {
	t.Parallel() // canned trials in folders of its own
	starts := map[string]int{}
	f := &fakeTrialer{t: t, spec: func(side string, n int) trialSpec {
		starts[side]++
		scale := 1 + 0.004*float64(starts[side]%3)
		if side == Baseline && starts[side] == 2 {
			scale *= 1.25
		}
		return trialSpec{scale: scale}
	}}
	res, err := Run(context.Background(), scenarioOf(t), f, t.TempDir(), Design{Rules: gate.Rules{MinTrials: 3, MaxTrials: 10}, Reruns: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict == metric.Fail {
		t.Errorf("an A/A with one slow start failed: %s", res.Headline)
	}
	if len(res.Reruns) != 1 || !strings.Contains(res.Reruns[0], "the baseline's trial 2 was +") {
		t.Errorf("re-runs %q", res.Reruns)
	}
}

// failingTrialer is a fakeTrialer whose trials may return an error (after
// writing their folder, as a trial that broke half-way does).
type failingTrialer struct {
	fakeTrialer
	fail func(side string, n int) error
}

func (f *failingTrialer) Trial(ctx context.Context, side string, n int, dir string) error {
	if err := f.fakeTrialer.Trial(ctx, side, n, dir); err != nil {
		return err
	}
	return f.fail(side, n)
}
