package flow

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/riverflow/flow/internal/engine"
)

// Step runs fn once per run and remembers its result: when the run replays,
// Step returns the stored result without calling fn. id names the step
// within the run; a repeated id (in a loop) gets a deterministic suffix
// (":1", ":2", ...), the first that no earlier step of the run has, so that
// it never takes the ID of a step named "id:1" explicitly. The result is
// stored as JSON and returned decoded from it, on the first execution as on
// replays; a stored result never changes.
//
// id must be non-empty UTF-8 text, without NUL bytes, of at most
// MaxStepIDBytes: any other fails the step at once with an error wrapping
// ErrInvalidStepID (this holds for every kind of step). A result the
// database refuses to store (such as a string holding "\u0000", which jsonb
// cannot) fails the step without retries, with the database's message.
//
// If fn returns an error (or panics), the step is retried with backoff, up to
// FunctionOpts.Retries more times, in later executions of the run; wrap the
// error with NonRetriable to fail at once, or RetryAfter to choose the delay.
// Once the step has failed for good, Step returns a *StepError, which the
// function may handle, together with the value fn returned with its last
// error (as Inngest does): the value is stored with the failure, as JSON like
// a result, so replays return the same value and error. A value that cannot
// be stored (it does not encode, is over Config.MaxStepOutputBytes, or the
// database refuses it) is left out: Step returns T's zero value, and the
// StepError's message says why. A step that panicked has no value. Any other
// error Step returns (the run is suspending) must be returned by the
// function unchanged, and comes with T's zero value.
func Step[T any](ctx context.Context, id string, fn func(ctx context.Context) (T, error)) (T, error) {
	var zero T
	s, err := engine.FromContext(ctx)
	if err != nil {
		return zero, err
	}
	out, sid, err := s.Step(ctx, id, func(ctx context.Context) (any, error) { return fn(ctx) })
	if err != nil {
		return decodeFailedOutput[T](s.RunID(), sid, out, err)
	}
	return decodeOutput[T](s.RunID(), sid, out)
}

// StepTx is Step for work in the database: fn's writes in tx and the step's
// stored result commit in one transaction, so the step's database effects
// happen exactly once. If fn returns an error, tx is rolled back and the
// step is retried as Step's is; once it has failed for good, StepTx returns
// the value fn returned with its last error and a *StepError, as Step does
// (tx was rolled back all the same). fn must not commit or roll back tx.
func StepTx[T any](ctx context.Context, id string, fn func(ctx context.Context, tx pgx.Tx) (T, error)) (T, error) {
	var zero T
	s, err := engine.FromContext(ctx)
	if err != nil {
		return zero, err
	}
	out, sid, err := s.StepTx(ctx, id, func(ctx context.Context, tx pgx.Tx) (any, error) { return fn(ctx, tx) })
	if err != nil {
		return decodeFailedOutput[T](s.RunID(), sid, out, err)
	}
	return decodeOutput[T](s.RunID(), sid, out)
}

// decodeOutput decodes a step's stored result into T, as the step returns
// it on its first execution and on replays.
func decodeOutput[T any](runID, sid string, out []byte) (T, error) {
	var v T
	if len(out) == 0 {
		return v, nil
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return v, NonRetriable(fmt.Errorf("flow: run %s: decode stored result of step %q into %T: %w", runID, sid, v, err))
	}
	return v, nil
}

// decodeFailedOutput returns a failed step's error with the value stored
// beside it (out, nil if none) decoded into T. A value that no longer
// decodes into T (the function's code changed under a running run) gives
// T's zero value and an error that wraps both the step's error, which
// errors.As still finds, and the decode error.
func decodeFailedOutput[T any](runID, sid string, out []byte, stepErr error) (T, error) {
	v, err := decodeOutput[T](runID, sid, out)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("%w (and its value: %w)", stepErr, err)
	}
	return v, stepErr
}
