package store

import (
	"context"
	"time"

	"github.com/riverflow/flow/internal/dbsqlc"
)

// StrandedRun is a run that no live segment executes, for the caller to
// hand on to a new job (see TakeOver).
type StrandedRun struct {
	ID         string
	Gen        int32
	FunctionID string
	Slotted    bool // the run has concurrency keys
}

// RenewLeases extends the leases of owner's running runs ids, skipping runs
// another transaction has locked, and returns how many it renewed.
func (s *Store) RenewLeases(ctx context.Context, owner string, ids []string) (int64, error) {
	return s.q.RunLeaseRenew(ctx, s.pool, &dbsqlc.RunLeaseRenewParams{LeaseTtl: s.leaseTTL, LeaseOwner: &owner, IDs: ids})
}

// ListLeaseExpired returns up to max running runs whose lease lapsed (their
// client died or lost the database), oldest lapse first.
func (s *Store) ListLeaseExpired(ctx context.Context, max int32) ([]StrandedRun, error) {
	rows, err := s.q.RunListLeaseExpired(ctx, s.pool, max)
	if err != nil {
		return nil, err
	}
	runs := make([]StrandedRun, len(rows))
	for i, r := range rows {
		runs[i] = StrandedRun(*r)
	}
	return runs, nil
}

// LockLeaseExpired locks run for the rest of db's transaction if it is
// still running at run.Gen with a lapsed lease and no one else holds it;
// pgx.ErrNoRows if not.
func (s *Store) LockLeaseExpired(ctx context.Context, db DB, run RunRef) error {
	_, err := s.q.RunLockLeaseExpired(ctx, db, &dbsqlc.RunLockLeaseExpiredParams{ID: run.ID, Gen: run.Gen})
	return err
}

// LockResumable locks a run whose segment, or claim, by job jobID at run.Gen
// failed in client owner on a database error, if nothing moved it on since;
// pgx.ErrNoRows if something did.
func (s *Store) LockResumable(ctx context.Context, db DB, run RunRef, jobID *int64, owner string) (StrandedRun, error) {
	row, err := s.q.RunLockResumable(ctx, db, &dbsqlc.RunLockResumableParams{ID: run.ID, Gen: run.Gen, JobID: jobID, LeaseOwner: &owner})
	if err != nil {
		return StrandedRun{}, err
	}
	return StrandedRun(*row), nil
}

// UnclaimedRun is a run whose current job a client fetched but never
// claimed the run with.
type UnclaimedRun struct {
	ID    string
	Gen   int32
	JobID int64
}

// ListOwnUnclaimed returns the runs of queue whose current job client
// clientID fetched (River shows it running) without claiming the run.
func (s *Store) ListOwnUnclaimed(ctx context.Context, queue, clientID string) ([]UnclaimedRun, error) {
	rows, err := s.q.RunListOwnUnclaimed(ctx, s.pool, &dbsqlc.RunListOwnUnclaimedParams{Queue: queue, ClientID: clientID})
	if err != nil {
		return nil, err
	}
	runs := make([]UnclaimedRun, len(rows))
	for i, r := range rows {
		runs[i] = UnclaimedRun(*r)
	}
	return runs, nil
}

// ListOrphaned returns up to max queued runs whose job River has shown
// running for over staleAfter without a claim (the fetching process died).
func (s *Store) ListOrphaned(ctx context.Context, staleAfter time.Duration, max int32) ([]StrandedRun, error) {
	rows, err := s.q.RunListOrphaned(ctx, s.pool, &dbsqlc.RunListOrphanedParams{StaleAfter: staleAfter, Max: max})
	if err != nil {
		return nil, err
	}
	runs := make([]StrandedRun, len(rows))
	for i, r := range rows {
		runs[i] = StrandedRun(*r)
	}
	return runs, nil
}

// LockOrphaned locks run for the rest of db's transaction if it is still
// orphaned (see ListOrphaned) at run.Gen; pgx.ErrNoRows if not.
func (s *Store) LockOrphaned(ctx context.Context, db DB, run RunRef, staleAfter time.Duration) error {
	_, err := s.q.RunLockOrphaned(ctx, db, &dbsqlc.RunLockOrphanedParams{ID: run.ID, Gen: run.Gen, StaleAfter: staleAfter})
	return err
}

// TakeOver hands a run the caller has locked to job jobID, one gen on, in
// db: the run is queued again and any old segment finds itself stale.
func (s *Store) TakeOver(ctx context.Context, db DB, runID string, jobID int64) error {
	return s.q.RunTakeover(ctx, db, &dbsqlc.RunTakeoverParams{JobID: &jobID, ID: runID})
}
