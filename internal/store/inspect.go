package store

import (
	"context"
	"time"

	"github.com/riverflow/flow/internal/dbsqlc"
)

// The read-only views of runs and events that dashboards and command lines
// use (flow.Client's inspect methods). Nothing here writes.

// RunCountFilter selects runs for CountRuns, as RunListFilter does. Nil
// fields select everything.
type RunCountFilter struct {
	FunctionID    *string
	EventID       *string
	CreatedAfter  *time.Time
	MinID         *string // a lower bound on the run ID derived from CreatedAfter
	CreatedBefore *time.Time
}

// RunCount is the number of runs of a function in a status.
type RunCount struct {
	FunctionID string
	Status     string
	N          int64
}

// CountRuns counts the runs f selects by function and status, in function
// and status order.
func (s *Store) CountRuns(ctx context.Context, f RunCountFilter) ([]*RunCount, error) {
	rows, err := s.q.InspectRunCount(ctx, s.pool, (*dbsqlc.InspectRunCountParams)(&f))
	if err != nil {
		return nil, err
	}
	counts := make([]*RunCount, len(rows))
	for i, r := range rows {
		counts[i] = (*RunCount)(r)
	}
	return counts, nil
}

// EventListFilter selects a page of events for ListEvents.
type EventListFilter struct {
	MaxData      int32    // the longest data (JSON text, in bytes) to read
	Name         string   // events with this name; "" for any
	Prefix       string   // events whose name starts with this; "" for any
	ExcludeNames []string // events with none of these names
	BeforeID     *string  // only events sent before this event (keyset paging)
	Max          int32
}

// ListedEvent is a stored event as ListEvents reads it: Data is nil when
// longer than the filter's MaxData; DataSize is its length.
type ListedEvent struct {
	ID         string
	Name       string
	Ts         time.Time
	DedupeID   *string
	ReceivedAt time.Time
	DataSize   int32
	Data       []byte
}

// ListEvents returns up to f.Max events that f selects, newest first.
func (s *Store) ListEvents(ctx context.Context, f EventListFilter) ([]*ListedEvent, error) {
	if f.ExcludeNames == nil {
		f.ExcludeNames = []string{} // NULL would select no event
	}
	rows, err := s.q.InspectEventList(ctx, s.pool, (*dbsqlc.InspectEventListParams)(&f))
	if err != nil {
		return nil, err
	}
	events := make([]*ListedEvent, len(rows))
	for i, r := range rows {
		events[i] = (*ListedEvent)(r)
	}
	return events, nil
}

// EventRun is a run as ListEventRuns reads it: without its output or steps.
type EventRun struct {
	ID          string
	FunctionID  string
	EventID     string
	Status      string
	Attempt     int32
	WakeAt      *time.Time
	ParentRunID *string
	Error       *string
	CreatedAt   time.Time
	StartedAt   *time.Time
	EndedAt     *time.Time
}

// ListEventRuns returns up to max runs that the events eventIDs started
// (reruns included), oldest first.
func (s *Store) ListEventRuns(ctx context.Context, eventIDs []string, max int32) ([]*EventRun, error) {
	rows, err := s.q.InspectRunListByEvents(ctx, s.pool, &dbsqlc.InspectRunListByEventsParams{EventIds: eventIDs, Max: max})
	if err != nil {
		return nil, err
	}
	runs := make([]*EventRun, len(rows))
	for i, r := range rows {
		runs[i] = (*EventRun)(r)
	}
	return runs, nil
}
