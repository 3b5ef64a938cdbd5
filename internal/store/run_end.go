package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow/internal/dbsqlc"
)

// ErrLost says that a segment no longer owns its run (another job took it
// over, or it ended): FinishRun stored nothing.
var ErrLost = errors.New("flow: segment lost its run")

// runCompleted is flow_run.status of a run that returned.
const runCompleted = "completed"

// Finish says how a segment ends its run.
type Finish struct {
	Run    RunRef
	Status string // completed, failed or cancelled
	Output []byte
	Error  *string
	// MayBeQuiet says the run may end in one statement: it completed, has no
	// parent run and the segment has no step rows left to store with the end.
	MayBeQuiet bool
}

// EndedRun is what ending a run found.
type EndedRun struct {
	// Quiet says the run ended in one statement, without a transaction:
	// no parent to resume, no listener of its end, nothing else to do.
	Quiet bool
	// SlotWaiters (quiet path) says runs wait for a slot of the run's keys.
	SlotWaiters bool

	ParentRunID, ParentStepID *string // the Invoke step of a parent run to resolve
	FinishedListened          bool    // a function listens for flow/function.finished

	// CancelRun's row: the run's River job, whether it held slots, and what
	// its end event names.
	JobID      *int64
	Slotted    bool
	FunctionID string
	EventID    string
}

// FinishRun ends a run its segment owns. With p.MayBeQuiet and a completed
// run it first tries the one-statement path (RunCompleteQuiet), which
// returns at once when nothing else is to be done. Otherwise, or when that
// path finds a listener of the run's end, it opens a transaction, ends the
// run (RunFinish), calls then (if not nil) with the transaction and what the
// end found, for the caller's writes of the same end (deferred step rows,
// the parent's Invoke step, the system events), and commits.
//
// ErrLost: the segment lost the run and nothing was stored. An error of then
// rolls the end back and is returned as is.
func (s *Store) FinishRun(ctx context.Context, p Finish, then func(ctx context.Context, tx pgx.Tx, e EndedRun) error) (EndedRun, error) {
	if p.MayBeQuiet && p.Status == runCompleted {
		waiters, err := s.q.RunCompleteQuiet(ctx, s.pool, &dbsqlc.RunCompleteQuietParams{Output: p.Output, ID: p.Run.ID, Gen: p.Run.Gen})
		if err == nil {
			return EndedRun{Quiet: true, SlotWaiters: waiters}, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return EndedRun{}, err
		}
	}
	var ended EndedRun
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		row, err := s.q.RunFinish(ctx, tx, &dbsqlc.RunFinishParams{
			Status: p.Status, Output: p.Output, Error: p.Error, ID: p.Run.ID, Gen: p.Run.Gen,
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrLost
		}
		if err != nil {
			return err
		}
		ended = EndedRun{ParentRunID: row.ParentRunID, ParentStepID: row.ParentStepID, FinishedListened: row.FinishedListened}
		if then == nil {
			return nil
		}
		return then(ctx, tx, ended)
	})
	if err != nil {
		return EndedRun{}, err
	}
	return ended, nil
}

// CancelRun cancels a run that has not ended, in tx, with reason as its
// error; the run's concurrency slots are freed with it. The caller cancels
// the run's River job, wakes the slot waiters, resolves the parent's Invoke
// step and sends the end events in the same tx. pgx.ErrNoRows: the run had
// ended already.
func (s *Store) CancelRun(ctx context.Context, tx pgx.Tx, runID, reason string) (EndedRun, error) {
	row, err := s.q.RunCancel(ctx, tx, &dbsqlc.RunCancelParams{Reason: &reason, ID: runID})
	if err != nil {
		return EndedRun{}, err
	}
	return EndedRun{
		ParentRunID: row.ParentRunID, ParentStepID: row.ParentStepID,
		JobID: row.JobID, Slotted: row.Slotted, FunctionID: row.FunctionID, EventID: row.EventID,
	}, nil
}
