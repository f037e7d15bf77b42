package stats

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// SqueezeVar against mpmath's values of the same formulas
// (testdata/squeeze.py): d0 by a bracketing root finder at 30 digits.
func TestSqueezeVarReference(t *testing.T) {
	b, err := os.ReadFile("testdata/squeeze.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Vars, DFs []float64
		D0        any
		S0sq      float64
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		d0, s0 := SqueezeVar(c.Vars, c.DFs)
		want, isNum := c.D0.(float64)
		switch {
		case !isNum && !math.IsInf(d0, 1):
			t.Errorf("%v: d0 %g, want +Inf", c.Vars, d0)
		case isNum && math.Abs(d0-want) > 1e-6*want:
			t.Errorf("%v: d0 %.10g, want %.10g", c.Vars, d0, want)
		}
		if math.Abs(s0-c.S0sq) > 1e-9*c.S0sq {
			t.Errorf("%v: s0² %.12g, want %.12g", c.Vars, s0, c.S0sq)
		}
	}
}

func TestTrigammaInverse(t *testing.T) {
	for _, y := range []float64{1e-5, 0.01, 0.3, 1, 2.5, 40, 1e4} {
		if x := trigammaInverse(y); math.Abs(trigamma(x)-y) > 1e-7*y {
			t.Errorf("ψ′(%g) = %g, want %g", x, trigamma(x), y)
		}
	}
}

func TestSqueezed(t *testing.T) {
	// one noise: every level takes the pooled variance and every df
	if v, d := Squeezed(0.004, 4, math.Inf(1), 0.001, 12); v != 0.001 || d != 12 {
		t.Errorf("pooled: %g on %g df", v, d)
	}
	// a weak prior moves the variance a little and adds its df, capped
	if v, d := Squeezed(0.004, 4, 2, 0.001, 12); math.Abs(v-0.003) > 1e-12 || d != 6 {
		t.Errorf("weak prior: %g on %g df", v, d)
	}
	if _, d := Squeezed(0.004, 4, 40, 0.001, 12); d != 12 {
		t.Errorf("strong prior: %g df, want the cap 12", d)
	}
}
