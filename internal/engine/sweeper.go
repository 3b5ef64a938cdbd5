package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow/internal/store"
)

// sweepOrphaned hands to a new job the runs that a client orphaned by dying
// between River's fetch of their job and its segment's claim of the run
// (queries/orphan.sql). Such a run stays queued with no lease, so the lease
// sweep never sees it, and River's rescuer would retry its job only after an
// hour. A job running longer than LeaseTTL over a queued run counts as
// orphaned; the takeover bumps the run's gen, so a claim that was merely slow
// finds nothing to do.
func (c *Engine) sweepOrphaned(ctx context.Context) error {
	rows, err := c.store.ListOrphaned(ctx, c.cfg.LeaseTTL, 100)
	if err != nil {
		return fmt.Errorf("list runs orphaned by a dead client: %w", err)
	}
	for _, r := range rows {
		err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
			if err := c.store.LockOrphaned(ctx, tx, store.RunRef{ID: r.ID, Gen: r.Gen}, c.cfg.LeaseTTL); err != nil {
				return err
			}
			// A queued run holds no slot: nothing to wake.
			return c.handOn(ctx, tx, r.ID, r.Gen, r.FunctionID, r.Slotted, false)
		})
		if errors.Is(err, pgx.ErrNoRows) {
			continue // claimed, or taken by another sweeper meanwhile
		}
		if err != nil {
			return fmt.Errorf("take over run %s orphaned by a dead client: %w", r.ID, err)
		}
		c.cfg.Logger.WarnContext(ctx, "flow: took over run whose job a dead client fetched", "run_id", r.ID)
		if c.metrics != nil {
			c.metrics.takeover(r.FunctionID, takeoverOrphaned)
		}
	}
	return nil
}

// sweepExpiredLeases hands runs whose executing client stopped renewing its
// lease (it died) to a new job, so that any client resumes them from their
// stored steps. It runs in every started client, every sweepPeriod (a second
// or LeaseTTL/2, whichever is shorter), so that a dead process's runs go on
// within about LeaseTTL plus a second of its death; soon again after a
// database error. Its statements read only running runs and running jobs,
// which are few whatever the backlog; the slot table's safety net, which
// scans more, runs every LeaseTTL/2.
func (c *Engine) sweepExpiredLeases(ctx context.Context) {
	period := sweepPeriod(c.cfg.LeaseTTL)
	backoff := leaseRetryMin
	var d time.Duration
	var lastSlots time.Time
	for {
		if d == 0 {
			d = period + time.Duration(rand.Int64N(int64(period/10)+1))
		}
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		d = 0
		slots := time.Since(lastSlots) >= c.cfg.LeaseTTL/2
		if err := c.sweepOnce(ctx, slots); err != nil && ctx.Err() == nil {
			c.cfg.Logger.WarnContext(ctx, "flow: sweep runs with lapsed leases; retrying", "error", err, "retry_in", backoff)
			d, backoff = backoff, min(backoff*2, period)
		} else {
			backoff = leaseRetryMin
			if slots {
				lastSlots = time.Now()
			}
		}
	}
}

// sweepPeriod is how often a client looks for runs of dead processes.
func sweepPeriod(leaseTTL time.Duration) time.Duration {
	return min(leaseTTL/2, time.Second)
}

func (c *Engine) sweepOnce(ctx context.Context, slots bool) error {
	if slots {
		// Concurrency slots held by runs that are not running (a claim whose
		// run changed under it).
		if err := c.freeDanglingSlots(ctx); err != nil {
			return err
		}
	}
	rows, err := c.store.ListLeaseExpired(ctx, 100)
	if err != nil {
		return err
	}
	for _, r := range rows {
		err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
			if err := c.store.LockLeaseExpired(ctx, tx, store.RunRef{ID: r.ID, Gen: r.Gen}); err != nil {
				return err
			}
			return c.handOn(ctx, tx, r.ID, r.Gen, r.FunctionID, r.Slotted, true)
		})
		if errors.Is(err, pgx.ErrNoRows) {
			continue // renewed, ended, or taken by another sweeper meanwhile
		}
		if err != nil {
			return fmt.Errorf("take over run %s: %w", r.ID, err)
		}
		c.cfg.Logger.WarnContext(ctx, "flow: took over run whose lease lapsed", "run_id", r.ID)
		if c.metrics != nil {
			c.metrics.takeover(r.FunctionID, takeoverLeaseLapsed)
		}
	}
	return c.sweepOrphaned(ctx)
}
