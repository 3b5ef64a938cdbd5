package store

import (
	"context"
	"time"

	"github.com/riverflow/flow/internal/dbsqlc"
)

// retentionBatch bounds the rows one delete statement removes.
const retentionBatch = 1000

// DeleteExpired deletes the runs that ended and the events received before
// before, in batches, then expired dedupe claims and idempotency keys and
// idle throttle and rate-limit state, and returns how many runs it deleted.
func (s *Store) DeleteExpired(ctx context.Context, before time.Time) (int64, error) {
	var runs int64
	for {
		n, err := s.q.RunDeleteEnded(ctx, s.pool, &dbsqlc.RunDeleteEndedParams{Before: before, Max: retentionBatch})
		if err != nil {
			return runs, err
		}
		runs += n
		if n < retentionBatch {
			break
		}
	}
	for {
		n, err := s.q.EventDeleteOld(ctx, s.pool, &dbsqlc.EventDeleteOldParams{Before: before, Max: retentionBatch})
		if err != nil {
			return runs, err
		}
		if n < retentionBatch {
			break
		}
	}
	if _, err := s.q.EventDedupeDeleteExpired(ctx, s.pool); err != nil {
		return runs, err
	}
	// Flow control's own state: idempotency keys past their 24 hours, and
	// throttle and rate-limit state that no longer limits anything.
	if _, err := s.q.IdempotencyDeleteExpired(ctx, s.pool); err != nil {
		return runs, err
	}
	_, err := s.q.LimitDeleteIdle(ctx, s.pool)
	return runs, err
}
