package flow

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/riverflow/flow/internal/engine"
)

// WaitOpts says which event WaitForEvent waits for.
type WaitOpts struct {
	// Event is the name of the awaited event. Required.
	Event string
	// Match, such as "data.userId", requires the awaited event's value at
	// that path to equal the triggering event's value there. It is sugar
	// for If: `event.data.userId == async.data.userId`, and is matched by
	// index. The triggering event must have a value there: if it is missing
	// or null, the wait fails at once with a StepError wrapping
	// ErrMatchMissing (not retried), rather than match every event that
	// lacks it too. Empty: no such condition.
	Match string
	// If is a CEL condition over event (the run's triggering event) and
	// async (the incoming event), such as `async.data.amount > 100`, checked
	// when the wait is created (a syntax error, or a type other than bool,
	// fails the step) and evaluated by the sender. A missing field is null;
	// a value from the events that is not a bool is no match (logged as a
	// warning). An evaluation over Config.MaxExpressionCost fails the wait
	// with a StepError wrapping ErrExpressionCost.
	If string
	// Timeout is how long to wait. Required, and positive.
	Timeout time.Duration
	// Lookback also accepts events stored within this window before the wait
	// began (beyond Inngest, which only takes events sent after the wait is
	// registered, and so loses an event sent just after the trigger). The
	// oldest matching event in the window is taken. Zero: no lookback.
	Lookback time.Duration
}

// WaitForEvent pauses the run until an event named opts.Event (and matching
// opts.Match and opts.If) is sent, and returns it; or, after opts.Timeout,
// returns ErrEventTimeout. The wait is durable: a waiting run holds no
// worker, goroutine or connection, and the run resumes within milliseconds
// of the matching event's commit, in the sender's transaction.
//
// Only events that commit after the wait is registered resume it, as in
// Inngest, unless opts.Lookback is set: an event sent before the run reaches
// this step is then accepted if it is recent enough. Functions must return
// errors other than ErrEventTimeout unchanged.
func WaitForEvent[T any](ctx context.Context, id string, opts WaitOpts) (TypedEvent[T], error) {
	return WaitForAnyEvent[T](ctx, id, opts)
}

// WaitForAnyEvent waits for the first of several events: each WaitOpts names
// an event with its own Match and If; the first one's Timeout and Lookback
// apply to all. It returns the event that came first (its Name says which),
// decoding its data into T (use json.RawMessage when the events' data
// differ), or ErrEventTimeout.
func WaitForAnyEvent[T any](ctx context.Context, id string, opts ...WaitOpts) (TypedEvent[T], error) {
	var zero TypedEvent[T]
	s, err := engine.FromContext(ctx)
	if err != nil {
		return zero, err
	}
	if len(opts) == 0 {
		return zero, NonRetriable(fmt.Errorf("flow: WaitForAnyEvent %q: no event to wait for", id))
	}
	for _, o := range opts {
		if err := validateWait(id, o, opts[0].Timeout); err != nil {
			return zero, err
		}
	}
	waits := make([]engine.Wait, len(opts))
	for i, o := range opts {
		waits[i] = engine.Wait(o) // the same fields: a new WaitOpts field must reach the engine too
	}
	body, sid, err := s.WaitForEvents(ctx, id, waits)
	if err != nil {
		return zero, err
	}
	return decodeStoredEvent[T](s.RunID(), sid, body)
}

// decodeStoredEvent decodes a wait's stored event, its data into T.
func decodeStoredEvent[T any](runID, sid string, body []byte) (TypedEvent[T], error) {
	var ev engine.StoredEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return TypedEvent[T]{}, NonRetriable(fmt.Errorf("flow: run %s: decode event of step %q: %w", runID, sid, err))
	}
	out, err := decodeEvent[T](ev)
	if err != nil {
		return out, NonRetriable(err)
	}
	return out, nil
}

func validateWait(id string, opts WaitOpts, timeout time.Duration) error {
	if err := validateEventName(opts.Event); err != nil {
		return NonRetriable(fmt.Errorf("flow: WaitForEvent %q: %v", id, err))
	}
	if timeout <= 0 {
		return NonRetriable(fmt.Errorf("flow: WaitForEvent %q: Timeout must be positive, got %s", id, timeout))
	}
	if opts.Lookback < 0 {
		return NonRetriable(fmt.Errorf("flow: WaitForEvent %q: negative Lookback %s", id, opts.Lookback))
	}
	if err := validateMatch(opts.Match); err != nil {
		return NonRetriable(fmt.Errorf("flow: WaitForEvent %q: %v", id, err))
	}
	if err := engine.CheckCondition(opts.If); err != nil {
		return NonRetriable(fmt.Errorf("flow: WaitForEvent %q: If: %v", id, err))
	}
	return nil
}

func validateMatch(match string) error {
	if match == "" {
		return nil
	}
	for _, part := range strings.Split(match, ".") {
		if part == "" {
			return fmt.Errorf("match %q is not a dotted path such as \"data.userId\"", match)
		}
	}
	return nil
}
