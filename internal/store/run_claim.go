package store

import (
	"context"
	"time"

	"github.com/riverflow/flow/internal/dbsqlc"
)

// ClaimParams says which run a job claims and for how long.
type ClaimParams struct {
	Run RunRef
	// JobID and Owner (the claiming client's ID, Config.ID: the lease owner)
	// are pointers to the caller's own values, the River job's ID and the
	// client's config, which the queries take as they are: a claim makes no
	// allocation of its own.
	JobID         *int64
	Owner         *string
	FinishTimeout time.Duration // the function's Timeouts.Finish, fixed by the first segment; 0: none
	// Slotted says the run has concurrency keys: the claim takes a free slot
	// of each (RunStartSlotted), or claims nothing.
	Slotted bool
}

// ClaimedRun is a run a segment claimed, with its triggering event. Its
// fields are those of both claim queries' rows, in their order.
type ClaimedRun struct {
	ID              string
	FunctionID      string
	Gen             int32
	Attempt         int32
	CreatedAt       time.Time
	ParentRunID     *string
	DeadlineAt      *time.Time
	FirstSegment    bool // the run's first segment: apply the start timeout, register CancelOn
	HasSteps        bool // the run has step rows to load
	HasCancelWaits  bool // the CancelOn conditions are registered
	QueuedFor       time.Duration
	EventID         string
	EventName       string
	EventData       []byte
	EventTs         time.Time
	EventDedupeID   *string
	EventReceivedAt time.Time
	Slotted         bool // the run holds concurrency slots
	BatchSize       int32
}

// ClaimRun claims p.Run for the segment of job p.JobID: the run becomes
// running under a lease of p.Owner. A stale job (older gen), an ended run, a
// run whose segment is alive elsewhere, a queued run not due yet, or (with
// p.Slotted) a run that finds no free slot of one of its keys gets
// pgx.ErrNoRows: see ParkRun, RequeueEarly and RunQueuedAtGen for what the
// caller does then.
func (s *Store) ClaimRun(ctx context.Context, p ClaimParams) (ClaimedRun, error) {
	if p.Slotted {
		row, err := s.q.RunStartSlotted(ctx, s.pool, &dbsqlc.RunStartSlottedParams{
			ID: p.Run.ID, Gen: p.Run.Gen, JobID: p.JobID, LeaseOwner: p.Owner, LeaseTtl: s.leaseTTL,
			FinishTimeout: p.FinishTimeout,
		})
		if err != nil {
			return ClaimedRun{}, err
		}
		return ClaimedRun(*row), nil
	}
	row, err := s.q.RunStart(ctx, s.pool, &dbsqlc.RunStartParams{
		ID: p.Run.ID, Gen: p.Run.Gen, JobID: p.JobID, LeaseOwner: p.Owner, LeaseTtl: s.leaseTTL,
		FinishTimeout: p.FinishTimeout,
	})
	if err != nil {
		return ClaimedRun{}, err
	}
	return ClaimedRun(*row), nil
}

// Parked says what became of a run that waits for a concurrency slot.
type Parked struct {
	NeverStarted bool          // no segment of the run ever ran: the start timeout applies
	QueuedFor    time.Duration // since the run was queued
}

// ParkRun parks a run whose slotted claim was refused: it stays queued,
// waiting for a slot, with a new job in queue that only a wake (or the
// recheck, at most recheck from now) makes runnable. A stale job or a run
// not due yet gets pgx.ErrNoRows.
func (s *Store) ParkRun(ctx context.Context, run RunRef, queue string, recheck time.Duration) (Parked, error) {
	row, err := s.q.RunPark(ctx, s.pool, &dbsqlc.RunParkParams{ID: run.ID, Gen: run.Gen, Queue: queue, Recheck: recheck})
	if err != nil {
		return Parked{}, err
	}
	return Parked{NeverStarted: row.NeverStarted, QueuedFor: row.QueuedFor}, nil
}

// RequeueEarly hands a queued run whose claim came before its wake time to
// a new job in queue scheduled at that time, and returns the time. A run
// that is not queued at run.Gen, or is due, gets pgx.ErrNoRows.
func (s *Store) RequeueEarly(ctx context.Context, run RunRef, queue string) (id string, wakeAt time.Time, err error) {
	row, err := s.q.RunRequeueEarly(ctx, s.pool, &dbsqlc.RunRequeueEarlyParams{ID: run.ID, Gen: run.Gen, Queue: queue})
	if err != nil {
		return "", time.Time{}, err
	}
	return row.ID, row.WakeAt, nil
}

// RunQueuedAtGen returns nil if the run is still queued at run.Gen, and
// pgx.ErrNoRows if not.
func (s *Store) RunQueuedAtGen(ctx context.Context, run RunRef) error {
	_, err := s.q.RunQueuedAtGen(ctx, s.pool, &dbsqlc.RunQueuedAtGenParams{ID: run.ID, Gen: run.Gen})
	return err
}
