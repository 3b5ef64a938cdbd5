package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow/internal/dbsqlc"
)

// FenceRun locks run for the rest of tx if its segment still owns it (the
// gen matches and the run is running), extending the lease; pgx.ErrNoRows
// if the segment lost it.
func (s *Store) FenceRun(ctx context.Context, tx pgx.Tx, run RunRef) error {
	_, err := s.q.RunFence(ctx, tx, &dbsqlc.RunFenceParams{LeaseTtl: s.leaseTTL, ID: run.ID, Gen: run.Gen})
	return err
}

// Suspend says how a segment pauses its run.
type Suspend struct {
	Run     RunRef
	Status  string     // the run's status while paused: sleeping, waiting or queued
	JobID   int64      // the continuation job, inserted in the same transaction
	WakeAt  *time.Time // when the waker makes the run runnable; nil: only an event or child
	Attempt int32      // the run's attempt from now on (a function retry counts one up)
}

// SuspendRun pauses a run its segment owns, in tx: the run takes the
// continuation job p.JobID (one gen on) and leaves running, which frees its
// concurrency slots. slotWaiters says whether runs wait for a slot of its
// keys (the caller wakes them after the commit). pgx.ErrNoRows: the segment
// lost the run.
func (s *Store) SuspendRun(ctx context.Context, tx pgx.Tx, p Suspend) (slotWaiters bool, err error) {
	jobID := p.JobID
	return s.q.RunSuspend(ctx, tx, &dbsqlc.RunSuspendParams{
		Status: p.Status, JobID: &jobID, WakeAt: p.WakeAt, Attempt: p.Attempt, ID: p.Run.ID, Gen: p.Run.Gen,
	})
}

// CountResolvedSteps returns how many of the steps ids of a run, found
// waiting by its segment, a sender or child run resolved meanwhile.
func (s *Store) CountResolvedSteps(ctx context.Context, tx pgx.Tx, runID string, ids []string) (int32, error) {
	return s.q.StepCountResolved(ctx, tx, &dbsqlc.StepCountResolvedParams{RunID: runID, IDs: ids})
}
