package ab

import (
	"errors"
	"testing"

	"github.com/perfgate/perfgate/internal/metric"
)

// Every range size and culprit: the search names the culprit and its
// predecessor, within bisectSteps calls, asking the bad end first.
func TestBisectFindsEveryCulprit(t *testing.T) {
	for n := 1; n <= 40; n++ {
		for k := 0; k < n; k++ {
			var asked []int
			s, err := Bisect(n, func(i int) (metric.Verdict, error) {
				asked = append(asked, i)
				if i >= k {
					return metric.Fail, nil
				}
				return metric.Pass, nil
			})
			if err != nil || s.End != Found || s.FirstBad != k || s.LastGood != k-1 {
				t.Fatalf("n %d culprit %d: %+v, %v", n, k, s, err)
			}
			if asked[0] != n-1 || s.Steps != len(asked) || s.Steps > bisectSteps(n) {
				t.Fatalf("n %d culprit %d: asked %v (at most %d)", n, k, asked, bisectSteps(n))
			}
		}
	}
}

func TestBisectStopsWhereItCannotDecide(t *testing.T) {
	s, _ := Bisect(8, func(int) (metric.Verdict, error) { return metric.Pass, nil })
	if s.End != NotRegressed || s.Steps != 1 {
		t.Errorf("a passing bad end: %+v", s)
	}
	s, _ = Bisect(8, func(int) (metric.Verdict, error) { return metric.Warn, nil })
	if s.End != BadEndUnclear || s.Steps != 1 {
		t.Errorf("a warning bad end: %+v", s)
	}
	// commits 0-2 good, 3 warns, 4-7 bad: the search asks 7, 3 (warn) and stops with 3 unclear between the good end and 7.
	s, _ = Bisect(8, func(i int) (metric.Verdict, error) {
		switch {
		case i == 3:
			return metric.Warn, nil
		case i > 3:
			return metric.Fail, nil
		}
		return metric.Pass, nil
	})
	if s.End != StepUnclear || s.Unclear != 3 || s.LastGood != -1 || s.FirstBad != 7 {
		t.Errorf("a warning step: %+v", s)
	}
	boom := errors.New("the engine did not start")
	s, err := Bisect(8, func(i int) (metric.Verdict, error) {
		if i < 7 {
			return "", boom
		}
		return metric.Fail, nil
	})
	if !errors.Is(err, boom) || s.Steps != 2 {
		t.Errorf("an oracle error ends it: %+v, %v", s, err)
	}
}
