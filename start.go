package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Start starts a run of fn with data as its event's data, in a transaction
// of its own, and returns the run's ID: for callers who know which function
// they want (Inngest's invoke API, DBOS's RunWorkflow). No trigger is
// matched, so it also starts functions made with NoTrigger. The run's
// Input.Event is a "flow/function.started" event whose Data is data; it
// starts no other function and resumes no wait.
//
// The function's flow control applies as it does to a run started by
// Invoke (see Invoke): a run that RateLimit, Idempotency or Singleton (skip
// mode) refuses is recorded as skipped, and Start returns its ID with an
// error wrapping ErrRunSkipped; Debounce and Batch do not apply (the run
// starts at once, alone).
//
// The client need not be started: like an event, the run waits until a
// started client that defines fn executes it. data that cannot be encoded
// as JSON, or stored in Postgres's jsonb, is an error wrapping
// ErrInvalidEvent, and nothing is stored.
func Start[In, Out any](ctx context.Context, fn *Func[In, Out], data In) (string, error) {
	if fn == nil || fn.fn == nil {
		return "", fmt.Errorf("%w: Start: nil function", ErrInvalidFunction)
	}
	return fn.fn.c.StartFunction(ctx, fn.fn, data)
}

// StartTx is Start inside the caller's transaction: the run exists, and
// starts, if and only if tx commits. Its errors are Start's; after one
// wrapping ErrInvalidEvent, ErrInvalidFunction or ErrExpressionCost nothing
// was written and tx is still usable; after ErrRunSkipped the skipped run is
// recorded if tx commits. After any other error, roll tx back.
func StartTx[In, Out any](ctx context.Context, tx pgx.Tx, fn *Func[In, Out], data In) (string, error) {
	if fn == nil || fn.fn == nil {
		return "", fmt.Errorf("%w: StartTx: nil function", ErrInvalidFunction)
	}
	return fn.fn.c.StartFunctionTx(ctx, tx, fn.fn, data)
}

// StartFunction is Start for a function made with CreateFunction: data is
// encoded as JSON and decoded into the handler's input type when the run
// executes. fn must have been created on c.
func (c *Client) StartFunction(ctx context.Context, fn *Function, data any) (string, error) {
	var id string
	var skipped error
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		var err error
		id, err = c.StartFunctionTx(ctx, tx, fn, data)
		if errors.Is(err, ErrRunSkipped) {
			skipped = err
			return nil // commit: the skipped run is recorded
		}
		return err
	})
	if err != nil {
		return "", err
	}
	return id, skipped
}

// StartFunctionTx is StartTx for a function made with CreateFunction.
func (c *Client) StartFunctionTx(ctx context.Context, tx pgx.Tx, fn *Function, data any) (string, error) {
	body, err := c.startData(fn, data)
	if err != nil {
		return "", err
	}
	if tx == nil {
		return "", fmt.Errorf("%w: start %q: nil transaction", ErrInvalidFunction, fn.ID())
	}
	return c.e.StartRun(ctx, tx, fn.def, body)
}

// startData checks that fn is c's and encodes data, before any statement.
func (c *Client) startData(fn *Function, data any) ([]byte, error) {
	switch {
	case c == nil:
		return nil, fmt.Errorf("%w: start: nil client", ErrInvalidFunction)
	case fn == nil || fn.def == nil:
		return nil, fmt.Errorf("%w: start: nil function", ErrInvalidFunction)
	case !c.e.HasFunction(fn.def):
		return nil, fmt.Errorf("%w: start %q: the function was not created on this client (create it with CreateFunction or Define on the client that starts it)", ErrInvalidFunction, fn.ID())
	}
	body, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("%w: start %q: data cannot be encoded as JSON: %v", ErrInvalidEvent, fn.ID(), err)
	}
	if err := checkStorableJSON(body, isRawJSON(data)); err != nil {
		return nil, fmt.Errorf("%w: start %q: data: %v", ErrInvalidEvent, fn.ID(), err)
	}
	if size := len(body); size > c.cfg.MaxEventBytes {
		return nil, fmt.Errorf("%w: start %q: data is %d bytes, over the limit of %d (Config.MaxEventBytes)", ErrEventTooLarge, fn.ID(), size, c.cfg.MaxEventBytes)
	}
	return body, nil
}
