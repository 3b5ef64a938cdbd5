package flow

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// CancelRun cancels a run that has not ended, in its own transaction. A
// sleeping or waiting run ends at once; a run executing a step has that
// step's context cancelled promptly (River signals the process running it)
// and nothing the step returns afterwards is stored. Cancelling an ended run
// does nothing and returns false; an unknown run is ErrNotFound.
func (c *Client) CancelRun(ctx context.Context, runID string) (bool, error) {
	var ok bool
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		var err error
		ok, err = c.CancelRunTx(ctx, tx, runID)
		return err
	})
	return ok, err
}

// CancelRunTx is CancelRun inside the caller's transaction: the run is
// cancelled if and only if the transaction commits. On error, roll back.
func (c *Client) CancelRunTx(ctx context.Context, tx pgx.Tx, runID string) (bool, error) {
	return c.e.CancelRunTx(ctx, tx, runID)
}
