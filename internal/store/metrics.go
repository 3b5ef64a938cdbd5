package store

import (
	"context"
	"time"
)

// BacklogRow counts the runs of one function in one state that have not
// ended (MetricsRunBacklog).
type BacklogRow struct {
	FunctionID string
	State      string // queued, parked (queued for a concurrency slot), running, sleeping, waiting
	Runs       int64
	Due        int64 // wake time passed, not yet made runnable
	Late       int64 // wake time passed more than the late threshold ago
}

// RunBacklog counts the runs that have not ended by function and state, in
// one grouped statement; a run is late when its wake time passed more than
// late ago and no waker has made it runnable.
func (s *Store) RunBacklog(ctx context.Context, late time.Duration) ([]BacklogRow, error) {
	rows, err := s.q.MetricsRunBacklog(ctx, s.pool, late)
	if err != nil {
		return nil, err
	}
	out := make([]BacklogRow, len(rows))
	for i, r := range rows {
		out[i] = BacklogRow(*r)
	}
	return out, nil
}
