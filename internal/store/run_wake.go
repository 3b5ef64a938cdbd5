package store

import (
	"context"
	"time"

	"github.com/riverflow/flow/internal/dbsqlc"
)

// OpenRun is a run that has not ended, locked by LockOpenRun.
type OpenRun struct {
	ID     string
	Status string
	JobID  *int64
}

// LockOpenRun locks a run that has not ended for the rest of db's
// transaction, for a sender or a finishing child run that resolves one of
// its waiting steps; pgx.ErrNoRows if the run ended.
func (s *Store) LockOpenRun(ctx context.Context, db DB, runID string) (OpenRun, error) {
	row, err := s.q.RunLockOpen(ctx, db, runID)
	if err != nil {
		return OpenRun{}, err
	}
	return OpenRun(*row), nil
}

// WakeRun makes a sleeping or waiting run's continuation job available now,
// in db; River's producers are woken at commit.
func (s *Store) WakeRun(ctx context.Context, db DB, runID string) error {
	return s.q.RunWake(ctx, db, runID)
}

// WokenRuns is what one WakeDueRuns statement did.
type WokenRuns struct {
	Woken    int32 // runs made runnable
	Notified int32 // queues whose producers were notified
	// FunctionIDs and Late are, for each woken run, its function and how
	// late it was woken (seconds past its wake time), for the metrics.
	FunctionIDs []string
	Late        []float64
}

// WakeDueRuns wakes up to max suspended runs whose wake time has passed.
func (s *Store) WakeDueRuns(ctx context.Context, max int32) (WokenRuns, error) {
	row, err := s.q.RunWakeDue(ctx, s.pool, max)
	if err != nil {
		return WokenRuns{}, err
	}
	return WokenRuns{Woken: row.Woken, Notified: row.Notified, FunctionIDs: row.FunctionIds, Late: row.Late}, nil
}

// NextWake returns the earliest wake time of a suspended run;
// pgx.ErrNoRows if no run has one.
func (s *Store) NextWake(ctx context.Context) (*time.Time, error) {
	return s.q.RunNextWake(ctx, s.pool)
}

// SetRunJobs records the River jobs (jobIDs, in the order of runIDs) of
// runs that start at wakeAt (an event with a future ts), in db, so that the
// waker makes them runnable on time.
func (s *Store) SetRunJobs(ctx context.Context, db DB, runIDs []string, jobIDs []int64, wakeAt *time.Time) error {
	return s.q.RunSetJobs(ctx, db, &dbsqlc.RunSetJobsParams{WakeAt: wakeAt, IDs: runIDs, JobIds: jobIDs})
}
