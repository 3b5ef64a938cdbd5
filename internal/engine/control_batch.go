package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow/internal/registry"
	"github.com/riverflow/flow/internal/store"
)

// Batches (FunctionOpts.Batch): an open batch is a queued run with a
// batch_key whose start is still scheduled (wake_at set). Events join it
// (flow_run_event) until it is full, which makes it runnable at once, or
// until the waker closes it at its timeout; a unique index allows one open
// batch per key, so racing senders join the same one.

// joinBatch adds the event to the open batch of its key, or opens one: a
// run that starts when MaxSize events have joined, or Timeout after the
// first. It returns the batch's run.
func (c *Engine) joinBatch(ctx context.Context, tx pgx.Tx, fnID string, ctl *registry.Control, keys *runKeys, ev StoredEvent) (string, error) {
	b := ctl.Batch
	key := keys.batch
	for range 8 {
		if b.MaxSize > 1 {
			joined, err := c.store.AppendToBatch(ctx, tx, key, ev.ID, int32(b.MaxSize))
			if err == nil {
				return joined.ID, nil
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return "", fmt.Errorf("batch: %w", err)
			}
		}
		params := &store.ControlledRun{
			ID: NewID(), FunctionID: fnID, EventID: ev.ID, Queue: c.cfg.Queue,
			BatchKey: &key, BatchSize: ptrInt32(1),
			// The batch's run is in the trace of the event that opened it.
			TraceParent: traceParentOf(ctx),
		}
		if b.MaxSize > 1 {
			params.Delay = b.Timeout
		}
		keys.setConcurrency(params)
		created, err := c.insertControlledRun(ctx, tx, params)
		if err != nil {
			return "", fmt.Errorf("batch: start run: %w", err)
		}
		if created {
			return params.ID, nil
		}
		// Another sender opened the key's batch meanwhile: join it.
	}
	return "", fmt.Errorf("batch of %q: could not join or open a batch", fnID)
}

// batchEvents loads the events of a batch run, in arrival order.
func (c *Engine) batchEvents(ctx context.Context, runID string) ([]StoredEvent, error) {
	rows, err := c.store.BatchEvents(ctx, runID)
	if err != nil {
		return nil, fmt.Errorf("flow: load the batch of run %s: %w", runID, err)
	}
	out := make([]StoredEvent, len(rows))
	for i, r := range rows {
		out[i] = StoredEvent{ID: r.ID, Name: r.Name, Data: r.Data, TS: r.Ts}
		if r.DedupeID != nil {
			out[i].DedupeID = *r.DedupeID
		}
	}
	return out, nil
}
