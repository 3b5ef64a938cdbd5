package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow/internal/dbsqlc"
)

// Step is a stored step row of a run (flow_step).
type Step struct {
	RunID     string
	ID        string
	Seq       int32
	Kind      string
	Status    string
	Attempts  int32
	Output    []byte
	Error     *string
	WakeAt    *time.Time
	Detail    []byte
	StartedAt time.Time
	EndedAt   *time.Time
}

// StepRecord is a step row to store for a run.
type StepRecord struct {
	ID        string
	Seq       int32
	Kind      string
	Status    string
	Attempts  int32
	Output    []byte
	Error     *string
	WakeAt    *time.Time
	Detail    []byte
	StartedAt time.Time
	EndedAt   *time.Time
}

// SaveOutcome says what became of a step row a segment wrote.
type SaveOutcome int

// The outcomes of SaveStep.
const (
	SaveStored  SaveOutcome = iota // the row is stored
	SaveLost                       // the segment no longer owns the run: nothing stored
	SaveRefused                    // the step already has a final row, left as it is
	SavePaused                     // the row is stored, and the run's function is paused: stop at this step boundary
)

// ErrStepFinal is the cause of a write that would have replaced a step's
// final row (completed, failed, timed_out): a stored result never changes.
var ErrStepFinal = errors.New("flow: refusing to replace a step's final stored result")

// stepCompleted is flow_step.status of a step that returned.
const stepCompleted = "completed"

// ListSteps returns the step rows of a run, in seq order. The
// rows are the query's own, so loading a run's steps costs one slice more
// than the query does, and nothing per step.
func (s *Store) ListSteps(ctx context.Context, runID string) ([]*Step, error) {
	return s.ListStepsOn(ctx, s.pool, runID)
}

// EachStep calls add with each step row of a run, in seq order, and n, the
// number of rows (to size what the caller fills). It is ListSteps without
// the slice of rows it returns: a resumed segment loads its steps with it.
func (s *Store) EachStep(ctx context.Context, runID string, add func(n int, st *Step)) error {
	rows, err := s.q.StepListByRun(ctx, s.pool, runID)
	if err != nil {
		return err
	}
	for _, r := range rows {
		add(len(rows), (*Step)(r))
	}
	return nil
}

// GetStep returns step id of a run, read on db; pgx.ErrNoRows if there is
// none.
func (s *Store) GetStep(ctx context.Context, db DB, runID, id string) (*Step, error) {
	row, err := s.q.StepGet(ctx, db, &dbsqlc.StepGetParams{RunID: runID, ID: id})
	if err != nil {
		return nil, err
	}
	return (*Step)(row), nil
}

// SaveStep stores a step row of run if its segment still owns the run,
// extending the run's lease. A plain completed step (no error, wake time or
// detail, an end time) goes through the group commit, which stores the
// steps that complete meanwhile in one statement (see SaveCompletedSteps);
// any other row through a statement of its own. Either way SaveStep returns
// once the row has committed, or was lost or refused. err is the database's,
// for the caller to classify (see internal/dberr).
func (s *Store) SaveStep(ctx context.Context, run RunRef, r StepRecord) (SaveOutcome, error) {
	if r.Status == stepCompleted && r.Error == nil && r.WakeAt == nil && r.Detail == nil && r.EndedAt != nil {
		return s.batch.save(run, r)
	}
	row, err := s.q.StepSaveFenced(ctx, s.pool, &dbsqlc.StepSaveFencedParams{
		LeaseTtl: s.leaseTTL, RunID: run.ID, Gen: run.Gen,
		ID: r.ID, Seq: r.Seq, Kind: r.Kind, Status: r.Status, Attempts: r.Attempts, Output: r.Output,
		Error: r.Error, WakeAt: r.WakeAt, Detail: r.Detail, StartedAt: r.StartedAt, EndedAt: r.EndedAt,
	})
	switch {
	case err != nil:
		return SaveStored, err
	case !row.Owned:
		return SaveLost, nil
	case !row.Saved:
		return SaveRefused, nil
	case row.Paused:
		return SavePaused, nil
	}
	return SaveStored, nil
}

// SaveStepTx stores a step row of a run in tx, which the caller has fenced
// (see FenceRun). A row that would replace the step's final row is left as
// it is, and SaveStepTx returns ErrStepFinal.
func (s *Store) SaveStepTx(ctx context.Context, tx pgx.Tx, runID string, r StepRecord) error {
	n, err := s.q.StepSave(ctx, tx, &dbsqlc.StepSaveParams{
		RunID: runID, ID: r.ID, Seq: r.Seq, Kind: r.Kind, Status: r.Status, Attempts: r.Attempts,
		Output: r.Output, Error: r.Error, WakeAt: r.WakeAt, Detail: r.Detail, StartedAt: r.StartedAt, EndedAt: r.EndedAt,
	})
	switch {
	case err != nil:
		return err
	case n == 0:
		return ErrStepFinal
	}
	return nil
}

// ResolveStep gives a waiting step (an event wait, an invoke) of a run its
// final status and result, in tx. It reports whether the step was waiting;
// a step resolved before is left as it is.
func (s *Store) ResolveStep(ctx context.Context, tx pgx.Tx, runID, stepID, status string, output []byte, errMsg *string) (bool, error) {
	n, err := s.q.StepResolve(ctx, tx, &dbsqlc.StepResolveParams{RunID: runID, ID: stepID, Status: status, Output: output, Error: errMsg})
	return n > 0, err
}
