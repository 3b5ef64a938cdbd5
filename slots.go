package flow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/riverflow/flow/internal/dbsqlc"
)

// Concurrency limits (FunctionOpts.Concurrency) live in flow_run: a run with
// concurrency keys may execute while fewer than its limit of runs with the
// same key are running. The protocol:
//
//   - A segment claims its run under a transaction-scoped advisory lock per
//     key (SlotLock), counting the key's running runs in a statement after
//     the lock, so that two claims of one key never both see the last slot.
//   - A run with no free slot parks: queued, with slot_wait naming the key it
//     waits for and a new job that only a release (or slotRecheck) makes
//     runnable. Waiters are served in order (order_at, then ID): a run may not
//     take a slot that an earlier waiter of the key is owed.
//   - Whatever takes a run out of running (suspend, finish, cancel, lease
//     takeover) takes the same locks first (before the run's row lock, as a
//     claim does) and, after its status change, makes the oldest waiters
//     runnable, one per free slot (RunSlotKick). The lock orders it against
//     every claim: either the claim sees the slot free, or the release sees
//     the parked claim.

// slotLockClass is the first key of the advisory locks on concurrency keys
// ("flow" in ASCII), which keeps them apart from an application's one-key
// advisory locks.
const slotLockClass = 0x666c6f77

// claimSlotted is RunStart for a run with concurrency keys: it claims the
// run if every key has a free slot, and otherwise parks it (nil row).
func (c *Client) claimSlotted(ctx context.Context, job *river.Job[runArgs], finishTimeout, startTimeout time.Duration) (*dbsqlc.RunStartRow, error) {
	var row *dbsqlc.RunStartRow
	var park *dbsqlc.RunParkRow
	recheck := slotRecheck
	if startTimeout > 0 {
		recheck = min(recheck, startTimeout)
	}
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		row, park = nil, nil
		if err := c.q.SlotLock(ctx, tx, &dbsqlc.SlotLockParams{LockClass: slotLockClass, ID: job.Args.RunID}); err != nil {
			return err
		}
		started, err := c.q.RunStartSlotted(ctx, tx, &dbsqlc.RunStartSlottedParams{
			ID: job.Args.RunID, Gen: job.Args.Gen, JobID: &job.ID, LeaseOwner: &c.cfg.ID, LeaseTtl: c.cfg.LeaseTTL,
			FinishTimeout: finishTimeout,
		})
		if err == nil {
			row = (*dbsqlc.RunStartRow)(started)
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		park, err = c.q.RunPark(ctx, tx, &dbsqlc.RunParkParams{ID: job.Args.RunID, Gen: job.Args.Gen, Queue: c.cfg.Queue, Recheck: recheck})
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // a stale job
		}
		if err != nil {
			return err
		}
		// The run may have parked behind an earlier waiter that a free slot
		// is owed to, or on its other key while this one has room: pass the
		// turn on.
		_, err = c.q.RunSlotKick(ctx, tx, job.Args.RunID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("flow: claim a concurrency slot for run %s: %w", job.Args.RunID, err)
	}
	if park != nil && park.NeverStarted && startTimeout > 0 && park.QueuedFor > startTimeout {
		reason := fmt.Sprintf("start timeout: queued for %s waiting for a concurrency slot, over Timeouts.Start %s", park.QueuedFor.Round(time.Millisecond), startTimeout)
		err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
			_, err := c.cancelRun(ctx, tx, job.Args.RunID, reason, nil)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("flow: cancel run %s: %w", job.Args.RunID, err)
		}
	}
	return row, nil
}

// lockSlots takes the advisory locks of a run's concurrency keys (none if
// it has none) until tx ends. Whatever takes a run out of running takes them
// before it locks the run's row, as claims do, so that the two never wait
// for each other in opposite orders.
func (c *Client) lockSlots(ctx context.Context, tx pgx.Tx, runID string) error {
	if err := c.q.SlotLock(ctx, tx, &dbsqlc.SlotLockParams{LockClass: slotLockClass, ID: runID}); err != nil {
		return fmt.Errorf("lock concurrency keys: %w", err)
	}
	return nil
}

// kickSlots makes runnable the runs waiting for the slots of a run that tx
// has taken out of running (or cancelled), after lockSlots.
func (c *Client) kickSlots(ctx context.Context, tx pgx.Tx, runID string) error {
	if _, err := c.q.RunSlotKick(ctx, tx, runID); err != nil {
		return fmt.Errorf("wake runs waiting for a concurrency slot: %w", err)
	}
	return nil
}
