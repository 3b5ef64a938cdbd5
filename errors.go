package flow

import (
	"errors"
	"fmt"
	"time"

	"github.com/riverflow/flow/internal/engine"
)

var (
	// ErrNotFound is returned by GetRun and AwaitRun when no run has the ID.
	ErrNotFound = engine.ErrNotFound

	// ErrEventTimeout is returned by WaitForEvent when its Timeout passes
	// before a matching event arrives.
	ErrEventTimeout = engine.ErrEventTimeout

	// ErrInvokeTimeout is returned by Invoke when the child run does not end
	// within InvokeOpts.Timeout. The child run goes on.
	ErrInvokeTimeout = engine.ErrInvokeTimeout

	// ErrInvalidEvent is wrapped by Send and SendTx when an event has an empty
	// or invalid name, an invalid ID, a TS out of range, or data that cannot
	// be encoded as JSON or stored in Postgres's jsonb (see Event). Nothing of
	// the call is stored, and SendTx leaves the transaction usable.
	ErrInvalidEvent = engine.ErrInvalidEvent

	// ErrEventTooLarge is wrapped by Send and SendTx when an event's encoded
	// size is over Config.MaxEventBytes. Nothing of the call is stored.
	ErrEventTooLarge = engine.ErrEventTooLarge

	// ErrStepOutputTooLarge is the cause of the StepError a step returns when
	// its encoded result is over Config.MaxStepOutputBytes. It is not retried:
	// the same code would give the same result.
	ErrStepOutputTooLarge = engine.ErrStepOutputTooLarge

	// ErrTooManySteps fails a run that calls more than Config.MaxStepsPerRun
	// steps.
	ErrTooManySteps = engine.ErrTooManySteps

	// ErrDuplicateFunction is returned by CreateFunction when the client
	// already has a function with the same ID.
	ErrDuplicateFunction = engine.ErrDuplicateFunction

	// ErrInvalidFunction is wrapped by CreateFunction for an invalid ID,
	// option or trigger.
	ErrInvalidFunction = engine.ErrInvalidFunction

	// ErrExpressionCost is wrapped by the error of an expression whose
	// evaluation went over Config.MaxExpressionCost; the error names the
	// function, the expression and the limit. A trigger If or a flow-control
	// key over the limit fails Send and SendTx (nothing of the call is
	// stored); a WaitForEvent If over it fails the waiting step with a
	// StepError wrapping it (an event it was evaluated against is not
	// consumed); a CancelOn If over it does not cancel (a warning is
	// logged).
	ErrExpressionCost = engine.ErrExpressionCost

	// ErrMatchMissing is the cause of the StepError WaitForEvent returns when
	// the run's triggering event has no value (or null) at WaitOpts.Match:
	// the wait could only match events that also lack it. It is not retried.
	ErrMatchMissing = engine.ErrMatchMissing

	// ErrNotInRun is returned by step functions called outside a function
	// run's context.
	ErrNotInRun = engine.ErrNotInRun
)

// StepError is the error a step returns to its function once the step has
// failed for good: its last attempt failed, or it returned a NonRetriable
// error. The function may handle it (for example with a fallback step); if
// the function returns it unhandled, the run fails without further retries.
type StepError struct {
	// RunID and StepID name the run and the step (with its repeat suffix).
	RunID  string
	StepID string
	// Message is the text of the step's last error.
	Message string
	// Attempts is how many times the step ran.
	Attempts int

	cause error // the original error, when the step failed in this segment
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
