package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow/internal/dbsqlc"
	"github.com/riverflow/flow/internal/riverjob"
)

// Event is something that happened, sent with Send or SendTx. Every function
// whose trigger matches its Name starts a run.
type Event struct {
	// ID, if set, deduplicates: an event whose ID was seen in the last 24
	// hours is accepted and ignored (it is not stored again and starts no
	// run); Send returns the first event's stored ID for it. Once retention
	// (Config.RetentionPeriod) has deleted that first event, the ID is
	// forgotten and a resent event is stored anew. At most 256 bytes of
	// valid UTF-8, without NUL.
	ID string
	// Name is required: valid UTF-8, printable, no spaces, at most 256
	// bytes, such as "user/signed.up". Names starting with "flow/" are
	// reserved.
	Name string
	// Data is the event's payload, encoded as JSON (an object is usual). It
	// must be storable in Postgres's jsonb: valid UTF-8, no NUL character
	// ("\u0000") in any key or string, numbers within Postgres's numeric
	// range.
	Data any
	// TS is when the event happened, between the years 1 and 9999. Defaults
	// to the time of sending.
	TS time.Time
}

// TypedEvent is an event as a function receives it, with Data decoded.
type TypedEvent[T any] struct {
	// ID is the event's stored ID (not the sender's dedupe ID).
	ID   string    `json:"id"`
	Name string    `json:"name"`
	Data T         `json:"data"`
	TS   time.Time `json:"ts"`
	// DedupeID is the sender's Event.ID, if it gave one.
	DedupeID string `json:"dedupe_id,omitempty"`
}

const (
	maxEventNameLen = 256
	reservedPrefix  = "flow/"
	// eventInvoked names the input event of a run started by Invoke.
	eventInvoked = "flow/function.invoked"
)

func validateEventName(name string) error {
	if name == "" {
		return errors.New("empty event name")
	}
	if len(name) > maxEventNameLen {
		return fmt.Errorf("event name is %d bytes, over the limit of %d", len(name), maxEventNameLen)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("event name %q is not valid UTF-8", name)
	}
	for _, r := range name {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return fmt.Errorf("event name %q contains a space or an unprintable character", name)
		}
	}
	if strings.Contains(name, "*") {
		return fmt.Errorf("event name %q contains '*' (wildcards are for triggers)", name)
	}
	return nil
}

// preparedEvent is an event checked and encoded for storage.
type preparedEvent struct {
	name     string
	data     []byte
	ts       time.Time
	dedupeID string
}

// prepareEvents checks and encodes events before any statement runs: an
// invalid event (see validateEvent) fails the whole call, so nothing of it is
// stored and the caller's transaction stays usable.
func (c *Client) prepareEvents(events []Event) ([]preparedEvent, error) {
	out := make([]preparedEvent, len(events))
	for i, ev := range events {
		data, err := validateEvent(ev)
		if err != nil {
			return nil, fmt.Errorf("%w: event %d (%q): %v", ErrInvalidEvent, i, shorten(ev.Name, maxEventNameLen), err)
		}
		if size := len(data) + len(ev.Name) + len(ev.ID); size > c.cfg.MaxEventBytes {
			return nil, fmt.Errorf("%w: event %d (%q): %d bytes, over the limit of %d (Config.MaxEventBytes)", ErrEventTooLarge, i, ev.Name, size, c.cfg.MaxEventBytes)
		}
		ts := ev.TS
		if ts.IsZero() {
			ts = time.Now()
		}
		out[i] = preparedEvent{name: ev.Name, data: data, ts: ts.UTC(), dedupeID: ev.ID}
	}
	return out, nil
}

// Send stores events in their own transaction and starts the runs they
// trigger. It returns the stored events' IDs, in order. A call is all or
// nothing: an invalid event is an error (ErrInvalidEvent, ErrEventTooLarge)
// that names it by index and name, and nothing of the call is stored.
func (c *Client) Send(ctx context.Context, events ...Event) ([]string, error) {
	var ids []string
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		var err error
		ids, err = c.sendTx(ctx, tx, false, events)
		return err
	})
	return ids, err
}

// SendTx stores events inside the caller's transaction, with the runs they
// trigger and the waits they resume: the events exist, and their runs start,
// if and only if the transaction commits. It returns the stored events' IDs,
// in order. Events are checked before any statement runs: after an invalid
// event (ErrInvalidEvent, ErrEventTooLarge) nothing of the call was written
// and the transaction is still usable. After any other error, roll the
// transaction back.
func (c *Client) SendTx(ctx context.Context, tx pgx.Tx, events ...Event) ([]string, error) {
	return c.sendTx(ctx, tx, true, events)
}

// sendTx sends events in tx. With savepoint (SendTx), a call leaves nothing
// of itself in the caller's transaction, which stays usable, after an error
// found once it has written (such as a trigger's If over
// Config.MaxExpressionCost). A call of several events runs under one
// savepoint that an error rolls back. A call of one event takes none up
// front, so that the usual send costs no round trip more: sendEvent undoes
// its writes itself (see there).
func (c *Client) sendTx(ctx context.Context, tx pgx.Tx, savepoint bool, events []Event) ([]string, error) {
	prepared, err := c.prepareEvents(events)
	if err != nil {
		return nil, err
	}
	if savepoint && len(prepared) == 1 {
		id, err := c.sendEvent(ctx, tx, prepared[0], true)
		if err != nil {
			return nil, fmt.Errorf("flow: send event %q: %w", prepared[0].name, err)
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
		if ids[i], err = c.sendPrepared(ctx, db, ev); err != nil {
			err = fmt.Errorf("flow: send event %q: %w", ev.name, err)
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
func (c *Client) sendPrepared(ctx context.Context, tx pgx.Tx, ev preparedEvent) (string, error) {
	return c.sendEvent(ctx, tx, ev, false)
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
func (c *Client) sendEvent(ctx context.Context, tx pgx.Tx, ev preparedEvent, undo bool) (string, error) {
	id := newID()
	var dedupe *string
	if ev.dedupeID != "" {
		held, err := c.q.EventDedupeClaim(ctx, tx, &dbsqlc.EventDedupeClaimParams{DedupeID: ev.dedupeID, EventID: id})
		if err != nil {
			return "", schemaError(err)
		}
		if held != id {
			return held, nil // a duplicate: accepted and ignored
		}
		dedupe = &ev.dedupeID
	}
	var startAt *time.Time // an event with a future ts starts its runs then
	if ev.ts.After(time.Now()) {
		startAt = &ev.ts
	}
	row, err := c.q.EventInsertAndStartRuns(ctx, tx, &dbsqlc.EventInsertAndStartRunsParams{
		ID: id, Name: ev.name, Data: ev.data, Ts: ev.ts, DedupeID: dedupe,
		StartAt: startAt, Queue: c.cfg.Queue, Notify: startAt == nil && c.insertNotify.allow(),
	})
	if err != nil {
		return "", schemaError(err)
	}
	if len(row.RunIds) > 0 && startAt != nil {
		c.waker.wakeAt(*startAt)
	}
	if len(row.DeferredFunctionIds) == 0 && !row.HasWaits {
		return id, nil
	}
	stored := storedEvent{ID: id, Name: ev.name, Data: ev.data, TS: ev.ts, DedupeID: ev.dedupeID}
	body, err := json.Marshal(stored)
	if err != nil {
		return "", err
	}
	plan, err := c.planDeferredRuns(stored, body, row.DeferredFunctionIds, row.DeferredExpressions, row.DeferredConfigs)
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
	err = c.startPlannedRuns(ctx, db, stored, plan)
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
func (c *Client) undoSend(ctx context.Context, tx pgx.Tx, id string, dedupe *string, cause error) error {
	if err := c.q.EventUndoInsert(ctx, tx, &dbsqlc.EventUndoInsertParams{EventID: id, DedupeID: dedupe}); err != nil {
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
	ctl  *controlConfig
	keys *runKeys
}

// planDeferredRuns decides, without writing, which of the runs the send
// statement left to the sender start: those of triggers with a condition
// (one expression per element, for each function: any that holds starts the
// run; "" always holds) and those of functions with flow control (config,
// their registry entry, non-empty), whose keys it evaluates.
func (c *Client) planDeferredRuns(ev storedEvent, body []byte, fnIDs, exprs, configs []string) (deferredPlan, error) {
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
			if start.ctl, err = parseRegistryControl(configs[i]); err != nil {
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
func (c *Client) skipOnSystemEvent(ev storedEvent, fnID string, err error) bool {
	if !strings.HasPrefix(ev.Name, reservedPrefix) || !errors.Is(err, ErrExpressionCost) {
		return false
	}
	c.cfg.Logger.Warn("flow: function not started for a system event: an expression is over the cost limit",
		"function_id", fnID, "event", ev.Name, "error", err.Error())
	return true
}

// startPlannedRuns starts the runs of a plan.
func (c *Client) startPlannedRuns(ctx context.Context, tx pgx.Tx, ev storedEvent, plan deferredPlan) error {
	var runIDs, started []string
	for _, s := range plan.starts {
		if s.ctl != nil {
			if err := c.startControlledRunKeys(ctx, tx, s.fnID, s.ctl, s.keys, ev); err != nil {
				if errors.Is(err, ErrExpressionCost) {
					return err // it names the function
				}
				return fmt.Errorf("function %q: %w", s.fnID, err)
			}
			continue
		}
		runID, err := c.q.RunInsert(ctx, tx, &dbsqlc.RunInsertParams{FunctionID: s.fnID, EventID: ev.ID})
		if err != nil {
			return err
		}
		runIDs, started = append(runIDs, runID), append(started, s.fnID)
	}
	if len(runIDs) == 0 {
		return nil
	}
	return c.insertRunJobs(ctx, tx, runIDs, started, ev.TS)
}

// insertRunJobs inserts the first River job of each new run. An event with a
// future ts starts its runs then: their jobs are scheduled, and the runs
// record their wake time so that the waker makes them runnable on time.
func (c *Client) insertRunJobs(ctx context.Context, tx pgx.Tx, runIDs, fnIDs []string, ts time.Time) error {
	at := time.Time{}
	if ts.After(time.Now()) {
		at = ts
	}
	args := make([]runArgs, len(runIDs))
	for i, runID := range runIDs {
		args[i] = runArgs{RunID: runID, FunctionID: fnIDs[i]}
	}
	jobIDs, err := c.jobs.InsertManyTx(ctx, tx, args, riverjob.Start{At: at})
	if err != nil {
		return fmt.Errorf("insert jobs: %w", err)
	}
	if at.IsZero() {
		return nil
	}
	if err := c.q.RunSetJobs(ctx, tx, &dbsqlc.RunSetJobsParams{IDs: runIDs, JobIds: jobIDs, WakeAt: &at}); err != nil {
		return err
	}
	c.waker.wakeAt(at)
	return nil
}

// resolveWaits gives a sent event to every open wait it matches and wakes
// their runs, and cancels the runs whose CancelOn it matches, in the sender's
// transaction. A wait is consumed once: of two events that match it, the
// first to commit wins.
func (c *Client) resolveWaits(ctx context.Context, tx pgx.Tx, ev storedEvent, body []byte) error {
	matches, err := c.q.WaitMatch(ctx, tx, &dbsqlc.WaitMatchParams{EventName: ev.Name, Event: body})
	if err != nil {
		return err
	}
	for _, m := range matches {
		ok, costErr := c.evalCondition(m.Expression, m.TriggerEvent, body)
		if costErr != nil {
			// The sender is not at fault for a run's condition: its send
			// goes on. A wait fails (its run learns why, instead of waiting
			// out its timeout); a CancelOn does not cancel.
			if err := c.waitCostExceeded(ctx, tx, m, ev); err != nil {
				return err
			}
			continue
		}
		if !ok {
			continue
		}
		if m.Kind == waitKindCancel {
			if _, err := c.cancelRun(ctx, tx, m.RunID, fmt.Sprintf("cancelled by event %q (%s)", ev.Name, ev.ID), nil); err != nil {
				return err
			}
			continue
		}
		if _, err := c.q.RunLockOpen(ctx, tx, m.RunID); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				continue // the run ended
			}
			return err
		}
		n, err := c.q.WaitDelete(ctx, tx, &dbsqlc.WaitDeleteParams{RunID: m.RunID, StepID: m.StepID})
		if err != nil {
			return err
		}
		if n == 0 {
			continue
		}
		if err := c.resolveStep(ctx, tx, m.RunID, m.StepID, stepCompleted, body, nil); err != nil {
			return err
		}
	}
	return nil
}

// waitCostExceeded handles a wait or CancelOn condition whose evaluation
// against a sent event went over Config.MaxExpressionCost: a wait's step
// fails with an error wrapping ErrExpressionCost and its run wakes to handle
// it; a CancelOn condition stays registered and does not cancel. Both are
// logged as warnings.
func (c *Client) waitCostExceeded(ctx context.Context, tx pgx.Tx, m *dbsqlc.WaitMatchRow, ev storedEvent) error {
	run, err := c.q.RunGet(ctx, tx, m.RunID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // the run is gone
	}
	if err != nil {
		return err
	}
	place := "WaitForEvent " + strconv.Quote(m.StepID) + " If"
	if i, ok := strings.CutPrefix(m.StepID, cancelOnStepPrefix); ok && m.Kind == waitKindCancel {
		place = "CancelOn[" + i + "].If"
	}
	costErr := c.costError(run.FunctionID, place, m.Expression)
	c.cfg.Logger.WarnContext(ctx, "flow: condition over its cost limit; no match", "run_id", m.RunID, "step_id", m.StepID,
		"event_id", ev.ID, "error", costErr)
	if m.Kind == waitKindCancel {
		return nil
	}
	if _, err := c.q.RunLockOpen(ctx, tx, m.RunID); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // the run ended
		}
		return err
	}
	n, err := c.q.WaitDelete(ctx, tx, &dbsqlc.WaitDeleteParams{RunID: m.RunID, StepID: m.StepID})
	if err != nil || n == 0 {
		return err
	}
	msg := costErr.Error()
	return c.resolveStep(ctx, tx, m.RunID, m.StepID, stepFailed, nil, &msg)
}

// resolveStep gives a waiting step of a run (whose row the caller has
// locked) its outcome, and wakes the run if it is suspended. A run that is
// executing finds the outcome when its segment suspends (see suspend).
func (c *Client) resolveStep(ctx context.Context, tx pgx.Tx, runID, stepID, status string, output []byte, errMsg *string) error {
	n, err := c.q.StepResolve(ctx, tx, &dbsqlc.StepResolveParams{RunID: runID, ID: stepID, Status: status, Output: output, Error: errMsg})
	if err != nil || n == 0 {
		return err
	}
	return c.q.RunWake(ctx, tx, runID)
}
