package store

import (
	"context"
	"time"
)

// Shifted counts what ShiftDueTimes moved.
type Shifted struct {
	Runs, Steps, Waits, Jobs int32
}

// ShiftDueTimes moves the stored due times of every run that has not ended
// and is not executing by earlier: wake and deadline times, the wake times
// of their steps, the expiry of their waits, and the scheduled time of their
// continuation jobs. It is how tests skip time (flowtest.Advance); a run
// it makes due is woken by WakeDueRuns.
func (s *Store) ShiftDueTimes(ctx context.Context, by time.Duration) (Shifted, error) {
	row, err := s.q.RunShiftDueTimes(ctx, s.pool, by)
	if err != nil {
		return Shifted{}, err
	}
	return Shifted{Runs: row.Runs, Steps: row.Steps, Waits: row.Waits, Jobs: row.Jobs}, nil
}

// BusyRun is a run that executes or is ready to execute.
type BusyRun struct {
	ID, FunctionID, Status string
}

// ListBusyRuns lists up to max runs that are running, or queued, due and
// not parked for a concurrency slot.
func (s *Store) ListBusyRuns(ctx context.Context, max int32) ([]BusyRun, error) {
	rows, err := s.q.RunListBusy(ctx, s.pool, max)
	if err != nil {
		return nil, err
	}
	out := make([]BusyRun, len(rows))
	for i, r := range rows {
		out[i] = BusyRun(*r)
	}
	return out, nil
}
