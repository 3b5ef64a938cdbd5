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
// never starts the child twice. Func.Invoke is the typed form.
//
// The child's Input.Event is a "flow/function.invoked" event whose Data is
// data; it matches no trigger, so fn may have none (NoTrigger). The child's
// flow control applies as upstream Inngest applies it to invoked runs,
// except where that would leave the parent waiting for a run that never
// carries its data (docs/invoke.md has the table):
//
//   - RateLimit over its limit, an Idempotency key used in the last 24
//     hours, or a Singleton (skip mode) run in progress refuses the child:
//     it is recorded as skipped, and Invoke returns at once a *StepError
//     naming the reason (such as "rate limit of 1 per 1m0s reached"),
//     whose cause is ErrRunSkipped. Upstream fails the invoke for a rate
//     limit too; for idempotency and singleton it leaves the parent
//     waiting until its timeout.
//   - Singleton in cancel mode cancels the run in progress and starts the
//     child, as an event does.
//   - Throttle delays the child, Priority orders it, and Concurrency limits
//     it, as for an event (as upstream).
//   - Debounce and Batch do not apply: the child starts at once, alone, with
//     data as its only event. Upstream debounces and batches invoke events,
//     so the parent may wait on a run that carries another event.
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
