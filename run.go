package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow/internal/dberr"
	"github.com/riverflow/flow/internal/engine"
	"github.com/riverflow/flow/internal/store"
)

// RunStatus is where a run stands.
type RunStatus string

const (
	// RunQueued: waiting for a worker (to start, to resume after a wake-up,
	// or to retry the function after a failure).
	RunQueued RunStatus = "queued"
	// RunRunning: a segment is executing in some process.
	RunRunning RunStatus = "running"
	// RunSleeping: suspended until a time (Sleep, or a step's retry backoff
	// alongside a sleep).
	RunSleeping RunStatus = "sleeping"
	// RunWaiting: suspended until an event (WaitForEvent) or a child run
	// (Invoke) arrives, or its timeout.
	RunWaiting RunStatus = "waiting"
	// RunCompleted: the function returned; Output holds its result.
	RunCompleted RunStatus = "completed"
	// RunFailed: the function failed for good; Error says why.
	RunFailed RunStatus = "failed"
	// RunCancelled: the run was cancelled.
	RunCancelled RunStatus = "cancelled"
	// RunSkipped: flow control started no run for the event (a rate limit,
	// an idempotency key already used, a singleton run in progress); Error
	// says why.
	RunSkipped RunStatus = "skipped"
)

// Ended reports whether the status is final.
func (s RunStatus) Ended() bool {
	return s == RunCompleted || s == RunFailed || s == RunCancelled || s == RunSkipped
}

// Run is a function run as stored.
type Run struct {
	ID         string
	FunctionID string
	// EventID is the event that started the run.
	EventID string
	// EventName is the name of that event ("" if the event is gone).
	// ListRuns fills it; GetRun and AwaitRun do not.
	EventName string
	Status    RunStatus
	// Output is the function's result as JSON, once completed.
	Output json.RawMessage
	// Error is why the run failed, was cancelled or was skipped.
	Error string
	// Attempt counts failed attempts of the function's code outside steps.
	Attempt int
	// WakeAt is when a suspended run is due to resume on its own.
	WakeAt *time.Time
	// ParentRunID is the run that invoked this one, if any.
	ParentRunID string
	// Paused reports whether the run is held by its function's pause (see
	// Client.PauseFunction): it keeps its Status (queued, sleeping,
	// waiting) and goes on when the function is resumed.
	Paused    bool
	CreatedAt time.Time
	StartedAt *time.Time
	EndedAt   *time.Time
	// RerunOf is the run this one reran (Rerun, RerunFrom), if any; GetRun
	// fills it, ListRuns does not.
	RerunOf string
	// RerunFromStep is the step RerunFrom re-executed from ("" for a rerun
	// from the top).
	RerunFromStep string
	// CancelledByEvent is the event whose CancelOn match cancelled the run,
	// if one did; GetRun fills it.
	CancelledByEvent string
	// Steps are the run's steps in the order they first ran. GetRun and
	// AwaitRun fill them; ListRuns does not.
	Steps []RunStep

	// more marks the last run of a page from ListRuns that older runs
	// follow (RunList.Next).
	more bool
}

// DecodeOutput decodes the run's output into v.
func (r *Run) DecodeOutput(v any) error {
	if len(r.Output) == 0 {
		return fmt.Errorf("flow: run %s has no output (status %s)", r.ID, r.Status)
	}
	return json.Unmarshal(r.Output, v)
}

// RunStep is one step of a run.
type RunStep struct {
	// ID is the step's ID, with ":n" for the nth repeat of an ID.
	ID string
	// Kind is run, sleep, wait, send, invoke or publish.
	Kind string
	// Status is completed, failed, errored (an attempt failed; a retry is
	// due at WakeAt), sleeping, waiting, or timed_out.
	Status   string
	Attempts int
	// Output is the step's result as JSON; for a failed step, the value its
	// function returned with its last error (empty if none was stored).
	Output json.RawMessage
	Error  string
	// WakeAt is the end of a sleep, the timeout of a wait or invoke, or the
	// time of the next retry.
	WakeAt *time.Time
	// Detail describes what a wait or invoke waits for, as JSON.
	Detail    json.RawMessage
	StartedAt time.Time
	EndedAt   *time.Time
	// FailedAttempts are the step's failed attempts, oldest first: each
	// retried attempt and, for a step that failed for good, its last. A
	// step that succeeded at its first attempt has none.
	FailedAttempts []StepAttempt
	// EventID is, for a wait step, the ID of the event that resumed it
	// ("" while it waits, or if it timed out).
	EventID string
}

// StepAttempt is one failed attempt of a step.
type StepAttempt struct {
	// Attempt counts from 1.
	Attempt   int
	StartedAt time.Time
	EndedAt   time.Time
	Error     string
}

// Duration is how long the attempt took.
func (a StepAttempt) Duration() time.Duration { return a.EndedAt.Sub(a.StartedAt) }

func runFromRow(r *store.Run) *Run {
	out := &Run{
		ID: r.ID, FunctionID: r.FunctionID, EventID: r.EventID, Status: RunStatus(r.Status),
		Output: r.Output, Attempt: int(r.Attempt), WakeAt: r.WakeAt,
		CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, EndedAt: r.EndedAt,
	}
	if r.Error != nil {
		out.Error = *r.Error
	}
	if r.ParentRunID != nil {
		out.ParentRunID = *r.ParentRunID
	}
	out.Paused = r.PausedAt != nil && !out.Status.Ended()
	return out
}

// GetRun returns a run with its steps, or ErrNotFound.
func (c *Client) GetRun(ctx context.Context, runID string) (*Run, error) {
	if !engine.IsUUID(runID) {
		return nil, fmt.Errorf("%w: %q is not a run ID", ErrNotFound, runID)
	}
	row, err := c.store.GetRun(ctx, c.pool, runID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: run %s", ErrNotFound, runID)
	}
	if err != nil {
		return nil, fmt.Errorf("flow: get run %s: %w", runID, c.schemaError(ctx, engine.SchemaError(err)))
	}
	run := runFromRow(row)
	steps, err := c.store.ListSteps(ctx, runID)
	if err != nil {
		return nil, fmt.Errorf("flow: get steps of run %s: %w", runID, err)
	}
	run.Steps = make([]RunStep, len(steps))
	for i, st := range steps {
		rs := RunStep{ID: st.ID, Kind: st.Kind, Status: st.Status, Attempts: int(st.Attempts), Output: st.Output,
			WakeAt: st.WakeAt, Detail: st.Detail, StartedAt: st.StartedAt, EndedAt: st.EndedAt}
		if st.Error != nil {
			rs.Error = *st.Error
		}
		run.Steps[i] = rs
	}
	if err := c.fillRunHistory(ctx, run); err != nil {
		return nil, fmt.Errorf("flow: get history of run %s: %w", runID, err)
	}
	return run, nil
}

// RunFilter selects runs for ListRuns. Zero fields select everything.
type RunFilter struct {
	FunctionID string
	// EventID selects the runs an event started (and their reruns).
	EventID string
	// Status selects runs in any of these statuses.
	Status []RunStatus
	// CreatedAfter and CreatedBefore bound the runs' creation times
	// (inclusive, exclusive). Zero: no bound.
	CreatedAfter  time.Time
	CreatedBefore time.Time
	// Before pages backwards: only runs created before the run with this ID
	// (pass RunList.Next of the previous page, or the last ID it holds).
	Before string
	// Limit caps the number of runs returned. Defaults to 100.
	Limit int
	// OmitOutput leaves the runs' outputs out (their Output stays nil): a
	// list that shows none need not read them, and outputs may be large.
	OmitOutput bool
}

// RunList is a page of runs from ListRuns, newest first.
type RunList []*Run

// Next returns the cursor of the next (older) page, for RunFilter.Before:
// the ID of the page's last run when ListRuns found more runs after it, or
// "" on the last page. It reads the page as ListRuns returned it (or a page
// appended to earlier ones); a re-sliced or reordered list says "".
func (l RunList) Next() string {
	if len(l) == 0 || !l[len(l)-1].more {
		return ""
	}
	return l[len(l)-1].ID
}

// ListRuns returns a page of runs, newest first, without their steps, with
// the names of their triggering events; RunList.Next says whether an older
// page follows. ListRuns is the one listing of runs: the dashboard and the
// command line page through it.
func (c *Client) ListRuns(ctx context.Context, f RunFilter) (RunList, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	// One row more than the page tells whether another page follows.
	limit = min(limit, math.MaxInt32-1)
	params := store.RunListFilter{
		WithOutput: !f.OmitOutput, FunctionID: optString(f.FunctionID), EventID: optString(f.EventID), Statuses: []string{},
		CreatedAfter: optTime(f.CreatedAfter), CreatedBefore: optTime(f.CreatedBefore),
		BeforeID: optString(f.Before), Max: int32(limit + 1),
	}
	if !f.CreatedAfter.IsZero() {
		params.MinID = minIDAt(f.CreatedAfter.Add(-runIDSlack))
	}
	for _, s := range f.Status {
		params.Statuses = append(params.Statuses, string(s))
	}
	rows, err := c.store.ListRuns(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("flow: list runs: %w", c.schemaError(ctx, engine.SchemaError(err)))
	}
	out := make(RunList, 0, min(len(rows), limit))
	for i, r := range rows {
		if i == limit {
			out[limit-1].more = true
			break
		}
		run := runFromRow(&store.Run{
			ID: r.ID, FunctionID: r.FunctionID, EventID: r.EventID, Status: r.Status, Attempt: r.Attempt,
			WakeAt: r.WakeAt, ParentRunID: r.ParentRunID, Output: r.Output, Error: r.Error,
			CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, EndedAt: r.EndedAt, PausedAt: r.PausedAt,
		})
		run.EventName = r.EventName
		out = append(out, run)
	}
	return out, nil
}

// AwaitRun blocks until the run has ended (completed, failed or cancelled)
// or ctx is done, and returns it with its steps. A started client is told of
// the end at once (LISTEN/NOTIFY); otherwise AwaitRun polls.
//
// A transient database error (a lost connection, a restarting server) does
// not end the wait: AwaitRun looks again, with a short backoff, until ctx is
// done. A run that does not exist (ErrNotFound) or any other error returns
// at once.
func (c *Client) AwaitRun(ctx context.Context, runID string) (*Run, error) {
	wait, cancel := c.e.SubscribeRunDone(runID)
	defer cancel()
	delay := 10 * time.Millisecond
	var lastErr error
	for {
		run, err := c.GetRun(ctx, runID)
		switch {
		case err == nil && run.Status.Ended():
			return run, nil
		case err != nil && (ctx.Err() != nil || !dberr.IsTransient(err)):
			return nil, err
		}
		lastErr = err
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			if lastErr != nil {
				return nil, fmt.Errorf("flow: await run %s: %w (last database error: %v)", runID, ctx.Err(), lastErr)
			}
			return nil, fmt.Errorf("flow: await run %s: %w", runID, ctx.Err())
		case <-wait:
		case <-timer.C:
		}
		timer.Stop()
		delay = min(delay*2, time.Second)
	}
}
