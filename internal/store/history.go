package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow/internal/dbsqlc"
)

// StepAttempt is a failed attempt of a step (flow_step_attempt).
type StepAttempt struct {
	RunID     string
	StepID    string
	Attempt   int32
	StartedAt time.Time
	EndedAt   time.Time
	Error     string
}

// ListStepAttempts returns the failed attempts of a run's steps, by step
// and attempt.
func (s *Store) ListStepAttempts(ctx context.Context, runID string) ([]*StepAttempt, error) {
	rows, err := s.q.StepAttemptListByRun(ctx, s.pool, runID)
	if err != nil {
		return nil, err
	}
	out := make([]*StepAttempt, len(rows))
	for i, r := range rows {
		out[i] = (*StepAttempt)(r)
	}
	return out, nil
}

// InsertRerun records, in db, that run runID reran run rerunOf, from step
// fromStep ("" for from the top).
func (s *Store) InsertRerun(ctx context.Context, db DB, runID, rerunOf, fromStep string) error {
	return s.q.RerunInsert(ctx, db, &dbsqlc.RerunInsertParams{RunID: runID, RerunOf: rerunOf, FromStep: fromStep})
}

// GetRerun returns the run runID reran and the step it reran from; ok false
// if runID is not a rerun.
func (s *Store) GetRerun(ctx context.Context, runID string) (rerunOf, fromStep string, ok bool, err error) {
	row, err := s.q.RerunGet(ctx, s.pool, runID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, err
	}
	return row.RerunOf, row.FromStep, true, nil
}

// The effects an event has on a run it did not start (flow_event_effect).
const (
	EffectResumed   = "resumed"
	EffectCancelled = "cancelled"
)

// EventEffect is what an event did to a run it did not start: resumed its
// wait step StepID, or cancelled it.
type EventEffect struct {
	EventID    string
	RunID      string
	StepID     string
	Effect     string
	At         time.Time
	FunctionID string // filled by ListEventEffects only
	RunStatus  string // filled by ListEventEffects only
}

// InsertEventEffect records, in tx (the sender's), that an event resumed a
// run's wait step or cancelled the run.
func (s *Store) InsertEventEffect(ctx context.Context, tx pgx.Tx, eventID, runID, stepID, effect string) error {
	return s.q.EventEffectInsert(ctx, tx, &dbsqlc.EventEffectInsertParams{
		EventID: eventID, RunID: runID, StepID: stepID, Effect: effect,
	})
}

// ListRunEffects returns what events did to a run: the waits they resumed,
// the cancel.
func (s *Store) ListRunEffects(ctx context.Context, runID string) ([]*EventEffect, error) {
	rows, err := s.q.EventEffectListByRun(ctx, s.pool, runID)
	if err != nil {
		return nil, err
	}
	out := make([]*EventEffect, len(rows))
	for i, r := range rows {
		out[i] = &EventEffect{EventID: r.EventID, RunID: r.RunID, StepID: r.StepID, Effect: r.Effect, At: r.At}
	}
	return out, nil
}

// ListEventEffects returns up to max runs an event resumed or cancelled,
// oldest first.
func (s *Store) ListEventEffects(ctx context.Context, eventID string, max int32) ([]*EventEffect, error) {
	rows, err := s.q.EventEffectListByEvent(ctx, s.pool, &dbsqlc.EventEffectListByEventParams{EventID: eventID, Max: max})
	if err != nil {
		return nil, err
	}
	out := make([]*EventEffect, len(rows))
	for i, r := range rows {
		out[i] = &EventEffect{EventID: r.EventID, RunID: r.RunID, StepID: r.StepID, Effect: r.Effect, At: r.At,
			FunctionID: r.FunctionID, RunStatus: r.Status}
	}
	return out, nil
}
