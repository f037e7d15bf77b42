package comparison

import (
	"fmt"
	"math"
	"strings"

	"github.com/perfgate/perfgate/internal/metric"
	"github.com/perfgate/perfgate/internal/record"
)

// MakeHeadline is the outcome in one line: the verdict, the worst results
// (or why a level could not be compared), and the clearest telemetry
// changes behind a regression. A reporter makes it again from the
// rechecked outcome rather than trusting the file's.
func (c *Comparison) MakeHeadline() string {
	var worst []string
	brokenSaid := map[int]bool{}
	for _, r := range c.Outcome.Results {
		if r.NoSuccess != "" {
			if !brokenSaid[r.Level] {
				brokenSaid[r.Level] = true
				worst = append(worst, fmt.Sprintf("level %d: %s", r.Level, r.Reason))
			}
			continue
		}
		if r.Verdict == metric.Fail || (c.Outcome.Verdict == metric.Warn && r.Verdict == metric.Warn) {
			if r.ChangePct.IsNaN() {
				worst = append(worst, fmt.Sprintf("level %d %s cannot be compared", r.Level, r.Metric))
				continue
			}
			worst = append(worst, fmt.Sprintf("level %d %s %+.1f %%", r.Level, r.Metric, r.ChangePct))
		}
	}
	h := strings.ToUpper(string(c.Outcome.Verdict))
	if len(worst) > 0 {
		h += ": " + strings.Join(worst[:min(3, len(worst))], ", ")
		if len(worst) > 3 {
			h += fmt.Sprintf(" and %d more", len(worst)-3)
		}
	} else {
		h += ": no gating metric moved past its thresholds"
	}
	var why []string
	for _, ch := range c.Explain {
		if !ch.Clear || len(why) == 2 {
			break
		}
		if Magnitude(ch.Factor) >= math.Log(1.1) {
			why = append(why, ch.String())
		}
	}
	if len(why) > 0 && c.Outcome.Verdict != metric.Pass {
		h += ", with " + strings.Join(why, " and ")
	}
	return h
}

// Magnitude is the size of a change factor on a log scale (Inf for a
// change from or to zero).
func Magnitude(rf record.Float) float64 {
	f := float64(rf)
	if math.IsInf(f, 0) || f <= 0 {
		return math.Inf(1)
	}
	return math.Abs(math.Log(f))
}
