package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverflow/flow/internal/riverjob"
)

// Rerun starts a new run of runID's function on its triggering event; with
// fromStep, the steps stored before fromStep are copied into it (the bodies
// of flow.Client.Rerun and RerunFrom).
func (c *Engine) Rerun(ctx context.Context, runID, fromStep string) (string, error) {
	if !IsUUID(runID) {
		return "", fmt.Errorf("%w: %q is not a run ID", ErrNotFound, runID)
	}
	var newID string
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		var err error
		newID, err = c.rerunTx(ctx, tx, runID, fromStep)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("flow: rerun %s: %w", runID, err)
	}
	return newID, nil
}

// rerunTx is Rerun in tx. Its checks (an Invoke child, fromStep not a step of
// the run) fail before it writes, leaving tx usable.
func (c *Engine) rerunTx(ctx context.Context, tx pgx.Tx, runID, fromStep string) (string, error) {
	old, err := c.store.GetRun(ctx, tx, runID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("%w: run %s", ErrNotFound, runID)
	}
	if err != nil {
		return "", err
	}
	if old.ParentRunID != nil {
		return "", fmt.Errorf("flow: run %s was started by Invoke; rerun its parent run instead", runID)
	}
	if fromStep != "" {
		steps, err := c.store.ListStepsOn(ctx, tx, runID)
		if err != nil {
			return "", err
		}
		found := false
		for _, st := range steps {
			found = found || st.ID == fromStep
		}
		if !found {
			return "", fmt.Errorf("%w: run %s has no step %q", ErrNotFound, runID, fromStep)
		}
	}
	newID, err := c.store.InsertRun(ctx, tx, old.FunctionID, old.EventID)
	if err != nil {
		return "", err
	}
	if err := c.store.InsertRerun(ctx, tx, newID, runID, fromStep); err != nil {
		return "", err
	}
	if fromStep != "" {
		if err := c.store.CopyStepsBefore(ctx, tx, newID, runID, fromStep); err != nil {
			return "", err
		}
	}
	// A rerun takes concurrency slots like any run of its function.
	ctl, err := c.controlFor(ctx, tx, old.FunctionID)
	if err != nil {
		return "", err
	}
	ev, err := c.store.GetEvent(ctx, tx, old.EventID)
	if err != nil {
		return "", err
	}
	stored := StoredEvent{ID: ev.ID, Name: ev.Name, Data: ev.Data, TS: ev.Ts}
	if ev.DedupeID != nil {
		stored.DedupeID = *ev.DedupeID
	}
	slotted, err := c.limitRun(ctx, tx, newID, old.FunctionID, ctl, stored)
	if err != nil {
		return "", err
	}
	if slotted {
		_, err := c.jobs.InsertTx(ctx, tx, runArgs{RunID: newID, FunctionID: old.FunctionID, Slots: true}, riverjob.Start{})
		return newID, err
	}
	return newID, c.insertRunJobs(ctx, tx, []string{newID}, []string{old.FunctionID}, time.Time{})
}
