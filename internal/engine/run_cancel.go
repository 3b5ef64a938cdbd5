package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// CancelRun cancels a run in its own transaction (see CancelRunTx).
func (c *Engine) CancelRun(ctx context.Context, runID string) (bool, error) {
	var ok bool
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		var err error
		ok, err = c.CancelRunTx(ctx, tx, runID)
		return err
	})
	return ok, err
}

// CancelRunTx cancels a run in tx: flow.Client.CancelRunTx's body.
func (c *Engine) CancelRunTx(ctx context.Context, tx pgx.Tx, runID string) (bool, error) {
	if !IsUUID(runID) {
		return false, fmt.Errorf("%w: %q is not a run ID", ErrNotFound, runID)
	}
	ok, err := c.cancelRun(ctx, tx, runID, "cancelled by CancelRun", nil)
	if err != nil {
		return false, fmt.Errorf("flow: cancel run %s: %w", runID, err)
	}
	if !ok {
		if _, err := c.store.GetRun(ctx, tx, runID); errors.Is(err, pgx.ErrNoRows) {
			return false, fmt.Errorf("%w: run %s", ErrNotFound, runID)
		}
	}
	return ok, nil
}
