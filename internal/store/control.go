package store

import (
	"context"
	"time"

	"github.com/riverflow/flow/internal/dbsqlc"
)

// ControlledRun is a run to create through flow control, with its first
// River job.
type ControlledRun struct {
	ID           string
	FunctionID   string
	EventID      string
	Delay        time.Duration // the run starts after this (throttle, debounce, batch, future ts, negative priority)
	Ahead        time.Duration // its job sorts this much earlier among available jobs (positive priority)
	Ckey1        *string       // concurrency keys and their limits
	Climit1      *int32
	Ckey2        *string
	Climit2      *int32
	Chold1       *bool // key 1 or 2 holds its slot for the run's whole life (nil: step-level)
	Chold2       *bool
	SingletonKey *string
	DebounceKey  *string
	BatchKey     *string
	BatchSize    *int32
	ParentRunID  *string // the Invoke step whose child this run is, if any
	ParentStepID *string
	Slots        bool    // the job's args say the run takes concurrency slots
	TraceParent  *string // the sender's W3C traceparent, for the job's args; nil: none
	Queue        string  // the River queue of the job
	Notify       bool    // notify River's producers of the job
}

// InsertedRun is what InsertControlledRun created.
type InsertedRun struct {
	ID       string
	WakeAt   *time.Time // when the run becomes runnable, if not now
	Notified int32
	SlotKeys int32 // concurrency keys whose slot rows were made
}

// InsertControlledRun creates a run with flow control and its first River
// job, in db.
func (s *Store) InsertControlledRun(ctx context.Context, db DB, p ControlledRun) (InsertedRun, error) {
	row, err := s.q.RunInsertControlled(ctx, db, (*dbsqlc.RunInsertControlledParams)(&p))
	if err != nil {
		return InsertedRun{}, err
	}
	return InsertedRun(*row), nil
}

// InsertSkippedRun records a run that flow control skipped, with reason as
// its error, in db; AwaitRun callers are notified at commit.
func (s *Store) InsertSkippedRun(ctx context.Context, db DB, id, functionID, eventID, reason string) error {
	return s.q.RunInsertSkipped(ctx, db, &dbsqlc.RunInsertSkippedParams{ID: id, FunctionID: functionID, EventID: eventID, Reason: &reason})
}

// SingletonActive returns the ID of the run of singleton key that has not
// ended, read on db; pgx.ErrNoRows if there is none.
func (s *Store) SingletonActive(ctx context.Context, db DB, key string) (string, error) {
	return s.q.RunSingletonActive(ctx, db, &key)
}

// Debounce postpones a debounced run.
type Debounce struct {
	Key     string
	EventID string        // the run's new triggering event...
	TS      time.Time     // ...unless the run's event has a later ts than this, its ts
	Period  time.Duration // the run starts this long from now...
	Timeout time.Duration // ...but no later than this after its first event; 0: no cap
}

// PushDebounce gives the debounced run of p.Key that has not started the
// event p.EventID and postpones its start, in db, and returns the run and
// its new wake time; pgx.ErrNoRows if there is no such run. A run whose
// event is newer than p.TS is left as it is (Inngest keeps the latest event
// by timestamp, not the last to arrive), and its wake time returned.
func (s *Store) PushDebounce(ctx context.Context, db DB, p Debounce) (runID string, wakeAt *time.Time, err error) {
	row, err := s.q.DebouncePush(ctx, db, &dbsqlc.DebouncePushParams{Ts: p.TS, EventID: p.EventID, Timeout: p.Timeout, Period: p.Period, DebounceKey: &p.Key})
	if err != nil {
		return "", nil, err
	}
	return row.ID, row.WakeAt, nil
}

// BatchAppended is the open batch run an event joined.
type BatchAppended struct {
	ID        string
	BatchSize *int32
	Notified  int32
}

// AppendToBatch adds event eventID to the open batch run of key if it has
// room (under maxSize events), in db; pgx.ErrNoRows if there is none.
func (s *Store) AppendToBatch(ctx context.Context, db DB, key, eventID string, maxSize int32) (BatchAppended, error) {
	row, err := s.q.BatchAppend(ctx, db, &dbsqlc.BatchAppendParams{MaxSize: maxSize, BatchKey: &key, EventID: eventID})
	if err != nil {
		return BatchAppended{}, err
	}
	return BatchAppended(*row), nil
}

// BatchEvents returns the events of a batch run, in arrival order.
func (s *Store) BatchEvents(ctx context.Context, runID string) ([]*Event, error) {
	rows, err := s.q.BatchEvents(ctx, s.pool, runID)
	if err != nil {
		return nil, err
	}
	events := make([]*Event, len(rows))
	for i, r := range rows {
		events[i] = (*Event)(r)
	}
	return events, nil
}

// Throttle books a start of a throttled run under key (the generic cell
// rate algorithm: one per interval, tolerance ahead of now without
// waiting), in db, and returns how long the run must wait for it.
func (s *Store) Throttle(ctx context.Context, db DB, key string, interval, tolerance time.Duration) (time.Duration, error) {
	return s.q.LimitThrottle(ctx, db, &dbsqlc.LimitThrottleParams{Key: key, Interval: interval, Tolerance: tolerance})
}

// RateLimit admits (and counts) an event under the rate limit of key, in
// db; pgx.ErrNoRows if the event is over the limit.
func (s *Store) RateLimit(ctx context.Context, db DB, key string, interval, tolerance time.Duration) error {
	_, err := s.q.LimitRate(ctx, db, &dbsqlc.LimitRateParams{Key: key, Interval: interval, Tolerance: tolerance})
	return err
}

// ClaimIdempotency claims idempotency key for run runID for 24 hours, in
// db, and returns the run that holds it: runID, or an earlier run's.
func (s *Store) ClaimIdempotency(ctx context.Context, db DB, key, runID string) (string, error) {
	return s.q.IdempotencyClaim(ctx, db, &dbsqlc.IdempotencyClaimParams{Key: key, RunID: runID})
}

// Concurrency gives a run its function's concurrency keys and limits.
type Concurrency struct {
	Ckey1   *string
	Climit1 *int32
	Ckey2   *string
	Climit2 *int32
	Chold1  *bool // key 1 or 2 holds its slot for the run's whole life (nil: step-level)
	Chold2  *bool
	ID      string // the run
}

// SetConcurrency gives a run created outside the sender's flow-control
// path (a rerun, an invoked run) its concurrency keys, making their slot
// rows, in db: it takes slots like the others, in line from now.
func (s *Store) SetConcurrency(ctx context.Context, db DB, p Concurrency) error {
	return s.q.RunSetConcurrency(ctx, db, (*dbsqlc.RunSetConcurrencyParams)(&p))
}
