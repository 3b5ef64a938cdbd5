package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/riverflow/flow/internal/dbsqlc"
	"github.com/riverflow/flow/internal/expr"
)

// Kinds of flow_wait rows.
const (
	waitKindStep   = "wait"   // a WaitForEvent step
	waitKindCancel = "cancel" // a CancelOn condition
)

// CancelOn condition n is stored in flow_wait under step ID "cancel:<n>"
// and alt cancelOnAlt, which no wait uses (a wait's alternatives count from
// 0): a WaitForEvent on step "cancel:0" of the same run is another row.
const (
	cancelOnStepPrefix = "cancel:"
	cancelOnAlt        = -1
)

// CancelRun cancels a run that has not ended, in its own transaction. A
// sleeping or waiting run ends at once; a run executing a step has that
// step's context cancelled promptly (River signals the process running it)
// and nothing the step returns afterwards is stored. Cancelling an ended run
// does nothing and returns false; an unknown run is ErrNotFound.
func (c *Client) CancelRun(ctx context.Context, runID string) (bool, error) {
	var ok bool
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		var err error
		ok, err = c.CancelRunTx(ctx, tx, runID)
		return err
	})
	return ok, err
}

// CancelRunTx is CancelRun inside the caller's transaction: the run is
// cancelled if and only if the transaction commits. On error, roll back.
func (c *Client) CancelRunTx(ctx context.Context, tx pgx.Tx, runID string) (bool, error) {
	if !isUUID(runID) {
		return false, fmt.Errorf("%w: %q is not a run ID", ErrNotFound, runID)
	}
	ok, err := c.cancelRun(ctx, tx, runID, "cancelled by CancelRun", nil)
	if err != nil {
		return false, fmt.Errorf("flow: cancel run %s: %w", runID, err)
	}
	if !ok {
		if _, err := c.q.RunGet(ctx, tx, runID); errors.Is(err, pgx.ErrNoRows) {
			return false, fmt.Errorf("%w: run %s", ErrNotFound, runID)
		}
	}
	return ok, nil
}

// CancelFilter selects runs for CancelRuns.
type CancelFilter struct {
	// FunctionID is required.
	FunctionID string
	// CreatedAfter and CreatedBefore bound the runs' creation times
	// (inclusive, exclusive). Zero CreatedBefore means now.
	CreatedAfter  time.Time
	CreatedBefore time.Time
}

// CancelRuns cancels every run of a function created in a time range that
// has not ended, in batches of their own transactions, and returns how many
// it cancelled.
func (c *Client) CancelRuns(ctx context.Context, f CancelFilter) (int, error) {
	if f.FunctionID == "" {
		return 0, errors.New("flow: CancelRuns: FunctionID is required")
	}
	if err := checkFilterText("CancelRuns", "FunctionID", f.FunctionID); err != nil {
		return 0, err
	}
	before := f.CreatedBefore
	if before.IsZero() {
		before = time.Now()
	}
	total := 0
	for {
		ids, err := c.q.RunListCancellable(ctx, c.pool, &dbsqlc.RunListCancellableParams{
			FunctionID: f.FunctionID, CreatedAfter: f.CreatedAfter, CreatedBefore: before, Max: 100,
		})
		if err != nil {
			return total, fmt.Errorf("flow: CancelRuns: %w", err)
		}
		for _, id := range ids {
			ok, err := c.CancelRun(ctx, id)
			if err != nil {
				return total, err
			}
			if ok {
				total++
			}
		}
		if len(ids) < 100 {
			return total, nil
		}
	}
}

// cancelRun cancels a run in tx. self is the River job of the segment
// cancelling its own run (timeouts), completed in tx; any other job of the
// run is cancelled through River, which interrupts it if it is running.
func (c *Client) cancelRun(ctx context.Context, tx pgx.Tx, runID, reason string, self *river.Job[runArgs]) (bool, error) {
	row, err := c.q.RunCancel(ctx, tx, &dbsqlc.RunCancelParams{Reason: &reason, ID: runID})
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if row.JobID != nil && (self == nil || *row.JobID != self.ID) {
		if err := c.jobs.CancelTx(ctx, tx, *row.JobID); err != nil {
			return false, fmt.Errorf("cancel job %d: %w", *row.JobID, err)
		}
	}
	if row.Slotted {
		if err := c.wakeSlotWaiters(ctx, tx, runID); err != nil {
			return false, err
		}
	}
	if row.ParentRunID != nil && row.ParentStepID != nil {
		if err := c.resolveInvoke(ctx, tx, *row.ParentRunID, *row.ParentStepID, runID, RunCancelled, nil, &reason); err != nil {
			return false, err
		}
	}
	if err := c.emitRunEnded(ctx, tx, runEnd{
		runID: runID, functionID: row.FunctionID, eventID: row.EventID, status: RunCancelled, errMsg: reason,
	}); err != nil {
		return false, err
	}
	return true, nil
}

// cancelSelf cancels the segment's own run (a timeout, a CancelOn event that
// came before the run started) and completes its job.
func (s *segment) cancelSelf(ctx context.Context, reason string) error {
	err := pgx.BeginFunc(ctx, s.c.pool, func(tx pgx.Tx) error {
		ok, err := s.c.cancelRun(ctx, tx, s.run.ID, reason, s.job)
		if err != nil {
			return err
		}
		if !ok {
			return errLost
		}
		return nil
	})
	if errors.Is(err, errLost) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("flow: cancel run %s: %w", s.run.ID, err)
	}
	s.outcome = string(RunCancelled)
	s.c.cfg.Logger.InfoContext(ctx, "flow: run cancelled", "run_id", s.run.ID, "function_id", s.fn.id, "reason", reason)
	return nil
}

// registerCancelOn records the function's CancelOn conditions for a run's
// first segment, and reports an event that already satisfies one (sent
// between the trigger and now).
func (s *segment) registerCancelOn(ctx context.Context) (string, error) {
	for i, co := range s.fn.cancelOn {
		var expires *time.Time
		if co.Timeout > 0 {
			t := s.run.CreatedAt.Add(co.Timeout)
			expires = &t
		}
		matchValue := []byte("null")
		if co.Match != "" {
			matchValue = jsonPath(s.event, co.Match)
			if string(matchValue) == "null" {
				// It could only match events that lack the value too: a
				// typo would cancel the run on any such event.
				s.c.cfg.Logger.WarnContext(ctx, "flow: CancelOn not registered: the triggering event has no value at its Match path",
					"run_id", s.run.ID, "function_id", s.fn.id, "cancel_on", i, "match", co.Match)
				continue
			}
		}
		stepID := fmt.Sprintf("%s%d", cancelOnStepPrefix, i)
		if err := s.c.q.WaitInsert(ctx, s.c.pool, &dbsqlc.WaitInsertParams{
			EventName: co.Event, MatchPath: co.Match, RunID: s.run.ID, StepID: stepID, Alt: cancelOnAlt, Kind: waitKindCancel,
			MatchValue: matchValue, Expression: co.If, ExpiresAt: expires,
		}); err != nil {
			return "", fmt.Errorf("register CancelOn %d: %w", i, err)
		}
		ev, _, err := s.c.findStoredMatch(ctx, s.c.pool, s.event, co.Event, co.Match, matchValue, co.If, s.run.EventReceivedAt)
		if errors.Is(err, expr.ErrCostLimit) {
			s.c.cfg.Logger.WarnContext(ctx, "flow: CancelOn condition over its cost limit; no match", "run_id", s.run.ID,
				"error", s.c.costError(s.fn.id, fmt.Sprintf("CancelOn[%d].If", i), co.If))
			continue
		}
		if err != nil {
			return "", err
		}
		if ev != nil {
			return fmt.Sprintf("cancelled by event %q (%s)", ev.Name, ev.ID), nil
		}
	}
	return "", nil
}

// findStoredMatch returns the first stored event named name received since
// since (other than the trigger itself) that matches a wait or cancel
// condition, with the time it was received, or nil. A condition over
// Config.MaxExpressionCost is an error wrapping expr.ErrCostLimit, for the
// caller to name.
func (c *Client) findStoredMatch(ctx context.Context, db dbsqlc.DBTX, trigger storedEvent, name, match string, matchValue []byte, cond string, since time.Time) (*storedEvent, time.Time, error) {
	rows, err := c.q.EventListForWait(ctx, db, &dbsqlc.EventListForWaitParams{
		Name: name, Since: since, ExcludeID: trigger.ID, MatchPath: match, MatchValue: matchValue, Max: 100,
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("look for stored events %q: %w", name, err)
	}
	triggerJSON, _ := json.Marshal(trigger)
	for _, r := range rows {
		ev := storedEvent{ID: r.ID, Name: r.Name, Data: r.Data, TS: r.Ts}
		if r.DedupeID != nil {
			ev.DedupeID = *r.DedupeID
		}
		if cond != "" {
			body, _ := json.Marshal(ev)
			ok, err := c.evalCondition(cond, triggerJSON, body)
			if err != nil {
				return nil, time.Time{}, err
			}
			if !ok {
				continue
			}
		}
		return &ev, r.ReceivedAt, nil
	}
	return nil, time.Time{}, nil
}
