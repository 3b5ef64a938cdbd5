package store

import "context"

// ListStepsOn is ListSteps read on db: the step rows of a run, in seq
// order (a rerun checks its from-step in its own transaction).
func (s *Store) ListStepsOn(ctx context.Context, db DB, runID string) ([]*Step, error) {
	rows, err := s.q.StepListByRun(ctx, db, runID)
	if err != nil {
		return nil, err
	}
	steps := make([]*Step, len(rows))
	for i, r := range rows {
		steps[i] = (*Step)(r)
	}
	return steps, nil
}
