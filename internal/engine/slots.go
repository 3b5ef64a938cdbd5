package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/riverflow/flow/internal/store"
)

// Concurrency limits (FunctionOpts.Concurrency) live in Postgres: each
// concurrency key has Limit slot rows (flow_concurrency_slot), made when a run
// with the key is created. The protocol:
//
//   - A segment claims its run in one statement (RunStartSlotted) that takes a
//     free slot of each key with FOR UPDATE SKIP LOCKED: claims and releases
//     of one key lock different rows, so they do not queue behind each other
//     (a single counter or lock per key would serialise every run start and
//     end of the function; River users saw a global limit halve throughput).
//   - A run that finds no free slot it can lock, or finds a parked run
//     waiting ahead of it, parks (RunPark): queued, with slot_wait naming the key, and a new job
//     that only a wake (or slotRecheck) makes runnable. Parked runs are served
//     in order (order_at, then ID).
//   - A trigger frees a run's slots in the transaction that stops it running
//     (suspend, finish, cancel, takeover: any change of status).
//   - Both the run that freed a slot (after its change committed; a cancel
//     or a takeover, in the transaction that makes it) and the run that
//     parked (after its park committed) call flow_slot_wake, which makes
//     the oldest parked runs runnable, one per free slot: of the two calls, at
//     least one sees both the free slot and the parked run, so no wake is
//     lost. The parked run's call first locks the key's slots, waiting for
//     releases in flight; so a finishing or suspending run that saw no
//     parked run in its own statement (RunCompleteQuiet, RunSuspend) need
//     not call at all, and the common case costs no statement.
//   - A key in whole-run mode (ConcurrencyRun, or a queue-mode Singleton;
//     flow_run.chold1/chold2, sql/005) keeps its slot from the run's first
//     claim to its end: the trigger frees it only when the run ends, from
//     whatever status (a cancel while sleeping, a timeout); a later claim of
//     the run needs neither a free slot of that key nor to be first in its
//     line (RunStartSlotted's held1/held2); a takeover keeps it, so a run
//     handed to another process goes on at once; and the sweeper's
//     FreeDanglingSlots leaves it alone while the run has not ended. A run
//     holds its whole-run slots before any step-level one, and step-level
//     slots are only held by executing runs, which always move on: so a
//     run parked holding a whole-run slot cannot wait on a run that waits on
//     it, except through Invoke (a parent holding the only slot of a key its
//     child needs).

// slotRecheck is how long a run waiting for a concurrency slot waits at most
// before it looks again by itself. The run that frees a slot wakes the next
// waiter at once: this is only a safety net.
const slotRecheck = time.Minute

// parkForSlot parks a run whose slotted claim (store.ClaimRun with Slotted,
// RunStartSlotted) found no free slot of one of its keys, waking the oldest
// waiter if a slot freed meanwhile, and cancels it once it has waited over
// its start timeout. A claim refused for another reason goes to claimRefused.
func (c *Engine) parkForSlot(ctx context.Context, job *river.Job[runArgs], startTimeout time.Duration) error {
	recheck := slotRecheck
	if startTimeout > 0 {
		recheck = min(recheck, startTimeout)
	}
	park, err := c.store.ParkRun(ctx, store.RunRef{ID: job.Args.RunID, Gen: job.Args.Gen}, c.cfg.Queue, recheck)
	if errors.Is(err, pgx.ErrNoRows) {
		// A stale job (it owns nothing), or a run not due yet (claimRefused, run_claim.go).
		return c.claimRefused(ctx, job)
	}
	if err != nil {
		return fmt.Errorf("flow: park run %s until a concurrency slot frees: %w", job.Args.RunID, err)
	}
	// A slot may have freed since the claim looked: then this wakes the
	// oldest waiter (perhaps this run). It waits for releases in flight, which
	// may not have seen this run parked.
	if err := c.store.WakeSlotWaitersLocked(ctx, job.Args.RunID); err != nil {
		c.resumer.addSlotWake(job.Args.RunID)
		return fmt.Errorf("flow: wake runs waiting for a concurrency slot: %w", err)
	}
	if park.NeverStarted && startTimeout > 0 && park.QueuedFor > startTimeout {
		reason := fmt.Sprintf("start timeout: queued for %s waiting for a concurrency slot, over Timeouts.Start %s", park.QueuedFor.Round(time.Millisecond), startTimeout)
		err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
			_, err := c.cancelRun(ctx, tx, job.Args.RunID, reason, nil)
			return err
		})
		if err != nil {
			return fmt.Errorf("flow: cancel run %s: %w", job.Args.RunID, err)
		}
	}
	return nil
}

// wakeSlotWaiters makes runnable the runs waiting for the slots of a run
// that tx (or the caller's last commit, with tx the pool) took out of
// running.
func (c *Engine) wakeSlotWaiters(ctx context.Context, db store.DB, runID string) error {
	if err := c.store.WakeSlotWaiters(ctx, db, runID); err != nil {
		return fmt.Errorf("wake runs waiting for a concurrency slot: %w", err)
	}
	return nil
}

// releaseSlots wakes the runs waiting for the slots the segment's run has
// just freed (its change committed). If it fails, the resumer tries again
// soon; if the process dies first, the waiters' recheck makes up for it.
func (s *Segment) releaseSlots(ctx context.Context) {
	if !s.run.Slotted {
		return
	}
	if err := s.c.wakeSlotWaiters(context.WithoutCancel(ctx), s.c.pool, s.run.ID); err != nil {
		s.c.cfg.Logger.WarnContext(ctx, "flow: hand on a concurrency slot; retrying", "run_id", s.run.ID, "error", err)
		s.c.resumer.addSlotWake(s.run.ID)
	}
}

// freeDanglingSlots frees the slots held by runs that are not running (a
// claim whose run changed under it) and, in the same transaction, wakes the
// runs parked for those keys: without the wake they would wait for their
// recheck (slotRecheck), since no run's release will call flow_slot_wake
// for a slot that no running run held.
func (c *Engine) freeDanglingSlots(ctx context.Context) error {
	err := c.store.FreeDanglingSlots(ctx)
	if err != nil {
		return fmt.Errorf("free dangling concurrency slots: %w", err)
	}
	return nil
}
