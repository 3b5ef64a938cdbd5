package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/riverflow/flow/internal/dberr"
	"github.com/riverflow/flow/internal/store"
)

// saveOutcome says what became of a step row a segment wrote (the store's
// SaveOutcome).
type saveOutcome = store.SaveOutcome

const (
	saveStored  = store.SaveStored
	saveLost    = store.SaveLost    // the segment no longer owns the run: nothing stored
	saveRefused = store.SaveRefused // the step already has a final row, left as it is
)

// errStepFinal is the cause of a write that would have replaced a step's
// final row (completed, failed, timed_out): a stored result never changes.
var errStepFinal = store.ErrStepFinal

// storeStep stores a step row if the segment still owns the run. err is the
// database's error, for the caller to classify.
func (s *Segment) storeStep(r stepRecord) (saveOutcome, error) {
	ctx := context.WithoutCancel(s.ctx)
	if s.hasDeferred() {
		err := pgx.BeginFunc(ctx, s.c.pool, func(tx pgx.Tx) error {
			if err := s.fence(ctx, tx); err != nil {
				return err
			}
			return s.saveTx(ctx, tx, r)
		})
		var final *stepFinalError
		switch {
		case errors.Is(err, errLost):
			return saveLost, nil
		case errors.As(err, &final) && final.stepID == r.id:
			return saveRefused, nil
		}
		return saveStored, err // a deferred row refused is an error
	}
	out, err := s.c.store.SaveStep(ctx, store.RunRef{ID: s.run.ID, Gen: s.run.Gen}, store.StepRecord{
		ID: r.id, Seq: r.seq, Kind: r.kind, Status: r.status, Attempts: r.attempts, Output: r.output,
		Error: r.err, WakeAt: r.wakeAt, Detail: r.detail, StartedAt: r.startedAt, EndedAt: r.endedAt,
	})
	if out == store.SavePaused {
		s.stopForPause() // stored; the run stops before its next step
		out = saveStored
	}
	return out, err
}

// saveFenced stores a step row if the segment still owns the run. It
// returns errSuspended when the run was lost, the database was unreachable
// (an interruption: River retries the segment), or the step already had a
// final row (the run fails: see errStepFinal). A permanent database error
// (see dberr.IsPermanent) it returns as is, for the caller to fail the step
// with.
func (s *Segment) saveFenced(r stepRecord) error {
	out, err := s.storeStep(r)
	switch {
	case err != nil:
		err = storeError(s.run.ID, r.id, err)
		if dberr.IsPermanent(err) {
			return err
		}
		return s.markLostOrInterrupted(r.id, err)
	case out == saveLost:
		s.mu.Lock()
		s.lost = true
		s.mu.Unlock()
		return errSuspended
	case out == saveRefused:
		return s.markLostOrInterrupted(r.id, s.finalError(r.id))
	}
	return nil
}

// mustSave is saveFenced for rows the library makes up (not a step's
// result): a permanent database error fails the run.
func (s *Segment) mustSave(r stepRecord) error {
	err := s.saveFenced(r)
	if err != nil && !IsSuspend(err) {
		return s.markLostOrInterrupted(r.id, err)
	}
	return err
}

// stepFinalError says that a write to a step would have replaced its final
// row; it matches errStepFinal.
type stepFinalError struct{ runID, stepID string }

func (e *stepFinalError) Error() string {
	return fmt.Sprintf("%v: step %q of run %s", errStepFinal, e.stepID, e.runID)
}

func (e *stepFinalError) Is(target error) bool { return target == errStepFinal }

// finalError says that a write to step id would have replaced its final row.
func (s *Segment) finalError(id string) error {
	return &stepFinalError{runID: s.run.ID, stepID: id}
}

// storeError wraps a database error met storing step id, with the
// database's detail, which says what it refused.
func storeError(runID, id string, err error) error {
	return dberr.WithDetail(fmt.Errorf("flow: store step %q of run %s: %w", id, runID, err))
}

func (s *Segment) saveTx(ctx context.Context, tx pgx.Tx, r stepRecord) error {
	err := s.c.store.SaveStepTx(ctx, tx, s.run.ID, store.StepRecord{
		ID: r.id, Seq: r.seq, Kind: r.kind, Status: r.status, Attempts: r.attempts, Output: r.output,
		Error: r.err, WakeAt: r.wakeAt, Detail: r.detail, StartedAt: r.startedAt, EndedAt: r.endedAt,
	})
	switch {
	case errors.Is(err, store.ErrStepFinal):
		return s.finalError(r.id)
	case err != nil:
		return storeError(s.run.ID, r.id, err)
	}
	return nil
}

// fence locks the run for the rest of tx if the segment still owns it, and
// stores the deferred step records with tx.
func (s *Segment) fence(ctx context.Context, tx pgx.Tx) error {
	err := s.c.store.FenceRun(ctx, tx, store.RunRef{ID: s.run.ID, Gen: s.run.Gen})
	if errors.Is(err, pgx.ErrNoRows) {
		return errLost
	}
	if err != nil {
		return err
	}
	return s.flushDeferred(ctx, tx)
}

// deferSave records a step outcome that replays can recompute (a sleep whose
// time has passed), to be stored with the segment's next write instead of in
// a commit of its own.
func (s *Segment) deferSave(r stepRecord) {
	s.mu.Lock()
	s.deferred = append(s.deferred, r)
	s.mu.Unlock()
}

func (s *Segment) hasDeferred() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.deferred) > 0
}

// flushDeferred stores the deferred step records in tx.
func (s *Segment) flushDeferred(ctx context.Context, tx pgx.Tx) error {
	s.mu.Lock()
	recs := s.deferred
	s.deferred = nil
	s.mu.Unlock()
	for _, r := range recs {
		if err := s.saveTx(ctx, tx, r); err != nil {
			return err
		}
	}
	return nil
}

// markLostOrInterrupted records why a step's transaction failed, and
// returns errSuspended: the run was lost; a write would have replaced a
// final step row, or the database refused a statement for good (the run
// fails, loudly, rather than loop); or the database was out of reach (an
// interruption: River retries the segment, and the run's lease hands it on
// if this process is gone).
func (s *Segment) markLostOrInterrupted(stepID string, err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case errors.Is(err, errLost):
		s.lost = true
	case errors.Is(err, errStepFinal), dberr.IsPermanent(err):
		if s.failErr == nil {
			s.failErr = dberr.WithDetail(err)
		}
		s.c.cfg.Logger.ErrorContext(context.WithoutCancel(s.ctx), "flow: run fails: a step could not be stored",
			"run_id", s.run.ID, "step_id", stepID, "error", err)
	default:
		if s.interrupted == nil {
			s.interrupted = fmt.Errorf("flow: store step %q of run %s: %w", stepID, s.run.ID, err)
		}
	}
	return errSuspended
}
