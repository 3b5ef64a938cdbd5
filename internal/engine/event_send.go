package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverflow/flow/internal/registry"
	"github.com/riverflow/flow/internal/riverjob"
	"github.com/riverflow/flow/internal/store"
)

// PreparedEvent is an event checked and encoded for storage.
type PreparedEvent struct {
	Name     string
	Data     []byte
	TS       time.Time
	DedupeID string
}

// SendTx sends prepared events in tx. With savepoint (SendTx), a call leaves nothing
// of itself in the caller's transaction, which stays usable, after an error
// found once it has written (such as a trigger's If over
// Config.MaxExpressionCost). A call of several events runs under one
// savepoint that an error rolls back. A call of one event takes none up
// front, so that the usual send costs no round trip more: sendEvent undoes
// its writes itself (see there).
func (c *Engine) SendTx(ctx context.Context, tx pgx.Tx, savepoint bool, prepared []PreparedEvent) ([]string, error) {
	return c.send(ctx, tx, savepoint, prepared, nil)
}

// SendTxWithRuns is SendTx that also returns, for each event, the runs it
// started (see sendEvent).
func (c *Engine) SendTxWithRuns(ctx context.Context, tx pgx.Tx, savepoint bool, prepared []PreparedEvent) ([]string, [][]string, error) {
	runs := make([][]string, len(prepared))
	ids, err := c.send(ctx, tx, savepoint, prepared, runs)
	if err != nil {
		return nil, nil, err
	}
	return ids, runs, nil
}

// send is SendTx; runs, if not nil, has a slot per event for the runs it
// started.
func (c *Engine) send(ctx context.Context, tx pgx.Tx, savepoint bool, prepared []PreparedEvent, runs [][]string) ([]string, error) {
	var err error
	runsOf := func(i int) *[]string {
		if runs == nil {
			return nil
		}
		return &runs[i]
	}
	if savepoint && len(prepared) == 1 {
		id, err := c.sendEvent(ctx, tx, prepared[0], true, runsOf(0))
		if err != nil {
			return nil, fmt.Errorf("flow: send event %q: %w", prepared[0].Name, err)
		}
		return []string{id}, nil
	}
	db := tx
	if savepoint {
		if db, err = tx.Begin(ctx); err != nil {
			return nil, fmt.Errorf("flow: send: savepoint: %w", err)
		}
	}
	ids := make([]string, len(prepared))
	for i, ev := range prepared {
		if ids[i], err = c.sendEvent(ctx, db, ev, false, runsOf(i)); err != nil {
			err = fmt.Errorf("flow: send event %q: %w", ev.Name, err)
			if savepoint {
				if rbErr := db.Rollback(ctx); rbErr != nil {
					err = fmt.Errorf("%w (and rolling back to the savepoint: %v)", err, rbErr)
				}
			}
			return nil, err
		}
	}
	// The savepoint is left open on success rather than released: RELEASE
	// would cost a round trip per SendTx (measured: 0.1 ms of a 0.6 ms send)
	// and changes nothing the caller can see; the caller's COMMIT or
	// ROLLBACK ends it with the transaction, and the caller's own savepoints
	// nest as usual.
	return ids, nil
}

// sendPrepared sends one event in tx, whose owner rolls back (the whole
// transaction, or a savepoint) if it fails.
func (c *Engine) sendPrepared(ctx context.Context, tx pgx.Tx, ev PreparedEvent) (string, error) {
	return c.sendEvent(ctx, tx, ev, false, nil)
}

// sendEvent sends one event in tx. With undo, nothing guards tx, and an
// error that leaves tx usable must also leave nothing of the send in it:
//
//   - the send statement's writes (the event, its dedupe claim, the runs of
//     unconditional functions without flow control and their jobs) are
//     undone by one compensating statement (EventUndoInsert);
//   - every expression the remaining writes need (trigger If conditions,
//     flow-control keys) is evaluated first, so that one over
//     Config.MaxExpressionCost fails the send before them;
//   - where the remaining writes may cancel runs (open waits, whose CancelOn
//     may match; a Singleton in cancel mode), whose system events start
//     further runs that may fail the same way, they run under a savepoint.
//
// Any other error comes from Postgres, which has then aborted tx.
//
// runs, if not nil, receives the runs the event started: those the send
// statement created (it returns their IDs anyway) and those started after
// it, including runs that flow control recorded as skipped, the batch run
// the event joined, and the debounced run it postponed. A duplicate event
// (a dedupe ID seen before) starts none and reports the first event's runs.
// Without undo, the caller discards runs after an error.
func (c *Engine) sendEvent(ctx context.Context, tx pgx.Tx, ev PreparedEvent, undo bool, runs *[]string) (string, error) {
	id := NewID()
	var dedupe *string
	if ev.DedupeID != "" {
		held, err := c.store.ClaimDedupe(ctx, tx, ev.DedupeID, id)
		if err != nil {
			return "", SchemaError(err)
		}
		if held != id {
			// A duplicate: accepted and ignored. Its runs are the first
			// event's (one query more, for duplicates asked for runs only).
			if runs != nil {
				ids, err := c.store.EventRunIDs(ctx, tx, held)
				if err != nil {
					return "", SchemaError(err)
				}
				*runs = ids
			}
			return held, nil
		}
		dedupe = &ev.DedupeID
	}
	var startAt *time.Time // an event with a future ts starts its runs then
	if ev.TS.After(time.Now()) {
		startAt = &ev.TS
	}
	row, err := c.store.InsertEventAndStartRuns(ctx, tx, store.Send{
		ID: id, Name: ev.Name, Data: ev.Data, Ts: ev.TS, DedupeID: dedupe,
		StartAt: startAt, TraceParent: traceParentOf(ctx), Queue: c.cfg.Queue, Notify: startAt == nil && c.insertNotify.allow(),
	})
	if err != nil {
		return "", SchemaError(err)
	}
	if len(row.RunIDs) > 0 && startAt != nil {
		c.waker.wakeAt(*startAt)
	}
	if runs != nil {
		*runs = append((*runs)[:0], row.RunIDs...)
	}
	if len(row.DeferredFunctionIDs) == 0 && !row.HasWaits {
		return id, nil
	}
	stored := StoredEvent{ID: id, Name: ev.Name, Data: ev.Data, TS: ev.TS, DedupeID: ev.DedupeID}
	body, err := json.Marshal(stored)
	if err != nil {
		return "", err
	}
	plan, err := c.planDeferredRuns(stored, body, row.DeferredFunctionIDs, row.DeferredExpressions, row.DeferredConfigs)
	if err != nil {
		if undo {
			return "", c.undoSend(ctx, tx, id, dedupe, err)
		}
		return "", err
	}
	db := tx
	if undo && (row.HasWaits || plan.mayCancel) {
		if db, err = tx.Begin(ctx); err != nil {
			return "", fmt.Errorf("savepoint: %w", err)
		}
	}
	err = c.startPlannedRuns(ctx, db, stored, plan, runs)
	if err == nil && row.HasWaits {
		if err = c.resolveWaits(ctx, db, stored, body); err != nil {
			err = fmt.Errorf("match waits: %w", err)
		}
	}
	if err != nil && db != tx {
		if rbErr := db.Rollback(ctx); rbErr != nil {
			return "", fmt.Errorf("%w (and rolling back to the savepoint: %v)", err, rbErr)
		}
		return "", c.undoSend(ctx, tx, id, dedupe, err)
	}
	// A savepoint taken is left open, as sendTx's is.
	return id, err
}

// undoSend deletes what the send statement wrote for event id after the send
// failed with cause, and returns cause.
func (c *Engine) undoSend(ctx context.Context, tx pgx.Tx, id string, dedupe *string, cause error) error {
	if err := c.store.UndoEventInsert(ctx, tx, id, dedupe); err != nil {
		return fmt.Errorf("%w (and undoing the event's insert: %v; roll the transaction back)", cause, err)
	}
	return cause
}

// notifyLimiter lets a client send River's insert notification at most once
// per interval (River's own insert path does the same, per FetchCooldown):
// each notification makes its transaction's commit take Postgres's notify
// lock, and producers fetch at most that often anyway.
type notifyLimiter struct {
	mu       sync.Mutex
	interval time.Duration
	last     time.Time
}

func (l *notifyLimiter) allow() bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.last) < l.interval {
		return false
	}
	l.last = now
	return true
}

// deferredPlan is what the sender must still start for an event, with every
// expression evaluated: the runs the send statement left to it.
type deferredPlan struct {
	starts    []deferredStart
	mayCancel bool // a start may cancel a run (Singleton in cancel mode)
}

// deferredStart is one function's run to start: ctl and keys are nil for a
// function without flow control.
type deferredStart struct {
	fnID string
	ctl  *registry.Control
	keys *runKeys
}

// planDeferredRuns decides, without writing, which of the runs the send
// statement left to the sender start: those of triggers with a condition
// (one expression per element, for each function: any that holds starts the
// run; "" always holds) and those of functions with flow control (config,
// their registry entry, non-empty), whose keys it evaluates.
func (c *Engine) planDeferredRuns(ev StoredEvent, body []byte, fnIDs, exprs, configs []string) (deferredPlan, error) {
	var plan deferredPlan
	done := map[string]bool{}
	for i, fnID := range fnIDs {
		if done[fnID] {
			continue
		}
		ok, err := c.evalCondition(exprs[i], body, nil)
		if err != nil {
			err = c.costError(fnID, "trigger If", exprs[i])
			if c.skipOnSystemEvent(ev, fnID, err) {
				continue
			}
			return plan, err
		}
		if !ok {
			continue
		}
		done[fnID] = true
		start := deferredStart{fnID: fnID}
		if configs[i] != "" {
			if start.ctl, err = ParseRegistryControl(configs[i]); err != nil {
				return plan, fmt.Errorf("function %q: %w", fnID, err)
			}
		}
		if start.ctl != nil {
			if start.keys, err = c.evalRunKeys(fnID, start.ctl, body); err != nil {
				if c.skipOnSystemEvent(ev, fnID, err) {
					continue
				}
				return plan, err // it names the function
			}
			if s := start.ctl.Singleton; s != nil && s.Mode == string(SingletonCancel) {
				plan.mayCancel = true
			}
		}
		plan.starts = append(plan.starts, start)
	}
	return plan, nil
}

// skipOnSystemEvent reports whether a function whose trigger If or key went
// over Config.MaxExpressionCost on a system event ("flow/...") is left out
// rather than failing the send, and logs it at warn. A system event's sender
// is the engine ending or cancelling a run, or the user whose event cancelled
// one: neither is at fault for a listener's expression, and failing would
// leave the ending run unable to end (retried until River gives up).
func (c *Engine) skipOnSystemEvent(ev StoredEvent, fnID string, err error) bool {
	if !strings.HasPrefix(ev.Name, ReservedPrefix) || !errors.Is(err, ErrExpressionCost) {
		return false
	}
	c.cfg.Logger.Warn("flow: function not started for a system event: an expression is over the cost limit",
		"function_id", fnID, "event", ev.Name, "error", err.Error())
	return true
}

// startPlannedRuns starts the runs of a plan, and appends them to runs if
// it is not nil.
func (c *Engine) startPlannedRuns(ctx context.Context, tx pgx.Tx, ev StoredEvent, plan deferredPlan, runs *[]string) error {
	var runIDs, started []string
	for _, s := range plan.starts {
		if s.ctl != nil {
			run, err := c.startControlledRunKeys(ctx, tx, s.fnID, s.ctl, s.keys, ev, startOpts{})
			if err != nil {
				if errors.Is(err, ErrExpressionCost) {
					return err // it names the function
				}
				return fmt.Errorf("function %q: %w", s.fnID, err)
			}
			if runs != nil && run.runID != "" {
				*runs = append(*runs, run.runID)
			}
			continue
		}
		runID, err := c.store.InsertRun(ctx, tx, s.fnID, ev.ID)
		if err != nil {
			return err
		}
		runIDs, started = append(runIDs, runID), append(started, s.fnID)
	}
	if runs != nil {
		*runs = append(*runs, runIDs...)
	}
	if len(runIDs) == 0 {
		return nil
	}
	return c.insertRunJobs(ctx, tx, runIDs, started, ev.TS)
}

// insertRunJobs inserts the first River job of each new run. An event with a
// future ts starts its runs then: their jobs are scheduled, and the runs
// record their wake time so that the waker makes them runnable on time.
func (c *Engine) insertRunJobs(ctx context.Context, tx pgx.Tx, runIDs, fnIDs []string, ts time.Time) error {
	at := time.Time{}
	if ts.After(time.Now()) {
		at = ts
	}
	args := make([]runArgs, len(runIDs))
	var tp string
	if p := traceParentOf(ctx); p != nil {
		tp = *p
	}
	for i, runID := range runIDs {
		args[i] = runArgs{RunID: runID, FunctionID: fnIDs[i], TraceParent: tp}
	}
	jobIDs, err := c.jobs.InsertManyTx(ctx, tx, args, riverjob.Start{At: at})
	if err != nil {
		return fmt.Errorf("insert jobs: %w", err)
	}
	if at.IsZero() {
		return nil
	}
	if err := c.store.SetRunJobs(ctx, tx, runIDs, jobIDs, &at); err != nil {
		return err
	}
	c.waker.wakeAt(at)
	return nil
}

// ReservedPrefix starts the names of the library's own events, which users
// cannot send.
const ReservedPrefix = "flow/"

// eventInvoked names the input event of a run started by Invoke.
const eventInvoked = "flow/function.invoked"
