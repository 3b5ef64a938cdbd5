package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
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
		return s.RegisterFunctionTx(ctx, tx, f, triggers, controlled)
	})
}

// FunctionConfig returns a registered function's stored flow-control
// config, read on db; pgx.ErrNoRows if it is not registered.
func (s *Store) FunctionConfig(ctx context.Context, db DB, id string) ([]byte, error) {
	return s.q.FunctionConfig(ctx, db, id)
}

// ListFunctions returns the registered functions, in ID order.
func (s *Store) ListFunctions(ctx context.Context) ([]*Function, error) {
	return s.ListFunctionsOn(ctx, s.pool)
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
