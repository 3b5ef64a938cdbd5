package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// InvokeOpts configures Invoke.
type InvokeOpts struct {
	// Timeout bounds the wait for the child run; past it, Invoke returns a
	// *StepError wrapping ErrInvokeTimeout (the child run goes on). Zero
	// waits as long as the child runs.
	Timeout time.Duration
}

// Invoke runs fn as a child run with data as its event's data, and returns
// the child's output decoded into T. The parent run waits durably (holding
// no worker) and resumes when the child ends. If the child fails, Invoke
// returns a *StepError with the child's error; it is not retried. A replay
// never starts the child twice.
func Invoke[T any](ctx context.Context, id string, fn *Function, data any, opts InvokeOpts) (T, error) {
	var zero T
	s, err := segmentFrom(ctx)
	if err != nil {
		return zero, err
	}
	if fn == nil {
		return zero, NonRetriable(fmt.Errorf("flow: Invoke %q: nil function", id))
	}
	out, sid, err := s.Invoke(ctx, id, fn, func() ([]byte, error) {
		body, err := json.Marshal(data)
		if err != nil {
			return nil, NonRetriable(fmt.Errorf("flow: Invoke %q: data cannot be encoded as JSON: %w", id, err))
		}
		if err := checkStorableJSON(body, isRawJSON(data)); err != nil {
			return nil, NonRetriable(fmt.Errorf("%w: Invoke %q: data: %v", ErrInvalidEvent, id, err))
		}
		return body, nil
	}, opts.Timeout)
	if err != nil {
		return zero, err
	}
	return decodeOutput[T](s.RunID(), sid, out)
}

// resolveInvoke gives a parent run's Invoke step the outcome of its child,
// in the child's finishing transaction, and wakes the parent (or, if it is
// executing, lets its segment find the outcome when it suspends).
func (c *Client) resolveInvoke(ctx context.Context, tx pgx.Tx, parentRunID, stepID, childRunID string, status RunStatus, output []byte, errMsg *string) error {
	if _, err := c.q.RunLockOpen(ctx, tx, parentRunID); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	}
	if status == RunCompleted {
		return c.resolveStep(ctx, tx, parentRunID, stepID, stepCompleted, output, nil)
	}
	msg := fmt.Sprintf("invoked run %s %s", childRunID, status)
	if errMsg != nil {
		msg += ": " + *errMsg
	}
	return c.resolveStep(ctx, tx, parentRunID, stepID, stepFailed, nil, &msg)
}
