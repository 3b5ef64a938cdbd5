package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow/internal/dbsqlc"
)

// Function is a registered function (flow_function).
type Function struct {
	ID        string
	Name      string
	Retries   int32
	Config    []byte // the stored flow-control config (JSON)
	UpdatedAt time.Time
}

// Trigger is an event trigger of a registered function (flow_trigger).
type Trigger struct {
	FunctionID string
	EventName  string // an exact name, or the prefix of a wildcard pattern
	IsPrefix   bool
	Expression string // the If condition; "" for none
	Controlled bool   // the function has flow control
}

// RegisterFunction stores a function and replaces its event triggers, in
// one transaction. f.UpdatedAt and the triggers' FunctionID and Controlled
// are ignored: the triggers are f's, controlled if controlled is set.
func (s *Store) RegisterFunction(ctx context.Context, f Function, triggers []Trigger, controlled bool) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.q.FunctionUpsert(ctx, tx, &dbsqlc.FunctionUpsertParams{
			ID: f.ID, Name: f.Name, Retries: f.Retries, Config: f.Config,
		}); err != nil {
			return err
		}
		if err := s.q.TriggerDeleteByFunction(ctx, tx, f.ID); err != nil {
			return err
		}
		if len(triggers) == 0 {
			return nil
		}
		p := &dbsqlc.TriggerInsertManyParams{FunctionID: f.ID, Controlled: controlled}
		for _, t := range triggers {
			p.EventNames = append(p.EventNames, t.EventName)
			p.IsPrefixes = append(p.IsPrefixes, t.IsPrefix)
			p.Expressions = append(p.Expressions, t.Expression)
		}
		return s.q.TriggerInsertMany(ctx, tx, p)
	})
}

// FunctionConfig returns a registered function's stored flow-control
// config, read on db; pgx.ErrNoRows if it is not registered.
func (s *Store) FunctionConfig(ctx context.Context, db DB, id string) ([]byte, error) {
	return s.q.FunctionConfig(ctx, db, id)
}

// ListFunctions returns the registered functions, in ID order.
func (s *Store) ListFunctions(ctx context.Context) ([]*Function, error) {
	rows, err := s.q.FunctionList(ctx, s.pool)
	if err != nil {
		return nil, err
	}
	fns := make([]*Function, len(rows))
	for i, r := range rows {
		fns[i] = (*Function)(r)
	}
	return fns, nil
}

// ListTriggers returns the event triggers of every registered function,
// in function ID order.
func (s *Store) ListTriggers(ctx context.Context) ([]*Trigger, error) {
	rows, err := s.q.InspectTriggerList(ctx, s.pool)
	if err != nil {
		return nil, err
	}
	ts := make([]*Trigger, len(rows))
	for i, r := range rows {
		ts[i] = (*Trigger)(r)
	}
	return ts, nil
}
