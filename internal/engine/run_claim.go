package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/riverflow/flow/internal/dbsqlc"
)

// A queued run that must not start yet (a debounce, a batch, a throttle, an
// event with a future ts, a retry backoff) has a wake time, flow_run.wake_at,
// and its job is scheduled then. River may still fetch the job before the
// run is due: its scheduler makes jobs available up to 5 s early, and a
// debounced event can postpone the run after that, or even after River
// fetched the job (internal/riverjob/doc.go, assumptions 3 and 4). So the claim itself
// refuses a queued run before its wake time (RunStart, RunStartSlotted,
// RunPark), in the statement that would start it, and the refused job hands
// the run to a new job scheduled at the wake time. A debounced run therefore
// never starts before its Period has passed since its last event, however
// River's scheduler and fetch race the senders.

// claimRefused decides what becomes of a run whose claim by job was
// refused. A queued run not due yet goes to a new job at its wake time. A
// run still queued for this job but due (its wake time came meanwhile)
// returns an error, so that River retries the job shortly. Otherwise the job
// is stale, the run waits for a slot, or its segment is alive elsewhere:
// nothing to do.
func (c *Engine) claimRefused(ctx context.Context, job *river.Job[runArgs]) error {
	row, err := c.q.RunRequeueEarly(ctx, c.pool, &dbsqlc.RunRequeueEarlyParams{ID: job.Args.RunID, Gen: job.Args.Gen, Queue: c.cfg.Queue})
	if err == nil {
		c.waker.wakeAt(row.WakeAt)
		c.cfg.Logger.DebugContext(ctx, "flow: job fetched before its run is due; the run waits for its wake time", "run_id", row.ID, "wake_at", row.WakeAt)
		return nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("flow: hand run %s to a job at its wake time: %w", job.Args.RunID, err)
	}
	_, err = c.q.RunQueuedAtGen(ctx, c.pool, &dbsqlc.RunQueuedAtGenParams{ID: job.Args.RunID, Gen: job.Args.Gen})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("flow: look up run %s: %w", job.Args.RunID, err)
	}
	return fmt.Errorf("flow: run %s became due while its job was refused; River retries the job", job.Args.RunID)
}
