package flow

import (
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

	// ErrRunSkipped is wrapped by the error of Start, StartTx,
	// StartFunction and StartFunctionTx when the function's flow control
	// (RateLimit, Idempotency, Singleton in skip mode) refuses the run, and
	// by the cause of the *StepError an Invoke step returns when it refuses
	// the child run. The refused run is recorded as skipped, with the reason
	// in its Error; the error gives its ID and the reason.
	ErrRunSkipped = engine.ErrRunSkipped
)

// ErrInvalidStepID is wrapped by the error a step returns when its ID cannot
// name a step: empty, over MaxStepIDBytes, or not valid UTF-8 text (a NUL
// byte, invalid UTF-8). Nothing is stored; the step fails without retries,
// and the run fails if the function returns the error.
var ErrInvalidStepID = engine.ErrInvalidStepID

// ErrInvalidTime is wrapped by the error a step returns when a time it would
// store (a SleepUntil time, the end of a sleep, a wait's timeout, a retry's
// due time) is outside the years 1 to 9999. Nothing is stored; the step
// fails without retries, and the run fails if the function returns the
// error.
var ErrInvalidTime = engine.ErrInvalidTime

// MaxStepIDBytes is the longest step ID a step accepts, in bytes.
const MaxStepIDBytes = engine.MaxStepIDBytes

// StepError is the error a step returns to its function once the step has
// failed for good: its last attempt failed, or it returned a NonRetriable
// error. The function may handle it (for example with a fallback step); if
// the function returns it unhandled, the run fails without further retries.
//
// Its fields: RunID and StepID name the run and the step (with its repeat
// suffix); Message is the text of the step's last error; Attempts is how many
// times the step ran. Unwrap returns the step's original error when the step
// failed in the current execution of the run; after a replay only the
// message is kept.
type StepError = engine.StepError

// NonDeterminismError fails a run when a replay reaches a recorded step ID
// with a different kind of step than the one recorded: the function's code
// changed under a running run, or it chooses steps nondeterministically.
//
// Its fields: RunID and StepID name the run and the step; Recorded is the
// kind of step stored for this ID; Called is the kind of step the code
// called now.
type NonDeterminismError = engine.NonDeterminismError

// NonRetriable marks err as permanent: a step that returns it fails at once,
// without further attempts, and a function that returns it fails its run.
// NonRetriable(nil) returns nil.
func NonRetriable(err error) error { return engine.NonRetriable(err) }

// RetryAfter asks for the next attempt of the failing step (or function) no
// sooner than d from now, instead of the configured backoff; it still counts
// as an attempt. RetryAfter(nil, d) returns nil.
func RetryAfter(err error, d time.Duration) error { return engine.RetryAfter(err, d) }

// IsSuspend reports whether err means the run is pausing (for a sleep, a
// wait, an invoke or a retry) rather than failing. Functions that inspect
// step errors should pass such errors through unchanged.
func IsSuspend(err error) bool { return engine.IsSuspend(err) }
