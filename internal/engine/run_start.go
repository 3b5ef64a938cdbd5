package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow/internal/store"
)

// Direct starts: a run asked for by name (Start, StartTx) or by an Invoke
// step, rather than matched by an event. Its input is a stored event named
// eventStarted or eventInvoked that no trigger matches. The function's flow
// control applies as upstream Inngest applies it to invoked runs, except
// where that hurts (docs/invoke.md has the table):
//
//   - rate limit, idempotency and singleton (skip mode) may refuse the run:
//     it is recorded as skipped, Start returns ErrRunSkipped, and an Invoke
//     step fails at once with a *StepError wrapping it (upstream fails the
//     invoke for a rate limit; for idempotency and singleton it leaves the
//     invoker waiting for a run that never comes);
//   - singleton in cancel mode cancels the run in progress, as for events;
//     in queue mode the run waits for the run in progress to end (a
//     whole-run concurrency key), as for events;
//   - throttle delays the run, priority orders it, concurrency limits it;
//   - debounce and batch do not apply: the run starts at once, alone
//     (upstream debounces and batches invoke events, leaving the invoker
//     waiting on a run that may carry another event).

// eventStarted names the input event of a run started by Start.
const eventStarted = "flow/function.started"

// StartRun starts a run of fn in tx with data (JSON) as its event's data and
// returns the run's ID. A run that flow control refuses is recorded as
// skipped, and StartRun returns its ID with an error wrapping ErrRunSkipped.
func (c *Engine) StartRun(ctx context.Context, tx pgx.Tx, fn *Function, data []byte) (string, error) {
	ev := StoredEvent{ID: NewID(), Name: eventStarted, Data: data, TS: time.Now().UTC()}
	keys, err := c.directKeys(fn, ev)
	if err != nil {
		return "", fmt.Errorf("flow: start %q: %w", fn.id, err)
	}
	run, err := c.startDirect(ctx, tx, fn, ev, keys, startOpts{direct: true})
	if err != nil {
		return "", fmt.Errorf("flow: start %q: %w", fn.id, err)
	}
	if run.skipped != "" {
		return run.runID, fmt.Errorf("%w: start %q: %s (run %s)", ErrRunSkipped, fn.id, run.skipped, run.runID)
	}
	return run.runID, nil
}

// HasFunction reports whether fn is a function of this engine (not one of
// another client with the same ID).
func (c *Engine) HasFunction(fn *Function) bool {
	return fn != nil && c.function(fn.id) == fn
}

// directKeys evaluates fn's flow-control keys for ev before any write, so
// that one over Config.MaxExpressionCost fails the start before it has
// written anything. nil: fn has no flow control.
func (c *Engine) directKeys(fn *Function, ev StoredEvent) (*runKeys, error) {
	if fn.control == nil {
		return nil, nil
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	return c.evalRunKeys(fn.id, fn.control, body)
}

// startDirect stores ev and starts fn's run for it in tx, with keys from
// directKeys.
func (c *Engine) startDirect(ctx context.Context, tx pgx.Tx, fn *Function, ev StoredEvent, keys *runKeys, opts startOpts) (startedRun, error) {
	if err := c.store.InsertEvent(ctx, tx, store.Event{ID: ev.ID, Name: ev.Name, Data: ev.Data, Ts: ev.TS}); err != nil {
		return startedRun{}, fmt.Errorf("store the input event: %w", err)
	}
	if fn.control != nil {
		return c.startControlledRunKeys(ctx, tx, fn.id, fn.control, keys, ev, opts)
	}
	params := &store.ControlledRun{ID: NewID(), FunctionID: fn.id, EventID: ev.ID, Queue: c.cfg.Queue,
		ParentRunID: opts.parentRunID, ParentStepID: opts.parentStepID, TraceParent: traceParentOf(ctx)}
	created, err := c.insertControlledRun(ctx, tx, params)
	if err != nil {
		return startedRun{}, fmt.Errorf("start run: %w", err)
	}
	if !created {
		return startedRun{}, fmt.Errorf("start run: the Invoke step has a child run already")
	}
	return startedRun{runID: params.ID}, nil
}
