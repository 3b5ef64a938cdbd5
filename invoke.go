package flow

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/riverflow/flow/internal/engine"
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
	s, err := engine.FromContext(ctx)
	if err != nil {
		return zero, err
	}
	if fn == nil {
		return zero, NonRetriable(fmt.Errorf("flow: Invoke %q: nil function", id))
	}
	out, sid, err := s.Invoke(ctx, id, fn.def, func() ([]byte, error) {
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
