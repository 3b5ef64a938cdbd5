package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow/internal/store"
)

// DefaultBulkBatch is how many runs (or events) a bulk action handles in
// one transaction unless told otherwise: few enough that thousands of runs
// never sit under one transaction's locks, many enough that a batch's commit
// is a small part of its cost.
const DefaultBulkBatch = 200

// nilUUID is below every ID: where a keyset walk starts.
const nilUUID = "00000000-0000-0000-0000-000000000000"

// BulkProgress is how far a bulk action has got (flow.BulkProgress).
type BulkProgress struct {
	Total   int
	Done    int
	Skipped int
}

// BulkResult is what a bulk action did (flow.BulkResult).
type BulkResult struct {
	Total   int
	Done    int
	Skipped int
	RunIDs  []string
}

// BulkOpts are a bulk action's batch size (DefaultBulkBatch if not
// positive), its progress callback, called after each batch commits, and
// DryRun: count the selection and change nothing.
type BulkOpts struct {
	BatchSize int
	Progress  func(BulkProgress)
	DryRun    bool
}

func (o BulkOpts) batch() int {
	if o.BatchSize <= 0 {
		return DefaultBulkBatch
	}
	return o.BatchSize
}

func (r *BulkResult) report(o BulkOpts) {
	if o.Progress != nil {
		o.Progress(BulkProgress{Total: r.Total, Done: r.Done, Skipped: r.Skipped})
	}
}

// CancelRuns cancels the runs f selects that have not ended, a batch per
// transaction (flow.Client.CancelRuns's body once its filter is checked).
func (c *Engine) CancelRuns(ctx context.Context, f store.BulkFilter, opts BulkOpts) (BulkResult, error) {
	f.UnendedOnly = true
	res, err := c.bulkRuns(ctx, f, opts, func(ctx context.Context, tx pgx.Tx, r *store.BulkRun) (string, error) {
		ok, err := c.cancelRun(ctx, tx, r.ID, "cancelled by CancelRuns", nil)
		if err != nil || !ok {
			return "", err // !ok: the run ended since it was selected
		}
		return r.ID, nil
	})
	if err != nil {
		return res, fmt.Errorf("flow: CancelRuns: %w", err)
	}
	res.RunIDs = nil // the cancelled runs are the selection itself
	return res, nil
}

// RerunRuns starts a new run for each run f selects, as Rerun does (from
// fromStep if not ""), a batch per transaction. It skips a run that already
// has a newer run of its function on its event (a rerun: repeating the call
// reruns nothing twice), an Invoke step's child, and, with fromStep, a run
// that has no such step.
func (c *Engine) RerunRuns(ctx context.Context, f store.BulkFilter, fromStep string, opts BulkOpts) (BulkResult, error) {
	res, err := c.bulkRuns(ctx, f, opts, func(ctx context.Context, tx pgx.Tx, r *store.BulkRun) (string, error) {
		if r.Invoked || r.Rerun {
			return "", nil
		}
		newID, err := c.rerunTx(ctx, tx, r.ID, fromStep)
		if errors.Is(err, ErrNotFound) {
			return "", nil // no step fromStep: rerunTx has written nothing
		}
		return newID, err
	})
	if err != nil {
		return res, fmt.Errorf("flow: RerunRuns: %w", err)
	}
	return res, nil
}

// bulkRuns walks the runs f selects, up to the newest run when it begins, in
// ID order, calling handle for each in a transaction per batch. handle
// returns the ID of the run it made or changed, or "" for a run it left
// alone (skipped). A batch whose transaction fails is rolled back and ends
// the walk; the batches before it stay done.
func (c *Engine) bulkRuns(ctx context.Context, f store.BulkFilter, opts BulkOpts,
	handle func(ctx context.Context, tx pgx.Tx, r *store.BulkRun) (string, error)) (BulkResult, error) {
	var res BulkResult
	upto, err := c.store.NewestRunID(ctx)
	if err != nil {
		return res, SchemaError(err)
	}
	f.UptoID = upto
	if res.Total, err = c.store.CountBulkRuns(ctx, f); err != nil || opts.DryRun {
		return res, err
	}
	res.report(opts)
	batch, after := opts.batch(), nilUUID
	for {
		runs, err := c.store.SelectBulkRuns(ctx, f, after, int32(batch))
		if err != nil {
			return res, err
		}
		if len(runs) == 0 {
			return res, nil
		}
		var ids []string
		err = pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
			ids = ids[:0]
			for _, r := range runs {
				id, err := handle(ctx, tx, r)
				if err != nil {
					return fmt.Errorf("run %s: %w", r.ID, err)
				}
				if id != "" {
					ids = append(ids, id)
				}
			}
			return nil
		})
		if err != nil {
			return res, err
		}
		res.Done += len(ids)
		res.Skipped += len(runs) - len(ids)
		res.RunIDs = append(res.RunIDs, ids...)
		res.report(opts)
		if len(runs) < batch {
			return res, nil
		}
		after = runs[len(runs)-1].ID
	}
}
