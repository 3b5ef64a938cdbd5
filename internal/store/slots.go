package store

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// WakeSlotWaiters makes runnable the oldest runs waiting for a slot of run
// runID's concurrency keys, one per free slot, in db: a run that db's
// transaction (or the caller's last commit, with db the pool) took out of
// running.
func (s *Store) WakeSlotWaiters(ctx context.Context, db DB, runID string) error {
	_, err := s.q.RunSlotWake(ctx, db, runID)
	return err
}

// WakeSlotWaitersLocked is WakeSlotWaiters for a run that has just parked:
// it first waits for the claims and releases in flight on its keys' slots,
// so that it sees a slot freed by a release that did not see the run
// parked.
func (s *Store) WakeSlotWaitersLocked(ctx context.Context, runID string) error {
	_, err := s.q.RunSlotWakeLocked(ctx, s.pool, runID)
	return err
}

// FreeDanglingSlots frees the slots held by runs that are not running (a
// claim whose run changed under it) and, in the same transaction, wakes the
// runs parked for those keys.
func (s *Store) FreeDanglingSlots(ctx context.Context) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		keys, err := s.q.SlotFreeDangling(ctx, tx)
		if err != nil || len(keys) == 0 {
			return err
		}
		_, err = s.q.SlotWakeKeys(ctx, tx, keys)
		return err
	})
}
