package engine

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow/internal/registry"
	"github.com/riverflow/flow/internal/store"
)

// Replay starts f.FunctionID for the stored events received in f's range
// that match one of its triggers, by name and If, as if each had just been
// sent: flow control applies as to a sent event. Unless f.IncludeStarted,
// it skips the events that already started a run of the function. Events
// are walked in ID order, a batch per transaction; an event whose trigger
// conditions all fail counts as skipped. The function must be registered
// (some process defined it): its triggers and flow control are read from
// the registry, so any client may replay, including the command line's.
func (c *Engine) Replay(ctx context.Context, f store.ReplayFilter, opts BulkOpts) (BulkResult, error) {
	res, err := c.replay(ctx, f, opts)
	if err != nil {
		return res, fmt.Errorf("flow: Replay %q: %w", f.FunctionID, err)
	}
	return res, nil
}

func (c *Engine) replay(ctx context.Context, f store.ReplayFilter, opts BulkOpts) (BulkResult, error) {
	var res BulkResult
	_, found, err := registry.LoadConfig(ctx, c.pool, f.FunctionID)
	if err != nil {
		return res, SchemaError(err)
	}
	if !found {
		return res, fmt.Errorf("%w: function %q is not registered (no process has defined it yet)", ErrNotFound, f.FunctionID)
	}
	if res.Total, err = c.store.CountReplayEvents(ctx, f); err != nil || opts.DryRun {
		return res, err
	}
	res.report(opts)
	batch, after := opts.batch(), nilUUID
	for {
		events, err := c.store.SelectReplayEvents(ctx, f, after, int32(batch))
		if err != nil {
			return res, err
		}
		if len(events) == 0 {
			return res, nil
		}
		var runIDs []string
		err = pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
			runIDs = runIDs[:0]
			for _, ev := range events {
				ids, err := c.replayEvent(ctx, tx, f.FunctionID, ev)
				if err != nil {
					return fmt.Errorf("event %s: %w", ev.ID, err)
				}
				runIDs = append(runIDs, ids...)
			}
			return nil
		})
		if err != nil {
			return res, err
		}
		res.Done += len(runIDs)
		res.Skipped += len(events) - len(runIDs)
		res.RunIDs = append(res.RunIDs, runIDs...)
		res.report(opts)
		if len(events) < batch {
			return res, nil
		}
		after = events[len(events)-1].ID
	}
}

// replayEvent starts fnID for one stored event in tx, through the path a
// send takes for the runs its statement leaves to Go (trigger conditions,
// then flow control), and returns the run it started (none if no trigger
// condition holds; at most one: a function starts once per event).
func (c *Engine) replayEvent(ctx context.Context, tx pgx.Tx, fnID string, ev *store.ReplayEvent) ([]string, error) {
	stored := StoredEvent{ID: ev.ID, Name: ev.Name, Data: ev.Data, TS: ev.Ts}
	if ev.DedupeID != nil {
		stored.DedupeID = *ev.DedupeID
	}
	body, err := json.Marshal(stored)
	if err != nil {
		return nil, err
	}
	fnIDs := make([]string, len(ev.Expressions))
	configs := make([]string, len(ev.Expressions))
	for i := range fnIDs {
		fnIDs[i], configs[i] = fnID, ev.Config
	}
	plan, err := c.planDeferredRuns(stored, body, fnIDs, ev.Expressions, configs)
	if err != nil {
		return nil, err
	}
	var runs []string
	if err := c.startPlannedRuns(ctx, tx, stored, plan, &runs); err != nil {
		return nil, err
	}
	return runs, nil
}
