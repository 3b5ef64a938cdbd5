package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow/internal/dbsqlc"
)

// sweepOrphaned hands to a new job the runs that a client orphaned by dying
// between River's fetch of their job and its segment's claim of the run
// (queries/orphan.sql). Such a run stays queued with no lease, so the lease
// sweep never sees it, and River's rescuer would retry its job only after an
// hour. A job running longer than LeaseTTL over a queued run counts as
// orphaned; the takeover bumps the run's gen, so a claim that was merely slow
// finds nothing to do.
func (c *Engine) sweepOrphaned(ctx context.Context) error {
	rows, err := c.q.RunListOrphaned(ctx, c.pool, &dbsqlc.RunListOrphanedParams{StaleAfter: c.cfg.LeaseTTL, Max: 100})
	if err != nil {
		return fmt.Errorf("list runs orphaned by a dead client: %w", err)
	}
	for _, r := range rows {
		err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
			if _, err := c.q.RunLockOrphaned(ctx, tx, &dbsqlc.RunLockOrphanedParams{ID: r.ID, Gen: r.Gen, StaleAfter: c.cfg.LeaseTTL}); err != nil {
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
	}
	return nil
}
