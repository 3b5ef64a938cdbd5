package engine

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow/internal/riverjob"
)

// handOn gives a run a new River job, one generation on, in tx: the run goes
// back to queued with no lease, and whatever is left of its old job or
// segment finds itself stale (the gen fence). The lease sweeper (a dead
// process's run), the orphan sweep (a job fetched by a process that died
// before its claim) and the resumer (a segment cut off by a database error)
// all end this way, each after locking the run on its own condition. With
// freesSlot, the run was running and held concurrency slots, which the
// status change frees: the runs parked for them are woken.
func (c *Engine) handOn(ctx context.Context, tx pgx.Tx, runID string, gen int32, functionID string, slotted, freesSlot bool) error {
	jobID, err := c.jobs.InsertTx(ctx, tx, runArgs{RunID: runID, Gen: gen + 1, FunctionID: functionID, Slots: slotted}, riverjob.Start{})
	if err != nil {
		return fmt.Errorf("insert job: %w", err)
	}
	if err := c.store.TakeOver(ctx, tx, runID, jobID); err != nil {
		return err
	}
	if slotted && freesSlot {
		return c.wakeSlotWaiters(ctx, tx, runID)
	}
	return nil
}
