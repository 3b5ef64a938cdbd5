package flow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverflow/flow/internal/engine"
	"github.com/riverflow/flow/internal/store"
)

// BulkFilter selects runs for CancelRuns and RerunRuns. Every field that is
// set must hold; a zero field selects everything, but a filter with no field
// set is refused, so that no mistake cancels or reruns every run there is.
type BulkFilter struct {
	// FunctionID selects the runs of one function.
	FunctionID string
	// Status selects runs in any of these statuses.
	Status []RunStatus
	// EventName selects the runs whose triggering event has this name.
	EventName string
	// EventID selects the runs an event started (and their reruns), as
	// RunFilter.EventID does.
	EventID string
	// CreatedAfter and CreatedBefore bound the runs' creation times
	// (inclusive, exclusive). Zero: no bound.
	CreatedAfter  time.Time
	CreatedBefore time.Time
	// RunIDs selects these runs only (the dashboard's selection).
	RunIDs []string
}

// CancelFilter selects runs for CancelRuns.
//
// Deprecated: Use [BulkFilter], which CancelRuns and RerunRuns take.
type CancelFilter = BulkFilter

// BulkOpts configures a bulk action (CancelRuns, RerunRuns, Replay). opts
// may be nil.
type BulkOpts struct {
	// BatchSize is how many runs (Replay: events) are handled in one
	// transaction: each batch commits on its own, so thousands of runs never
	// sit under one transaction's locks. Defaults to 200.
	BatchSize int
	// Progress, if not nil, is called (on the calling goroutine) once the
	// selection is counted and after each batch commits.
	Progress func(BulkProgress)
	// DryRun counts the selection (BulkResult.Total) and changes nothing.
	DryRun bool
}

// BulkProgress is how far a bulk action has got.
type BulkProgress struct {
	// Total is how many runs (Replay: events) the filter selected when the
	// action began.
	Total int
	// Done is how many were cancelled, rerun or replayed so far.
	Done int
	// Skipped is how many were selected but left alone: a run that ended
	// before CancelRuns reached it; for RerunRuns, a run already rerun, an
	// Invoke step's child or a run without the step to rerun from; for
	// Replay, an event no trigger condition holds for.
	Skipped int
}

// BulkResult is what a bulk action did: its final progress and, for
// RerunRuns and Replay, the IDs of the runs it started (oldest first).
type BulkResult struct {
	Total   int
	Done    int
	Skipped int
	RunIDs  []string
}

// ReplayOpts configures Replay. opts may be nil.
type ReplayOpts struct {
	BulkOpts
	// IncludeStarted also replays the events that already started a run of
	// the function (a second run for each). Defaults to false: only events
	// that never started one, such as those sent before any process had
	// registered the function.
	IncludeStarted bool
}

// CancelRuns cancels every run f selects that has not ended, as CancelRun
// does, a batch of runs per transaction (BulkOpts.BatchSize), and returns
// how many it cancelled (BulkResult.Done). Only runs that existed when it
// began are selected. It is idempotent: a run already ended is not selected
// again, so a repeated or interrupted call can simply be run again. An
// error ends it after the batches already committed.
func (c *Client) CancelRuns(ctx context.Context, f BulkFilter, opts *BulkOpts) (BulkResult, error) {
	sel, err := f.selection("CancelRuns")
	if err != nil {
		return BulkResult{}, err
	}
	res, err := c.e.CancelRuns(ctx, sel, opts.engine())
	return BulkResult(res), err
}

// RerunRuns starts a new run for every run f selects, as Rerun does (with
// fromStep not "", as RerunFrom does), a batch per transaction, and returns
// the new runs' IDs. Only runs that existed when it began are selected, so
// it never reruns its own reruns. It skips a run that already has a newer
// run of its function on the same event (a rerun or a replay), so that a
// repeated or interrupted call reruns nothing twice; an Invoke step's child
// (rerun its parent instead); and, with fromStep, a run without that step.
// Flow control applies to the new runs as to Rerun's.
func (c *Client) RerunRuns(ctx context.Context, f BulkFilter, fromStep string, opts *BulkOpts) (BulkResult, error) {
	sel, err := f.selection("RerunRuns")
	if err != nil {
		return BulkResult{}, err
	}
	res, err := c.e.RerunRuns(ctx, sel, fromStep, opts.engine())
	return BulkResult(res), err
}

// Replay starts function fnID for the stored events received in
// [from, to) that match one of its triggers, by name and If, as if each had
// just been sent: flow control applies as to a sent event (a rate limit may
// skip runs, a batch gathers them). Unless opts.IncludeStarted, events that
// already started a run of the function are skipped (and not counted), so
// a repeated Replay starts nothing twice. It answers a deploy hazard: an
// event sent before any process had registered a new function started no
// run of it; replay the time since the event to start them (docs/replay.md).
//
// The function must be registered (some process has defined it): its
// triggers and flow control are read from the database, so a client that
// does not define it may replay it. An unknown function is ErrNotFound.
// Zero to means now.
func (c *Client) Replay(ctx context.Context, fnID string, from, to time.Time, opts *ReplayOpts) (BulkResult, error) {
	if fnID == "" {
		return BulkResult{}, errors.New("flow: Replay: empty function ID")
	}
	if err := checkFilterText("Replay", "function ID", fnID); err != nil {
		return BulkResult{}, err
	}
	if to.IsZero() {
		to = time.Now()
	}
	if !from.Before(to) {
		return BulkResult{}, fmt.Errorf("flow: Replay: from %s is not before to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	var o ReplayOpts
	if opts != nil {
		o = *opts
	}
	res, err := c.e.Replay(ctx, store.ReplayFilter{
		FunctionID: fnID, ReceivedAfter: from, ReceivedBefore: to, IncludeStarted: o.IncludeStarted,
	}, o.BulkOpts.engine())
	return BulkResult(res), err
}

func (o *BulkOpts) engine() engine.BulkOpts {
	if o == nil {
		return engine.BulkOpts{}
	}
	out := engine.BulkOpts{BatchSize: o.BatchSize, DryRun: o.DryRun}
	if o.Progress != nil {
		progress := o.Progress
		out.Progress = func(p engine.BulkProgress) { progress(BulkProgress(p)) }
	}
	return out
}

// selection checks f for op and converts it for the engine.
func (f BulkFilter) selection(op string) (store.BulkFilter, error) {
	if f.FunctionID == "" && f.EventName == "" && f.EventID == "" && len(f.Status) == 0 && len(f.RunIDs) == 0 &&
		f.CreatedAfter.IsZero() && f.CreatedBefore.IsZero() {
		return store.BulkFilter{}, fmt.Errorf("flow: %s: empty filter: name a function, an event, statuses, a time range or runs", op)
	}
	if err := checkFilterText(op, "FunctionID", f.FunctionID); err != nil {
		return store.BulkFilter{}, err
	}
	if err := checkFilterText(op, "EventName", f.EventName); err != nil {
		return store.BulkFilter{}, err
	}
	if f.EventID != "" && !engine.IsUUID(f.EventID) {
		return store.BulkFilter{}, fmt.Errorf("flow: %s: EventID %q is not an event ID", op, f.EventID)
	}
	sel := store.BulkFilter{
		FunctionID: optString(f.FunctionID), EventName: optString(f.EventName), EventID: optString(f.EventID),
		CreatedAfter: optTime(f.CreatedAfter), CreatedBefore: optTime(f.CreatedBefore),
	}
	for _, s := range f.Status {
		if err := checkFilterText(op, "Status", string(s)); err != nil {
			return store.BulkFilter{}, err
		}
		sel.Statuses = append(sel.Statuses, string(s))
	}
	for _, id := range f.RunIDs {
		if !engine.IsUUID(id) {
			return store.BulkFilter{}, fmt.Errorf("flow: %s: RunIDs: %q is not a run ID", op, id)
		}
		sel.IDs = append(sel.IDs, id)
	}
	return sel, nil
}
