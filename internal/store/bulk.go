package store

import (
	"context"
	"time"

	"github.com/riverflow/flow/internal/dbsqlc"
)

// BulkFilter selects runs for a bulk action (CancelRuns, RerunRuns). Nil and
// empty fields select everything.
type BulkFilter struct {
	FunctionID    *string
	Statuses      []string // runs in any of these statuses; empty: all
	UnendedOnly   bool     // only runs that have not ended (a cancel)
	CreatedAfter  *time.Time
	CreatedBefore *time.Time
	IDs           []string // only these runs; empty: all
	EventName     *string  // only runs whose triggering event has this name
	EventID       *string  // only runs of this event (and their reruns)
	UptoID        string   // only runs up to this ID (NewestRunID when the action began)
}

// BulkRun is a run a bulk action selected.
type BulkRun struct {
	ID         string
	FunctionID string
	EventID    string
	Invoked    bool // an Invoke step's child run
	Rerun      bool // a newer run of its function on its event exists
}

func (f BulkFilter) nonNil() BulkFilter {
	if f.Statuses == nil {
		f.Statuses = []string{} // NULL would select no run
	}
	if f.IDs == nil {
		f.IDs = []string{}
	}
	return f
}

// NewestRunID returns the newest run's ID, or the nil UUID if there is none.
func (s *Store) NewestRunID(ctx context.Context) (string, error) {
	return s.q.RunNewestID(ctx, s.pool)
}

// CountBulkRuns returns how many runs f selects.
func (s *Store) CountBulkRuns(ctx context.Context, f BulkFilter) (int, error) {
	f = f.nonNil()
	n, err := s.q.RunBulkCount(ctx, s.pool, &dbsqlc.RunBulkCountParams{
		FunctionID: f.FunctionID, Statuses: f.Statuses, UnendedOnly: f.UnendedOnly, CreatedAfter: f.CreatedAfter,
		CreatedBefore: f.CreatedBefore, IDs: f.IDs, EventName: f.EventName, EventID: f.EventID, UptoID: f.UptoID,
	})
	return int(n), err
}

// SelectBulkRuns returns up to max runs f selects with IDs after afterID,
// oldest first.
func (s *Store) SelectBulkRuns(ctx context.Context, f BulkFilter, afterID string, max int32) ([]*BulkRun, error) {
	f = f.nonNil()
	rows, err := s.q.RunBulkSelect(ctx, s.pool, &dbsqlc.RunBulkSelectParams{
		FunctionID: f.FunctionID, Statuses: f.Statuses, UnendedOnly: f.UnendedOnly, CreatedAfter: f.CreatedAfter,
		CreatedBefore: f.CreatedBefore, IDs: f.IDs, EventName: f.EventName, EventID: f.EventID, AfterID: afterID, UptoID: f.UptoID, Max: max,
	})
	if err != nil {
		return nil, err
	}
	runs := make([]*BulkRun, len(rows))
	for i, r := range rows {
		runs[i] = (*BulkRun)(r)
	}
	return runs, nil
}

// ReplayFilter selects the stored events Replay starts a function for.
type ReplayFilter struct {
	FunctionID     string
	ReceivedAfter  time.Time
	ReceivedBefore time.Time
	IncludeStarted bool // also events that already started a run of the function
}

// ReplayEvent is a stored event Replay selected, with the conditions of the
// function's triggers it matches ("" for one without) and the function's
// registry config if it has flow control ("" if not).
type ReplayEvent struct {
	ID          string
	Name        string
	Data        []byte
	Ts          time.Time
	DedupeID    *string
	Expressions []string
	Config      string
}

// CountReplayEvents returns how many events f selects (before their
// triggers' conditions are evaluated).
func (s *Store) CountReplayEvents(ctx context.Context, f ReplayFilter) (int, error) {
	n, err := s.q.EventReplayCount(ctx, s.pool, &dbsqlc.EventReplayCountParams{
		ReceivedAfter: f.ReceivedAfter, ReceivedBefore: f.ReceivedBefore, FunctionID: f.FunctionID, IncludeStarted: f.IncludeStarted,
	})
	return int(n), err
}

// SelectReplayEvents returns up to max events f selects with IDs after
// afterID, oldest first.
func (s *Store) SelectReplayEvents(ctx context.Context, f ReplayFilter, afterID string, max int32) ([]*ReplayEvent, error) {
	rows, err := s.q.EventReplaySelect(ctx, s.pool, &dbsqlc.EventReplaySelectParams{
		FunctionID: f.FunctionID, ReceivedAfter: f.ReceivedAfter, ReceivedBefore: f.ReceivedBefore,
		AfterID: afterID, IncludeStarted: f.IncludeStarted, Max: max,
	})
	if err != nil {
		return nil, err
	}
	events := make([]*ReplayEvent, len(rows))
	for i, r := range rows {
		events[i] = (*ReplayEvent)(r)
	}
	return events, nil
}
