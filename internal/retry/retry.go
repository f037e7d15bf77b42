// Package retry is perfgate's one way to try an operation again: a number
// of attempts, a wait between them, a say over which errors are worth
// another try, and a context that ends the waiting at once (Ctrl-C never
// waits out a backoff). A leaf.
package retry

import (
	"context"
	"errors"
	"time"
)

// Policy says how to retry.
type Policy struct {
	// Attempts is the number of tries in all (1 or less: one try).
	Attempts int
	// Delay is the wait after failed attempt n (1-based); nil waits not.
	Delay func(n int) time.Duration
	// Retryable says whether an error is worth another try; nil: every one.
	Retryable func(error) bool
	// Between runs after failed attempt n, before the wait and the next try
	// (to keep what the failed try left, say); its error ends Do.
	Between func(n int, err error) error
}

// Do calls f(1), f(2), … until it succeeds, fails with an error that is not
// retryable, or has used its attempts; it returns f's last error as it came,
// so errors.Is still sees it. When ctx ends Do stops at once, before
// another try or during a wait, and returns f's last error joined with the
// context's.
func Do(ctx context.Context, p Policy, f func(n int) error) error {
	for n := 1; ; n++ {
		err := f(n)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return errors.Join(err, ctx.Err())
		}
		if n >= p.Attempts || (p.Retryable != nil && !p.Retryable(err)) {
			return err
		}
		if p.Between != nil {
			if berr := p.Between(n, err); berr != nil {
				return errors.Join(err, berr)
			}
		}
		var d time.Duration
		if p.Delay != nil {
			d = p.Delay(n)
		}
		if werr := Sleep(ctx, d); werr != nil {
			return errors.Join(err, werr)
		}
	}
}

// Sleep waits d, or less when ctx ends first; then it returns ctx's error.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// exponential waits base after the first failure, then twice as long after
// each next one.
func exponential(base time.Duration) func(int) time.Duration {
	return func(n int) time.Duration { return base << (n - 1) }
}
