package store

import (
	"context"
	"time"

	"github.com/riverflow/flow/internal/dbsqlc"
)

// RunListFilter selects a page of runs for ListRuns. Nil fields select
// everything.
type RunListFilter struct {
	WithOutput    bool // read the runs' outputs (a list may show none)
	FunctionID    *string
	EventID       *string
	Statuses      []string // runs in any of these statuses; empty: all
	CreatedAfter  *time.Time
	MinID         *string // a lower bound on the run ID derived from CreatedAfter (run IDs are time-ordered)
	CreatedBefore *time.Time
	BeforeID      *string // only runs created before this run (keyset paging)
	Max           int32
}

// ListedRun is a run as ListRuns reads it: without its steps, with the name
// of its triggering event ("" if the event is gone); Output is nil unless
// the filter asked for it.
type ListedRun struct {
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
	Output      []byte
	EventName   string
	PausedAt    *time.Time // set while its function's pause holds the run
}

// ListRuns returns up to f.Max runs that f selects, newest first (the one
// listing of runs: flow.Client.ListRuns).
func (s *Store) ListRuns(ctx context.Context, f RunListFilter) ([]*ListedRun, error) {
	if f.Statuses == nil {
		f.Statuses = []string{} // NULL would select no run
	}
	rows, err := s.q.RunList(ctx, s.pool, (*dbsqlc.RunListParams)(&f))
	if err != nil {
		return nil, err
	}
	runs := make([]*ListedRun, len(rows))
	for i, r := range rows {
		runs[i] = (*ListedRun)(r)
	}
	return runs, nil
}
