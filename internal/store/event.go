package store

import (
	"context"
	"time"

	"github.com/riverflow/flow/internal/dbsqlc"
)

// Event is a stored event (flow_event).
type Event struct {
	ID         string
	Name       string
	Data       []byte
	Ts         time.Time
	DedupeID   *string
	ReceivedAt time.Time
}

// ClaimDedupe claims dedupeID for event eventID, in db, and returns the ID
// of the event that holds it: eventID, or an earlier event's (a duplicate).
func (s *Store) ClaimDedupe(ctx context.Context, db DB, dedupeID, eventID string) (string, error) {
	return s.q.EventDedupeClaim(ctx, db, &dbsqlc.EventDedupeClaimParams{DedupeID: dedupeID, EventID: eventID})
}

// Send is an event to store, with the runs it starts.
type Send struct {
	ID       string
	Name     string
	Data     []byte
	Ts       time.Time
	DedupeID *string    // claimed with ClaimDedupe
	StartAt  *time.Time // an event with a future ts starts its runs then; nil: now
	// TraceParent is the sender's W3C traceparent, for the jobs' args
	// (riverjob.RunArgs.TraceParent); nil: none.
	TraceParent *string
	Queue       string // the River queue of the runs' jobs
	Notify      bool   // notify River's producers of the new jobs
}

// SendResult is what storing an event started, and what is left for the
// caller to decide.
type SendResult struct {
	RunIDs      []string // runs started, one per plain trigger
	FunctionIDs []string // their functions, in the same order
	// Triggers whose condition or flow control the caller evaluates: the
	// functions, their If expressions and their stored flow-control config.
	DeferredFunctionIDs []string
	DeferredExpressions []string
	DeferredConfigs     []string
	HasWaits            bool  // open waits may match the event: see MatchWaits
	Notified            int32 // jobs River's producers were told of
}

// InsertEventAndStartRuns stores an event and, in the same statement,
// starts a run of every function with a plain trigger for it (with its
// River job), in db.
func (s *Store) InsertEventAndStartRuns(ctx context.Context, db DB, p Send) (SendResult, error) {
	row, err := s.q.EventInsertAndStartRuns(ctx, db, &dbsqlc.EventInsertAndStartRunsParams{
		ID: p.ID, Name: p.Name, Data: p.Data, Ts: p.Ts, DedupeID: p.DedupeID,
		StartAt: p.StartAt, TraceParent: p.TraceParent, Queue: p.Queue, Notify: p.Notify,
	})
	if err != nil {
		return SendResult{}, err
	}
	return SendResult{
		RunIDs: row.RunIds, FunctionIDs: row.FunctionIds,
		DeferredFunctionIDs: row.DeferredFunctionIds, DeferredExpressions: row.DeferredExpressions,
		DeferredConfigs: row.DeferredConfigs, HasWaits: row.HasWaits, Notified: row.Notified,
	}, nil
}

// UndoEventInsert removes an event that InsertEventAndStartRuns stored, with
// the runs and jobs it started and its dedupe claim, in db: the compensation
// of a send that fails after it.
func (s *Store) UndoEventInsert(ctx context.Context, db DB, eventID string, dedupeID *string) error {
	return s.q.EventUndoInsert(ctx, db, &dbsqlc.EventUndoInsertParams{EventID: eventID, DedupeID: dedupeID})
}

// InsertEvent stores an event that starts no run by itself (a cron tick, an
// Invoke's input), in db. e.DedupeID and e.ReceivedAt are not stored.
func (s *Store) InsertEvent(ctx context.Context, db DB, e Event) error {
	return s.q.EventInsert(ctx, db, &dbsqlc.EventInsertParams{ID: e.ID, Name: e.Name, Data: e.Data, Ts: e.Ts})
}

// GetEvent returns a stored event, read on db; pgx.ErrNoRows if there is
// none.
func (s *Store) GetEvent(ctx context.Context, db DB, id string) (*Event, error) {
	row, err := s.q.EventGet(ctx, db, id)
	if err != nil {
		return nil, err
	}
	return (*Event)(row), nil
}

// EventsForWait selects stored events a wait or CancelOn looks back on.
type EventsForWait struct {
	Name       string
	Since      time.Time
	ExcludeID  string // an event to leave out
	MatchPath  string // a JSON path the events must hold MatchValue at; "" for none
	MatchValue []byte
	Max        int32
}

// ListEventsForWait returns the stored events named p.Name since p.Since
// that may satisfy a wait, oldest first, read on db.
func (s *Store) ListEventsForWait(ctx context.Context, db DB, p EventsForWait) ([]*Event, error) {
	rows, err := s.q.EventListForWait(ctx, db, &dbsqlc.EventListForWaitParams{
		Name: p.Name, Since: p.Since, ExcludeID: p.ExcludeID, MatchPath: p.MatchPath, MatchValue: p.MatchValue, Max: p.Max,
	})
	if err != nil {
		return nil, err
	}
	events := make([]*Event, len(rows))
	for i, r := range rows {
		events[i] = (*Event)(r)
	}
	return events, nil
}

// EventRunIDs returns the runs of event eventID (those it triggered and the
// batch runs it joined), in ID order, read on db.
func (s *Store) EventRunIDs(ctx context.Context, db DB, eventID string) ([]string, error) {
	return s.q.EventRunIDs(ctx, db, eventID)
}
