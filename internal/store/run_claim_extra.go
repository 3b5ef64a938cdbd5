package store

import (
	"context"
	"time"

	"github.com/riverflow/flow/internal/dbsqlc"
)

// ClaimRunFor is ClaimRun for a caller that already holds the claiming job's
// ID and the owner in memory of its own (the River job, the client's
// config): the queries take both by pointer, which costs ClaimRun an
// allocation per claim and ClaimRunFor none. The segment's claim uses it.
func (s *Store) ClaimRunFor(ctx context.Context, run RunRef, jobID *int64, owner *string, finishTimeout time.Duration, slotted bool) (ClaimedRun, error) {
	if slotted {
		row, err := s.q.RunStartSlotted(ctx, s.pool, &dbsqlc.RunStartSlottedParams{
			ID: run.ID, Gen: run.Gen, JobID: jobID, LeaseOwner: owner, LeaseTtl: s.leaseTTL,
			FinishTimeout: finishTimeout,
		})
		if err != nil {
			return ClaimedRun{}, err
		}
		return ClaimedRun(*row), nil
	}
	row, err := s.q.RunStart(ctx, s.pool, &dbsqlc.RunStartParams{
		ID: run.ID, Gen: run.Gen, JobID: jobID, LeaseOwner: owner, LeaseTtl: s.leaseTTL,
		FinishTimeout: finishTimeout,
	})
	if err != nil {
		return ClaimedRun{}, err
	}
	return ClaimedRun(*row), nil
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
