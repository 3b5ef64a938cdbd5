// Package engine executes the runs of a riverflow client: it claims runs, executes their
// segments, stores their steps, and runs the background services that keep them moving.
// The root package flow is its façade; users never import this package.
package engine

import (
	"errors"
	"fmt"
	"time"
)

// The sentinel errors of the public API. The root package re-exports each
// under the same name (flow.ErrNotFound is engine.ErrNotFound), so errors.Is
// works on errors from either side; their documentation is there.
var (
	ErrNotFound           = errors.New("flow: not found")
	ErrEventTimeout       = errors.New("flow: timed out waiting for event")
	ErrInvokeTimeout      = errors.New("flow: timed out waiting for invoked function")
	ErrInvalidEvent       = errors.New("flow: invalid event")
	ErrEventTooLarge      = errors.New("flow: event too large")
	ErrStepOutputTooLarge = errors.New("flow: step output too large")
	ErrTooManySteps       = errors.New("flow: too many steps in run")
	ErrDuplicateFunction  = errors.New("flow: duplicate function ID")
	ErrInvalidFunction    = errors.New("flow: invalid function")
	ErrExpressionCost     = errors.New("flow: expression over its cost limit")
	ErrMatchMissing       = errors.New("flow: triggering event has no value at the Match path")
	ErrNotInRun           = errors.New("flow: step called outside a function run")
	ErrInvalidStepID      = errors.New("flow: invalid step ID")
	ErrInvalidTime        = errors.New("flow: time out of range")
	ErrRunSkipped         = errors.New("flow: run skipped by flow control")
	ErrNotMigrated        = errors.New("flow: the database is not migrated")
)

// StepError is the error a step returns to its function once the step has
// failed for good: its last attempt failed, or it returned a NonRetriable
// error. The function may handle it (for example with a fallback step); if
// the function returns it unhandled, the run fails without further retries.
// Step returns it together with the value the step's function returned
// with its last error, as Inngest does; replays return the same pair.
type StepError struct {
	// RunID and StepID name the run and the step (with its repeat suffix).
	RunID  string
	StepID string
	// Message is the text of the step's last error.
	Message string
	// Attempts is how many times the step ran.
	Attempts int

	// output is the JSON value stored with the failure, "" if none: a
	// string, not a []byte, so that StepError values stay comparable.
	output string
	cause  error // the original error, when the step failed in this segment
}

// Error implements error.
func (e *StepError) Error() string {
	return fmt.Sprintf("flow: step %q of run %s failed after %d attempt(s): %s", e.StepID, e.RunID, e.Attempts, e.Message)
}

// Unwrap returns the step's original error when the step failed in the
// current execution of the run; after a replay only the message is kept.
func (e *StepError) Unwrap() error { return e.cause }

// NonDeterminismError fails a run when a replay reaches a recorded step ID
// with a different kind of step than the one recorded: the function's code
// changed under a running run, or it chooses steps nondeterministically.
type NonDeterminismError struct {
	RunID    string
	StepID   string
	Recorded string // the kind of step stored for this ID
	Called   string // the kind of step the code called now
}

// Error implements error.
func (e *NonDeterminismError) Error() string {
	return fmt.Sprintf("flow: run %s: step %q was recorded as %s but the function now calls %s there; "+
		"check that the function is deterministic (give changed steps new IDs)", e.RunID, e.StepID, e.Recorded, e.Called)
}

type nonRetriableError struct{ err error }

func (e *nonRetriableError) Error() string { return e.err.Error() }
func (e *nonRetriableError) Unwrap() error { return e.err }

// NonRetriable marks err as permanent: a step that returns it fails at once,
// without further attempts, and a function that returns it fails its run.
// NonRetriable(nil) returns nil.
func NonRetriable(err error) error {
	if err == nil {
		return nil
	}
	return &nonRetriableError{err: err}
}

type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// RetryAfter asks for the next attempt of the failing step (or function) no
// sooner than d from now, instead of the configured backoff; it still counts
// as an attempt. RetryAfter(nil, d) returns nil.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, after: d}
}

func isNonRetriable(err error) bool {
	var nr *nonRetriableError
	return errors.As(err, &nr)
}

func retryAfterOf(err error) (time.Duration, bool) {
	var ra *retryAfterError
	if errors.As(err, &ra) {
		return ra.after, true
	}
	return 0, false
}

// errSuspended is returned by every step once the run's segment must end:
// a step is waiting (sleep, event, invoke, retry backoff), the run failed, or
// the segment lost the run. Functions should return it unchanged; the
// executor acts on its own record of why, not on what the function returns.
var errSuspended = errors.New("flow: run is suspending (return this error unchanged)")

// IsSuspend reports whether err means the run is pausing (for a sleep, a
// wait, an invoke or a retry) rather than failing. Functions that inspect
// step errors should pass such errors through unchanged.
func IsSuspend(err error) bool { return errors.Is(err, errSuspended) }
