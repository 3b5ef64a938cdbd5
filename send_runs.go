package flow

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// SentEvent is an event that SendWithRuns stored, with the runs it started.
type SentEvent struct {
	// ID is the stored event's ID, as Send returns it.
	ID string
	// RunIDs are the runs the event started, one per function it
	// triggered: new runs, runs that flow control recorded as skipped
	// (AwaitRun returns them at once), the open batch run it joined
	// (FunctionOpts.Batch) and the debounced run it postponed
	// (FunctionOpts.Debounce). Empty when it triggered no function. A
	// duplicate (an Event.ID seen in the last 24 hours) starts nothing: ID
	// and RunIDs are then the first event's, so a retried request finds the
	// runs its first attempt started (a debounced run that a later event
	// took over is that event's).
	RunIDs []string
}

// SendWithRuns is Send that also says which runs each event started, so
// that a caller can AwaitRun them without ListRuns. The run IDs come back
// from the statements that create the runs: it costs no round trip more than
// Send.
func (c *Client) SendWithRuns(ctx context.Context, events ...Event) ([]SentEvent, error) {
	var sent []SentEvent
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		var err error
		sent, err = c.sendWithRunsTx(ctx, tx, false, events)
		return err
	})
	if err != nil {
		return nil, err
	}
	return sent, nil
}

// SendWithRunsTx is SendTx that also says which runs each event started;
// they start if and only if tx commits. Its errors are SendTx's.
func (c *Client) SendWithRunsTx(ctx context.Context, tx pgx.Tx, events ...Event) ([]SentEvent, error) {
	return c.sendWithRunsTx(ctx, tx, true, events)
}

func (c *Client) sendWithRunsTx(ctx context.Context, tx pgx.Tx, savepoint bool, events []Event) ([]SentEvent, error) {
	prepared, err := prepareEvents(events, c.cfg.MaxEventBytes)
	if err != nil {
		return nil, err
	}
	ids, runs, err := c.e.SendTxWithRuns(ctx, tx, savepoint, prepared)
	if err != nil {
		return nil, err
	}
	out := make([]SentEvent, len(ids))
	for i, id := range ids {
		out[i] = SentEvent{ID: id, RunIDs: runs[i]}
		if out[i].RunIDs == nil {
			out[i].RunIDs = []string{}
		}
	}
	return out, nil
}
