package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

var errBusy = errors.New("busy")

func TestDoRetriesUntilSuccess(t *testing.T) {
	var waits []time.Duration
	n := 0
	err := Do(context.Background(), Policy{Attempts: 5, Delay: func(k int) time.Duration { waits = append(waits, exponential(time.Microsecond)(k)); return 0 }},
		func(k int) error {
			n = k
			if k < 3 {
				return errBusy
			}
			return nil
		})
	if err != nil || n != 3 {
		t.Fatalf("err %v after %d tries", err, n)
	}
	if len(waits) != 2 || waits[0] != time.Microsecond || waits[1] != 2*time.Microsecond {
		t.Errorf("waits %v", waits)
	}
}

func TestDoStopsAtTheLimitAndOnAnUnretryableError(t *testing.T) {
	tries := 0
	err := Do(context.Background(), Policy{Attempts: 3}, func(int) error { tries++; return errBusy })
	if !errors.Is(err, errBusy) || tries != 3 {
		t.Errorf("%v after %d tries", err, tries)
	}
	tries = 0
	other := errors.New("bad request")
	err = Do(context.Background(), Policy{Attempts: 3, Retryable: func(e error) bool { return errors.Is(e, errBusy) }},
		func(int) error { tries++; return other })
	if err != other || tries != 1 {
		t.Errorf("an unretryable error is returned at once: %v after %d tries", err, tries)
	}
	tries = 0
	err = Do(context.Background(), Policy{}, func(int) error { tries++; return errBusy })
	if tries != 1 || err != errBusy {
		t.Errorf("no attempts named: one try, got %d", tries)
	}
}

func TestDoRunsBetweenAndStopsOnItsError(t *testing.T) {
	var between []int
	moved := errors.New("cannot keep the failed try")
	err := Do(context.Background(), Policy{Attempts: 4, Between: func(n int, err error) error {
		between = append(between, n)
		if n == 2 {
			return moved
		}
		return nil
	}}, func(int) error { return errBusy })
	if !errors.Is(err, errBusy) || !errors.Is(err, moved) || len(between) != 2 {
		t.Errorf("%v, between %v", err, between)
	}
}

// A cancelled context ends a long wait at once: the test would otherwise
// block for an hour. No timing is asserted.
func TestDoHonoursTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	tries := 0
	done := make(chan error, 1)
	go func() {
		done <- Do(ctx, Policy{Attempts: 10, Delay: func(int) time.Duration { return time.Hour }}, func(int) error {
			tries++
			return errBusy
		})
	}()
	cancel()
	err := <-done
	if !errors.Is(err, errBusy) || !errors.Is(err, context.Canceled) || tries != 1 {
		t.Errorf("%v after %d tries", err, tries)
	}
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep on a done context: %v", err)
	}
	if err := Sleep(context.Background(), 0); err != nil {
		t.Error(err)
	}
}
