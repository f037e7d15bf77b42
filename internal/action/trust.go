package action

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/perfgate/perfgate/internal/compare"
	"github.com/perfgate/perfgate/internal/comparison"
	"github.com/perfgate/perfgate/internal/gate"
	gh "github.com/perfgate/perfgate/internal/github"
	"github.com/perfgate/perfgate/internal/metric"
	"github.com/perfgate/perfgate/internal/scenario"
)

// trustedScenarios holds an artifact (mode report) against the reporter's
// own scenarios, read from its inputs — files of the base branch, which
// the pull request cannot change: the artifact must hold exactly those
// scenarios, each decided by the rules their gate: sections give (alpha,
// interval, thresholds, the gating metrics, one- or two-sided), and its
// candidate trials must not be its baseline's. The artifact chooses
// nothing that decides the verdict.
func trustedScenarios(in *inputs, res *gh.Results, rep *gh.Report) error {
	switch {
	case res.Verdict == metric.Error:
	case len(res.Scenarios) == 0:
		return fmt.Errorf("they list no scenario, yet say %s", res.Verdict)
	case res.BaseSHA == res.HeadSHA:
		// an A/A of the head passes by design: not a check of a change
		return fmt.Errorf("the head %.12s is its own baseline: nothing was compared", res.HeadSHA)
	}
	want := map[string]*scenario.Scenario{}
	for _, f := range in.scenarios {
		s, err := scenario.LoadFile(f)
		if err != nil {
			return fmt.Errorf("this reporter's scenario %s: %w", f, err)
		}
		want[s.Name] = s
	}
	var got []string
	for _, s := range rep.Scenarios {
		got = append(got, s.Name)
		w, ok := want[s.Name]
		if !ok {
			return fmt.Errorf("scenario %q is not one of this reporter's scenarios (%s)", s.Name, strings.Join(slices.Sorted(maps.Keys(want)), ", "))
		}
		if s.Comparison == nil {
			continue
		}
		trusted := compare.GateRules(w, compare.Options{Release: res.Profile == "release"})
		if err := sameRules(s.Comparison.Rules, trusted); err != nil {
			return fmt.Errorf("scenario %q was decided by rules other than its gate: section's here: %w", s.Name, err)
		}
		if copiedTrials(s.Comparison) {
			return fmt.Errorf("scenario %q: the candidate's trials are the baseline's, value for value", s.Name)
		}
	}
	for name := range want {
		if !slices.Contains(got, name) {
			return fmt.Errorf("scenario %q of this reporter's scenarios is missing", name)
		}
	}
	return nil
}

// sameRules compares what decides a verdict: the alpha, the interval's
// level, the sidedness and every gating metric with its thresholds. The
// trial bounds are the benchmark job's to set (its trials input).
func sameRules(got, want gate.Rules) error {
	got, want = got.WithDefaults(), want.WithDefaults()
	switch {
	case got.Alpha != want.Alpha:
		return fmt.Errorf("alpha %g, not %g", got.Alpha, want.Alpha)
	case got.Conf != want.Conf:
		return fmt.Errorf("intervals at %g, not %g", got.Conf, want.Conf)
	case got.TwoSided != want.TwoSided:
		return fmt.Errorf("two-sided %v, not %v", got.TwoSided, want.TwoSided)
	case !slices.Equal(got.Metrics, want.Metrics):
		return fmt.Errorf("metrics %v, not %v", got.Metrics, want.Metrics)
	}
	return nil
}

// copiedTrials says whether every result's candidate values are its
// baseline's (as a set of values) while some result varies from trial to
// trial: two measured sides never agree to the last bit on everything,
// while a metric that is constant (no errors on either side) always does.
func copiedTrials(c *comparison.ValidComparison) bool {
	varies := false
	for _, r := range c.Outcome.Results {
		b, k := slices.Sorted(slices.Values(r.Baseline)), slices.Sorted(slices.Values(r.Candidate))
		if !slices.Equal(b, k) {
			return false
		}
		if len(b) > 1 && b[0] != b[len(b)-1] {
			varies = true
		}
	}
	return varies
}

// redrawChanges replaces each scenario's change chart (the picture the
// comment leads with) by one drawn here from the rechecked outcome: a chart
// made only of allowed SVG elements could still draw a green PASS over a
// FAIL. A scenario whose artifact had none gets one; one with nothing to
// draw loses the artifact's.
func redrawChanges(rep *gh.Report, files []gh.LocalFile) ([]gh.LocalFile, error) {
	out := slices.DeleteFunc(slices.Clone(files), func(f gh.LocalFile) bool {
		return f.Name == "change.svg" || f.Name == "change.png"
	})
	for _, s := range rep.Scenarios {
		if s.Comparison == nil || s.Comparison.Rechecked == nil {
			continue
		}
		svg, png, ok, err := compare.ChangeChart(s.Comparison.Rechecked)
		if err != nil {
			return nil, fmt.Errorf("scenario %q: drawing its change chart: %w", s.Name, err)
		}
		if ok {
			out = append(out, gh.LocalFile{Scenario: s.Name, Name: "change.svg", Data: svg}, gh.LocalFile{Scenario: s.Name, Name: "change.png", Data: png})
		}
	}
	return out, nil
}
