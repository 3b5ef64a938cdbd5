package flow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow/internal/dbsqlc"
	"github.com/riverflow/flow/internal/riverjob"
)

// Rerun starts a new run of a run's function with the same triggering
// event, from the top, and returns the new run's ID. The original run is
// left as it is (it may still be running).
func (c *Client) Rerun(ctx context.Context, runID string) (string, error) {
	return c.rerun(ctx, runID, "")
}

// RerunFrom starts a new run of a run's function with the same triggering
// event in which the steps recorded before stepID keep their stored results:
// the new run replays them and executes stepID and everything after it
// again. stepID must be a step of the run (as shown in Run.Steps).
func (c *Client) RerunFrom(ctx context.Context, runID, stepID string) (string, error) {
	if stepID == "" {
		return "", errors.New("flow: RerunFrom: empty step ID")
	}
	return c.rerun(ctx, runID, stepID)
}

func (c *Client) rerun(ctx context.Context, runID, fromStep string) (string, error) {
	if !isUUID(runID) {
		return "", fmt.Errorf("%w: %q is not a run ID", ErrNotFound, runID)
	}
	var newID string
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		old, err := c.q.RunGet(ctx, tx, runID)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: run %s", ErrNotFound, runID)
		}
		if err != nil {
			return err
		}
		if old.ParentRunID != nil {
			return fmt.Errorf("flow: run %s was started by Invoke; rerun its parent run instead", runID)
		}
		if fromStep != "" {
			steps, err := c.q.StepListByRun(ctx, tx, runID)
			if err != nil {
				return err
			}
			found := false
			for _, st := range steps {
				found = found || st.ID == fromStep
			}
			if !found {
				return fmt.Errorf("%w: run %s has no step %q", ErrNotFound, runID, fromStep)
			}
		}
		newID, err = c.q.RunInsert(ctx, tx, &dbsqlc.RunInsertParams{FunctionID: old.FunctionID, EventID: old.EventID})
		if err != nil {
			return err
		}
		if fromStep != "" {
			if err := c.q.StepCopyBefore(ctx, tx, &dbsqlc.StepCopyBeforeParams{ToRunID: newID, FromRunID: runID, StepID: fromStep}); err != nil {
				return err
			}
		}
		// A rerun takes concurrency slots like any run of its function.
		ctl, err := c.controlFor(ctx, tx, old.FunctionID)
		if err != nil {
			return err
		}
		ev, err := c.q.EventGet(ctx, tx, old.EventID)
		if err != nil {
			return err
		}
		stored := storedEvent{ID: ev.ID, Name: ev.Name, Data: ev.Data, TS: ev.Ts}
		if ev.DedupeID != nil {
			stored.DedupeID = *ev.DedupeID
		}
		slotted, err := c.limitRun(ctx, tx, newID, old.FunctionID, ctl, stored)
		if err != nil {
			return err
		}
		if slotted {
			_, err := c.jobs.InsertTx(ctx, tx, runArgs{RunID: newID, FunctionID: old.FunctionID, Slots: true}, riverjob.Start{})
			return err
		}
		return c.insertRunJobs(ctx, tx, []string{newID}, []string{old.FunctionID}, time.Time{})
	})
	if err != nil {
		return "", fmt.Errorf("flow: rerun %s: %w", runID, err)
	}
	return newID, nil
}
