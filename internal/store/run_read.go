package store

import (
	"context"
	"time"

	"github.com/riverflow/flow/internal/dbsqlc"
)

// Run is a stored run (flow_run), every column.
type Run struct {
	ID             string
	FunctionID     string
	EventID        string
	Status         string
	Gen            int32
	JobID          *int64
	Attempt        int32
	WakeAt         *time.Time
	DeadlineAt     *time.Time
	LeaseOwner     *string
	LeaseExpiresAt *time.Time
	ParentRunID    *string
	ParentStepID   *string
	Output         []byte
	Error          *string
	CreatedAt      time.Time
	StartedAt      *time.Time
	EndedAt        *time.Time
	UpdatedAt      time.Time
	Ckey1          *string
	Climit1        *int32
	Ckey2          *string
	Climit2        *int32
	Cslot1         *int32
	Cslot2         *int32
	SlotWait       *int16
	OrderAt        *time.Time
	SingletonKey   *string
	DebounceKey    *string
	BatchKey       *string
	BatchSize      *int32
	Chold1         *bool
	Chold2         *bool
	PausedAt       *time.Time // set while the run is held by its function's pause (RunParkPaused)
}

// GetRun returns a run, read on db; pgx.ErrNoRows if there is none.
func (s *Store) GetRun(ctx context.Context, db DB, id string) (*Run, error) {
	row, err := s.q.RunGet(ctx, db, id)
	if err != nil {
		return nil, err
	}
	return (*Run)(row), nil
}

// GetChildRun returns the child run of the Invoke step parentStepID of run
// parentRunID, read on db; pgx.ErrNoRows if there is none.
func (s *Store) GetChildRun(ctx context.Context, db DB, parentRunID, parentStepID string) (*Run, error) {
	row, err := s.q.RunGetChild(ctx, db, &dbsqlc.RunGetChildParams{ParentRunID: &parentRunID, ParentStepID: &parentStepID})
	if err != nil {
		return nil, err
	}
	return (*Run)(row), nil
}

// InsertRun creates a queued run of a function for an event, in db, and
// returns its ID. The caller inserts its River job.
func (s *Store) InsertRun(ctx context.Context, db DB, functionID, eventID string) (string, error) {
	return s.q.RunInsert(ctx, db, &dbsqlc.RunInsertParams{FunctionID: functionID, EventID: eventID})
}

// InsertChildRun creates the child run of the Invoke step parentStepID of
// run parentRunID, in db, and returns its ID; pgx.ErrNoRows if the step has
// a child run already.
func (s *Store) InsertChildRun(ctx context.Context, db DB, functionID, eventID, parentRunID, parentStepID string) (string, error) {
	return s.q.RunInsertChild(ctx, db, &dbsqlc.RunInsertChildParams{
		FunctionID: functionID, EventID: eventID, ParentRunID: &parentRunID, ParentStepID: &parentStepID,
	})
}

// CopyStepsBefore copies the completed steps run fromRunID recorded before
// step stepID into run toRunID, in db (a rerun from a step).
func (s *Store) CopyStepsBefore(ctx context.Context, db DB, toRunID, fromRunID, stepID string) error {
	return s.q.StepCopyBefore(ctx, db, &dbsqlc.StepCopyBeforeParams{ToRunID: toRunID, FromRunID: fromRunID, StepID: stepID})
}
