package store

import "context"

// HeartbeatFunctions sets the registry's updated_at of the functions ids to
// now: a started client that defines them is alive. Rows another client is
// touching at that moment are skipped (they are being confirmed).
func (s *Store) HeartbeatFunctions(ctx context.Context, ids []string) error {
	return s.q.FunctionHeartbeat(ctx, s.pool, ids)
}

// CountRunsAwaitingWorker returns, by function ID, how many runs a worker
// should pick up now: queued, or suspended past their wake time. Functions
// with none are absent.
func (s *Store) CountRunsAwaitingWorker(ctx context.Context) (map[string]int, error) {
	rows, err := s.q.RunCountAwaitingWorker(ctx, s.pool)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		out[r.FunctionID] = int(r.N)
	}
	return out, nil
}
