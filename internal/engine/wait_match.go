package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/riverflow/flow/internal/store"
)

// resolveWaits gives a sent event to every open wait it matches and wakes
// their runs, and cancels the runs whose CancelOn it matches, in the sender's
// transaction. A wait is consumed once: of two events that match it, the
// first to commit wins.
func (c *Engine) resolveWaits(ctx context.Context, tx pgx.Tx, ev StoredEvent, body []byte) error {
	matches, err := c.store.MatchWaits(ctx, tx, ev.Name, body)
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
			ok, err := c.cancelRun(ctx, tx, m.RunID, fmt.Sprintf("cancelled by event %q (%s)", ev.Name, ev.ID), nil)
			if err != nil {
				return err
			}
			if ok {
				if err := c.store.InsertEventEffect(ctx, tx, ev.ID, m.RunID, "", store.EffectCancelled); err != nil {
					return err
				}
			}
			continue
		}
		if _, err := c.store.LockOpenRun(ctx, tx, m.RunID); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				continue // the run ended
			}
			return err
		}
		deleted, err := c.store.DeleteWait(ctx, tx, m.RunID, m.StepID)
		if err != nil {
			return err
		}
		if !deleted {
			continue
		}
		if err := c.resolveStep(ctx, tx, m.RunID, m.StepID, stepCompleted, body, nil); err != nil {
			return err
		}
		// The event's page lists the runs it resumed, the wait step the
		// event that resumed it.
		if err := c.store.InsertEventEffect(ctx, tx, ev.ID, m.RunID, m.StepID, store.EffectResumed); err != nil {
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
func (c *Engine) waitCostExceeded(ctx context.Context, tx pgx.Tx, m store.WaitMatch, ev StoredEvent) error {
	run, err := c.store.GetRun(ctx, tx, m.RunID)
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
	if _, err := c.store.LockOpenRun(ctx, tx, m.RunID); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // the run ended
		}
		return err
	}
	deleted, err := c.store.DeleteWait(ctx, tx, m.RunID, m.StepID)
	if err != nil || !deleted {
		return err
	}
	msg := costErr.Error()
	return c.resolveStep(ctx, tx, m.RunID, m.StepID, stepFailed, nil, &msg)
}

// resolveStep gives a waiting step of a run (whose row the caller has
// locked) its outcome, and wakes the run if it is suspended. A run that is
// executing finds the outcome when its segment suspends (see suspend).
func (c *Engine) resolveStep(ctx context.Context, tx pgx.Tx, runID, stepID, status string, output []byte, errMsg *string) error {
	resolved, err := c.store.ResolveStep(ctx, tx, runID, stepID, status, output, errMsg)
	if err != nil || !resolved {
		return err
	}
	return c.store.WakeRun(ctx, tx, runID)
}
