package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow/internal/dbsqlc"
	"github.com/riverflow/flow/internal/expr"
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
	s, err := segmentFrom(ctx)
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
	waits := make([]waitSpec, len(opts))
	for i, o := range opts {
		waits[i] = waitSpec(o) // the same fields: a new WaitOpts field must reach the engine too
	}
	body, sid, err := s.WaitForEvents(ctx, id, waits)
	if err != nil {
		return zero, err
	}
	return decodeStoredEvent[T](s.RunID(), sid, body)
}

// decodeStoredEvent decodes a wait's stored event, its data into T.
func decodeStoredEvent[T any](runID, sid string, body []byte) (TypedEvent[T], error) {
	var ev storedEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return TypedEvent[T]{}, NonRetriable(fmt.Errorf("flow: run %s: decode event of step %q: %w", runID, sid, err))
	}
	out, err := decodeEvent[T](ev)
	if err != nil {
		return out, NonRetriable(err)
	}
	return out, nil
}

// findLookback returns the first stored event (by arrival) since since that
// satisfies any of the waits of step sid. A condition over
// Config.MaxExpressionCost is an error wrapping ErrExpressionCost.
func (s *segment) findLookback(sid string, opts []waitSpec, matchValues [][]byte, since time.Time) (*storedEvent, error) {
	var best *storedEvent
	var bestAt time.Time
	for i, o := range opts {
		ev, at, err := s.c.findStoredMatch(context.WithoutCancel(s.ctx), s.c.pool, s.event, o.Event, o.Match, matchValues[i], o.If, since)
		if errors.Is(err, expr.ErrCostLimit) {
			return nil, s.c.costError(s.fn.id, "WaitForEvent "+strconv.Quote(sid)+" If", o.If)
		}
		if err != nil {
			return nil, err
		}
		if ev != nil && (best == nil || at.Before(bestAt)) {
			best, bestAt = ev, at
		}
	}
	return best, nil
}

// resolveLateWait gives a just-registered wait an event stored within its
// lookback window, if one arrived while it was being registered.
func (c *Client) resolveLateWait(ctx context.Context, s *segment, stepID string, opts []waitSpec, matchValues [][]byte, since time.Time) {
	ev, err := s.findLookback(stepID, opts, matchValues, since)
	var body []byte
	var errMsg *string
	status := stepCompleted
	switch {
	case errors.Is(err, ErrExpressionCost): // the wait fails, as when a sender finds it so
		msg := err.Error()
		status, errMsg = stepFailed, &msg
	case err != nil || ev == nil:
		return
	default:
		body, _ = json.Marshal(ev)
	}
	err = pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		if _, err := c.q.RunLockOpen(ctx, tx, s.run.ID); err != nil {
			return err
		}
		n, err := c.q.WaitDelete(ctx, tx, &dbsqlc.WaitDeleteParams{RunID: s.run.ID, StepID: stepID})
		if err != nil || n == 0 {
			return err
		}
		return c.resolveStep(ctx, tx, s.run.ID, stepID, status, body, errMsg)
	})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		c.cfg.Logger.WarnContext(ctx, "flow: resolve wait from lookback", "run_id", s.run.ID, "step_id", stepID, "error", err)
	}
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
	if err := checkCondition(opts.If); err != nil {
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

// jsonPath returns the JSON value at a dotted path of an event ("data.x.y"),
// or null when the path is missing.
func jsonPath(ev storedEvent, path string) []byte {
	root, _ := json.Marshal(ev)
	var cur any
	if err := json.Unmarshal(root, &cur); err != nil {
		return []byte("null")
	}
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return []byte("null")
		}
		cur = m[part]
	}
	out, err := json.Marshal(cur)
	if err != nil {
		return []byte("null")
	}
	return out
}
