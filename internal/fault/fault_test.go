package fault

import (
	"errors"
	"fmt"
	"testing"
)

func TestKindsSurviveWrapping(t *testing.T) {
	if Usage(nil) != nil {
		t.Error("Usage(nil) must be nil")
	}
	base := errors.New("bad flag")
	cases := []struct {
		err  error
		msg  string
		kind func(error) bool
	}{
		{Usage(base), "bad flag", func(e error) bool { var u *UsageError; return errors.As(e, &u) && errors.Is(e, base) }},
		{Usagef("--trials %d", 0), "--trials 0", func(e error) bool { var u *UsageError; return errors.As(e, &u) }},
		{Regression("%d open", 2), "the gate failed: 2 open", func(e error) bool { var r *RegressionError; return errors.As(e, &r) }},
		{&InterruptedError{Dir: "runs/x"}, "interrupted; what was measured so far is in runs/x", func(e error) bool { var i *InterruptedError; return errors.As(e, &i) }},
	}
	for _, c := range cases {
		if c.err.Error() != c.msg {
			t.Errorf("%q, want %q", c.err, c.msg)
		}
		if wrapped := fmt.Errorf("scenario s: %w", c.err); !c.kind(wrapped) {
			t.Errorf("%v: its kind is lost when wrapped", c.err)
		}
	}
}

func TestCodeAsksTheError(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{errors.New("disk full"), ExitFailed},
		{Usagef("--trials 0"), ExitUsage},
		{fmt.Errorf("ab: %w", Usagef("--trials 0")), ExitUsage},
		{Regression("TPOT +12 %%"), ExitRegression},
		{fmt.Errorf("scenario s: %w", Regression("x")), ExitRegression},
		{&InterruptedError{Dir: "runs/x"}, ExitFailed},
		{&NoSuccessError{Dir: "runs/x", Msg: "no request succeeded"}, ExitFailed},
	}
	for _, c := range cases {
		if got := Code(c.err); got != c.want {
			t.Errorf("Code(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}
