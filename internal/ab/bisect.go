package ab

import "github.com/perfgate/perfgate/internal/metric"

// SearchEnd says how a bisect search ended.
type SearchEnd int

const (
	// Found: the first bad commit is named.
	Found SearchEnd = iota
	// NotRegressed: the bad end passes against the good one; nothing to
	// search.
	NotRegressed
	// BadEndUnclear: the bad end's verdict is warn, so whether the range
	// regressed at all is not settled.
	BadEndUnclear
	// StepUnclear: a step in the middle warned; the first bad commit lies
	// between LastGood and FirstBad, which the search could not narrow.
	StepUnclear
)

// Search is where a bisect search ended, in indexes of the commits after
// the good end (0 is the first commit after it; -1 is the good end itself).
type Search struct {
	End      SearchEnd
	FirstBad int // Found: the first bad commit; StepUnclear: the known bad end of what is left
	LastGood int // the last commit known good (-1: the good end)
	Unclear  int // StepUnclear: the commit whose step warned
	Steps    int // oracle calls made
}

// Bisect searches the n commits after a good end (n-1 is the bad end) for
// the first one the oracle calls fail, with the A/B gate's verdict as the
// oracle. The bad end is asked first, so a range that does not regress says
// so instead of naming a culprit; then a binary search, which takes
// bisectSteps(n) calls at most. A warn anywhere stops the search: the trials
// could not settle that commit, and guessing would name a wrong culprit.
// The oracle's error ends the search at once.
func Bisect(n int, oracle func(i int) (metric.Verdict, error)) (Search, error) {
	s := Search{FirstBad: -1, LastGood: -1, Unclear: -1}
	ask := func(i int) (metric.Verdict, error) { s.Steps++; return oracle(i) }
	v, err := ask(n - 1)
	if err != nil {
		return s, err
	}
	switch v {
	case metric.Pass:
		s.End = NotRegressed
		return s, nil
	case metric.Warn:
		s.End = BadEndUnclear
		return s, nil
	}
	lo, hi := -1, n-1 // lo (or the good end) is good, hi is bad
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		v, err := ask(mid)
		if err != nil {
			return s, err
		}
		switch v {
		case metric.Fail:
			hi = mid
		case metric.Pass:
			lo = mid
		default:
			s.End, s.FirstBad, s.LastGood, s.Unclear = StepUnclear, hi, lo, mid
			return s, nil
		}
	}
	s.End, s.FirstBad, s.LastGood = Found, hi, lo
	return s, nil
}

// bisectSteps is the most oracle calls Bisect makes over n commits: the bad
// end, then a binary search.
func bisectSteps(n int) int {
	s := 1
	for k := 1; k < n; k *= 2 {
		s++
	}
	return s
}
