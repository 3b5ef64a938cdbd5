package store

import (
	"context"
	"time"

	"github.com/riverflow/flow/internal/dbsqlc"
)

// Wait is a wait to register (flow_wait): one alternative of a
// WaitForEvent step (Kind "wait", Alt >= 0) or a CancelOn condition (Kind
// "cancel", Alt -1).
type Wait struct {
	RunID      string
	StepID     string
	Alt        int32
	Kind       string
	EventName  string
	MatchPath  string // a JSON path the event must hold MatchValue at; "" for none
	MatchValue []byte
	Expression string // an If expression the sender evaluates; "" for none
	ExpiresAt  *time.Time
}

// InsertWait registers a wait, in db.
func (s *Store) InsertWait(ctx context.Context, db DB, w Wait) error {
	return s.q.WaitInsert(ctx, db, &dbsqlc.WaitInsertParams{
		RunID: w.RunID, StepID: w.StepID, Alt: w.Alt, Kind: w.Kind, EventName: w.EventName,
		MatchPath: w.MatchPath, MatchValue: w.MatchValue, Expression: w.Expression, ExpiresAt: w.ExpiresAt,
	})
}

// WaitMatch is an open wait a sent event satisfies.
type WaitMatch struct {
	RunID        string
	StepID       string
	Alt          int32
	Kind         string
	Expression   string
	TriggerEvent []byte // the run's triggering event, when Expression is set
}

// MatchWaits returns the open waits the event named eventName (event, its
// stored JSON) satisfies by name and match path, in db; the caller
// evaluates their expressions.
func (s *Store) MatchWaits(ctx context.Context, db DB, eventName string, event []byte) ([]WaitMatch, error) {
	rows, err := s.q.WaitMatch(ctx, db, &dbsqlc.WaitMatchParams{EventName: eventName, Event: event})
	if err != nil {
		return nil, err
	}
	matches := make([]WaitMatch, len(rows))
	for i, r := range rows {
		matches[i] = WaitMatch(*r)
	}
	return matches, nil
}

// DeleteWait consumes the wait of step stepID of a run (all its
// alternatives), never a CancelOn condition under the same ID, in db. It
// reports whether there was one: of two senders, one consumes it.
func (s *Store) DeleteWait(ctx context.Context, db DB, runID, stepID string) (bool, error) {
	n, err := s.q.WaitDelete(ctx, db, &dbsqlc.WaitDeleteParams{RunID: runID, StepID: stepID})
	return n > 0, err
}

// RekeyCancelWait moves a CancelOn condition that earlier versions stored
// under a wait's alternative 0 to alt -1, in db, so that a wait on the same
// step ID can be registered beside it.
func (s *Store) RekeyCancelWait(ctx context.Context, db DB, runID, stepID string) error {
	return s.q.WaitCancelRekey(ctx, db, &dbsqlc.WaitCancelRekeyParams{RunID: runID, StepID: stepID})
}
