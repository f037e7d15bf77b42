package ab

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/perfgate/perfgate/internal/gate"
	"github.com/perfgate/perfgate/internal/metric"
	"github.com/perfgate/perfgate/internal/record"
)

// A side whose every request fails is a FAIL at the first balanced look,
// in either design: no retry, no waiting for the minimum or fixed count,
// and the first error in the headline.
func TestBrokenSideFailsAtTheFirstLook(t *testing.T) {
	t.Parallel() // canned trials in folders of its own
	for _, c := range []struct {
		name   string
		design Design
		broken string
	}{
		{"sequential, candidate", Design{Rules: gate.Rules{MinTrials: 3, MaxTrials: 10}, Reruns: 1}, Candidate},
		{"fixed 6, candidate", Design{Fixed: 6}, Candidate},
		{"sequential, baseline", Design{Rules: gate.Rules{MinTrials: 3, MaxTrials: 10}, Reruns: 1}, Baseline},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeTrialer{t: t, spec: func(side string, n int) trialSpec {
				return trialSpec{scale: 1 + 0.01*float64(n), failAll: side == c.broken}
			}}
			dir := t.TempDir()
			res, err := Run(context.Background(), scenarioOf(t), f, dir, c.design)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(f.calls, []string{"b-1", "c-1"}) {
				t.Errorf("trials run %v, want b-1 c-1 and a stop", f.calls)
			}
			if res.Verdict != metric.Fail || res.StopReason != gate.StopFail || res.Trials != [2]int{1, 1} {
				t.Errorf("verdict %s, stop %q, trials %v", res.Verdict, res.StopReason, res.Trials)
			}
			want := "every " + c.broken + " request failed (20 of 20)"
			if !strings.Contains(res.Headline, want) || !strings.Contains(res.Headline, "engine exploded") {
				t.Errorf("headline %q lacks %q and the first error", res.Headline, want)
			}
			if len(res.Retries) > 0 {
				t.Errorf("a trial with no successful request is data, not retried: %v", res.Retries)
			}
			for _, f := range []string{record.ComparisonFile, "comparison.md", "plots/change.png"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("%s: %v", f, err)
				}
			}
		})
	}
}

// An A/A of canned trials passes, stopping with every metric within: the
// fake trials themselves are sound. (Not at the minimum: with 20 requests a
// trial, error_rate is shown within its 1 point only from about 140
// requests a side.)
func TestFakeAAPasses(t *testing.T) {
	t.Parallel() // canned trials in folders of its own
	f := &fakeTrialer{t: t, spec: func(side string, n int) trialSpec { return trialSpec{scale: 1 + 0.004*float64(n%3)} }}
	res, err := Run(context.Background(), scenarioOf(t), f, t.TempDir(), Design{Rules: gate.Rules{MinTrials: 3, MaxTrials: 10}, Reruns: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != metric.Pass || res.StopReason != gate.StopWithin {
		t.Errorf("verdict %s, stop %q, trials %v: %s", res.Verdict, res.StopReason, res.Trials, res.Headline)
	}
}

// A fixed design re-runs an outlier trial within its budget, as the
// sequential one does: a baseline whose fifth engine start was slow (+22 %)
// no longer hides a 10 % regression, and the same slow start in an A/A
// passes. The re-run start draws an ordinary trial.
func TestFixedDesignRerunsAnOutlier(t *testing.T) {
	t.Parallel() // canned trials in folders of its own
	for _, c := range []struct {
		name string
		cand float64
		want metric.Verdict
	}{
		{"10 % slower", 1.10, metric.Fail},
		{"A/A", 1.00, metric.Pass},
	} {
		t.Run(c.name, func(t *testing.T) {
			starts := map[string]int{}
			f := &fakeTrialer{t: t, spec: func(side string, n int) trialSpec {
				starts[side]++
				scale := 1 + 0.01*float64(starts[side]%3) // ±1 % trial to trial
				if side == Candidate {
					scale *= c.cand
				}
				if side == Baseline && starts[side] == 5 {
					scale *= 1.22 // the fifth start is slow
				}
				return trialSpec{scale: scale}
			}}
			res, err := Run(context.Background(), scenarioOf(t), f, t.TempDir(), Design{Fixed: 6, Reruns: 2})
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != c.want || res.StopReason != gate.StopFixed || res.Trials != [2]int{6, 6} {
				t.Errorf("verdict %s (want %s), stop %q, trials %v: %s", res.Verdict, c.want, res.StopReason, res.Trials, res.Headline)
			}
			if len(res.Reruns) != 1 || !strings.Contains(res.Reruns[0], "the baseline's trial 5 was +") || !strings.Contains(res.Reruns[0], "trial-05.outlier-1") {
				t.Errorf("re-runs %q", res.Reruns)
			}
			if len(f.calls) != 13 {
				t.Errorf("%d trials run, want 12 and the re-run: %v", len(f.calls), f.calls)
			}
			for _, n := range res.Comparison.Notes {
				if strings.HasPrefix(n, "outlier:") {
					t.Errorf("an outlier re-run away is still noted: %s", n)
				}
			}
		})
	}
}

// An outlier kept because the budget is spent says so.
func TestKeptOutlierSaysWhy(t *testing.T) {
	t.Parallel() // canned trials in folders of its own
	f := &fakeTrialer{t: t, spec: func(side string, n int) trialSpec {
		if side == Baseline && n == 2 {
			return trialSpec{scale: 1.3}
		}
		return trialSpec{scale: 1 + 0.01*float64(n%3)}
	}}
	res, err := Run(context.Background(), scenarioOf(t), f, t.TempDir(), Design{Fixed: 4, Reruns: 0})
	if err != nil {
		t.Fatal(err)
	}
	var said []string
	for _, n := range res.Comparison.Notes {
		if strings.HasPrefix(n, "outlier:") {
			said = append(said, n)
		}
	}
	if len(said) != 1 || !strings.Contains(said[0], "trial-02") || !strings.HasSuffix(said[0], "(left out of the ratio tests: its side keeps 3 other trials; gate.outlier_reruns is 0)") {
		t.Errorf("outlier notes %q", said)
	}
}
