package store

import (
	"context"

	"github.com/riverflow/flow/internal/dbsqlc"
)

// RegisterFunctionTx is RegisterFunction in the caller's transaction tx:
// it stores a function and replaces its event triggers. f.UpdatedAt and the
// triggers' FunctionID and Controlled are ignored: the triggers are f's,
// controlled if controlled is set.
func (s *Store) RegisterFunctionTx(ctx context.Context, tx DB, f Function, triggers []Trigger, controlled bool) error {
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
}

// ListFunctionsOn is ListFunctions read on db: the registered functions, in
// ID order.
func (s *Store) ListFunctionsOn(ctx context.Context, db DB) ([]*Function, error) {
	rows, err := s.q.FunctionList(ctx, db)
	if err != nil {
		return nil, err
	}
	fns := make([]*Function, len(rows))
	for i, r := range rows {
		fns[i] = (*Function)(r)
	}
	return fns, nil
}
