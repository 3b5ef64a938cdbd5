package store

import (
	"context"
	"time"

	"github.com/riverflow/flow/internal/dbsqlc"
)

// PauseFunction pauses function id (a row in flow_function_pause). known
// reports whether the function is registered or defined (the caller's
// defined: this client defines it); an unknown one is not paused. paused
// reports whether this call paused it (false: it was paused already).
func (s *Store) PauseFunction(ctx context.Context, db DB, id string, defined bool) (known, paused bool, err error) {
	row, err := s.q.FunctionPause(ctx, db, &dbsqlc.FunctionPauseParams{ID: id, Defined: defined})
	if err != nil {
		return false, false, err
	}
	return row.Known, row.Paused, nil
}

// ResumeFunction deletes function id's pause, in tx, after waiting for the
// claims holding its runs at this moment; ResumeHeldRuns, next in tx, then
// hands every held run back. known as in PauseFunction; resumed reports
// whether the function was paused.
func (s *Store) ResumeFunction(ctx context.Context, db DB, id string, defined bool) (known, resumed bool, err error) {
	row, err := s.q.FunctionResume(ctx, db, &dbsqlc.FunctionResumeParams{ID: id, Defined: defined})
	if err != nil {
		return false, false, err
	}
	return row.Known, row.Resumed, nil
}

// ResumeHeldRuns makes the jobs of the runs that function id's pause held
// available, oldest (by order time) first, and returns how many. A run that
// needs a concurrency slot goes back in its key's line instead, with its job
// due at recheck from now, and the head of each line is woken.
func (s *Store) ResumeHeldRuns(ctx context.Context, db DB, functionID string, recheck time.Duration) (int, error) {
	row, err := s.q.RunResumeHeld(ctx, db, &dbsqlc.RunResumeHeldParams{FunctionID: functionID, Recheck: recheck})
	if err != nil {
		return 0, err
	}
	if len(row.LineRuns) > 0 {
		if err := s.q.RunResumeSlotWake(ctx, db, row.LineRuns); err != nil {
			return 0, err
		}
	}
	return int(row.Resumed), nil
}

// PausedFunctions returns the paused functions' IDs with when each was
// paused.
func (s *Store) PausedFunctions(ctx context.Context, db DB) (map[string]time.Time, error) {
	rows, err := s.q.FunctionPauseList(ctx, db)
	if err != nil {
		return nil, err
	}
	out := make(map[string]time.Time, len(rows))
	for _, r := range rows {
		out[r.FunctionID] = r.PausedAt
	}
	return out, nil
}

// FunctionPausedAt returns when function id was paused; pgx.ErrNoRows if it
// is not paused.
func (s *Store) FunctionPausedAt(ctx context.Context, db DB, id string) (time.Time, error) {
	return s.q.FunctionPausedAt(ctx, db, id)
}

// HoldParams names a run whose claim its function's pause refused.
type HoldParams struct {
	Run          RunRef
	FunctionID   string
	JobID        int64         // the run's next job, inserted pending in the same transaction
	StartTimeout time.Duration // the function's Timeouts.Start; 0: none
}

// HeldRun is a run a pause holds.
type HeldRun struct {
	Gen          int32      // the run's new generation, that of JobID
	WakeAt       *time.Time // its earliest timeout, when the waker makes its job runnable
	DeadlineAt   *time.Time // its Timeouts.Finish deadline
	NeverStarted bool
	QueuedFor    time.Duration
	Slotted      bool // the run has concurrency keys
}

// HoldPausedRun holds p.Run, in tx, while its function is paused: its job
// becomes p.JobID, one generation on, and it keeps its status and place. A
// function that is not paused (any more) or a stale job gets pgx.ErrNoRows.
func (s *Store) HoldPausedRun(ctx context.Context, db DB, p HoldParams) (HeldRun, error) {
	row, err := s.q.RunHoldPaused(ctx, db, &dbsqlc.RunHoldPausedParams{
		FunctionID: p.FunctionID, JobID: &p.JobID, StartTimeout: p.StartTimeout, ID: p.Run.ID, Gen: p.Run.Gen,
	})
	if err != nil {
		return HeldRun{}, err
	}
	return HeldRun{
		Gen: row.Gen, WakeAt: row.WakeAt, DeadlineAt: row.DeadlineAt,
		NeverStarted: row.NeverStarted, QueuedFor: row.QueuedFor, Slotted: row.Slotted,
	}, nil
}
