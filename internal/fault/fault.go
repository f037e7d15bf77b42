// Package fault holds perfgate's exit codes and the kinds of failure that
// decide them: bad usage or input (2), the gate's fail (3), and an
// interrupted run (1, with where its results are). An error type in any
// package picks its exit code with an ExitCode method; cli asks the error
// (Code) instead of knowing every type.
package fault

import (
	"errors"
	"fmt"
)

// Exit codes.
const (
	ExitOK         = 0 // pass (warnings allowed)
	ExitFailed     = 1 // the tool failed, or the run was interrupted
	ExitUsage      = 2 // bad usage or bad input
	ExitRegression = 3 // the gate found a regression
)

// Coded is an error that says which exit code it ends perfgate with.
type Coded interface {
	error
	ExitCode() int
}

// Code is the exit code for err: 0 for nil, the first ExitCode found along
// err's chain, else ExitFailed.
func Code(err error) int {
	if err == nil {
		return ExitOK
	}
	var c Coded
	if errors.As(err, &c) {
		return c.ExitCode()
	}
	return ExitFailed
}

// UsageError marks bad usage or bad input: exit code 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }
func (e *UsageError) ExitCode() int { return ExitUsage }

// Usage wraps err as bad usage (nil stays nil).
func Usage(err error) error {
	if err == nil {
		return nil
	}
	return &UsageError{err}
}

// Usagef is a formatted UsageError.
func Usagef(format string, args ...any) error { return &UsageError{fmt.Errorf(format, args...)} }

// RegressionError is the gate's fail: exit code 3.
type RegressionError struct{ Headline string }

func (e *RegressionError) Error() string { return "the gate failed: " + e.Headline }
func (e *RegressionError) ExitCode() int { return ExitRegression }

// Regression is a RegressionError with a formatted headline.
func Regression(format string, args ...any) error {
	return &RegressionError{fmt.Sprintf(format, args...)}
}

// InterruptedError is a run stopped by a signal; Dir holds what it measured.
type InterruptedError struct{ Dir string }

func (e *InterruptedError) Error() string {
	return "interrupted; what was measured so far is in " + e.Dir
}

func (e *InterruptedError) ExitCode() int { return ExitFailed }

// NoSuccessError is a run that ran to its end with no measured request
// succeeding: exit code 1 from perfgate run. Its folder holds every record,
// so for an A/B it is data, not a failed trial: the gate fails a side with
// no successful request at the first look instead of retrying it.
type NoSuccessError struct{ Dir, Msg string }

func (e *NoSuccessError) Error() string {
	return fmt.Sprintf("the run failed: %s (the records are in %s)", e.Msg, e.Dir)
}

func (e *NoSuccessError) ExitCode() int { return ExitFailed }
