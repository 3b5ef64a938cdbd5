package store_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/internal/store"
)

// A lease is renewed only for its owner; once it lapses, the sweeper's verbs
// find and lock the run, and TakeOver hands it to a new job one gen on.
func TestLeaseLapseAndTakeOver(t *testing.T) {
	t.Parallel()
	b := setup(t)
	run := b.newRun(t, "lease/lapse")
	b.claim(t, run)

	n, err := b.store.RenewLeases(b.ctx, "someone-else", []string{run.ID})
	require.NoError(t, err)
	require.Zero(t, n, "another client's lease")
	n, err = b.store.RenewLeases(b.ctx, "test-client", []string{run.ID})
	require.NoError(t, err)
	require.Equal(t, int64(1), n)

	expired, err := b.store.ListLeaseExpired(b.ctx, 10)
	require.NoError(t, err)
	require.Empty(t, expired)
	_, err = b.pool.Exec(b.ctx, `UPDATE flow_run SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, run.ID)
	require.NoError(t, err)
	expired, err = b.store.ListLeaseExpired(b.ctx, 10)
	require.NoError(t, err)
	require.Equal(t, []store.StrandedRun{{ID: run.ID, Gen: run.Gen, FunctionID: "lease/lapse"}}, expired)

	err = pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
		if err := b.store.LockLeaseExpired(b.ctx, tx, run); err != nil {
			return err
		}
		return b.store.TakeOver(b.ctx, tx, run.ID, 42)
	})
	require.NoError(t, err)
	got, err := b.store.GetRun(b.ctx, b.pool, run.ID)
	require.NoError(t, err)
	require.Equal(t, "queued", got.Status)
	require.Equal(t, run.Gen+1, got.Gen)
	require.Equal(t, int64(42), *got.JobID)

	err = pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error { return b.store.LockLeaseExpired(b.ctx, tx, run) })
	require.ErrorIs(t, err, pgx.ErrNoRows, "handed on already")
}

// The waker's verbs: the next wake time, and waking the runs that are due.
func TestWakeDueRuns(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.store.NextWake(b.ctx)
	require.ErrorIs(t, err, pgx.ErrNoRows, "no run has a wake time")

	run := b.newRun(t, "wake/due")
	b.claim(t, run)
	past := time.Now().Add(-time.Second)
	err = pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
		_, err := b.store.SuspendRun(b.ctx, tx, store.Suspend{Run: run, Status: "sleeping", JobID: 9, WakeAt: &past})
		return err
	})
	require.NoError(t, err)
	next, err := b.store.NextWake(b.ctx)
	require.NoError(t, err)
	require.WithinDuration(t, past, *next, time.Millisecond)

	woken, err := b.store.WakeDueRuns(b.ctx, 10)
	require.NoError(t, err)
	require.Equal(t, int32(1), woken.Woken)
	require.Len(t, woken.FunctionIDs, 1, "the woken run's function, for the wake-latency metric")
	require.Len(t, woken.Late, 1)
	require.GreaterOrEqual(t, woken.Late[0], 1.0, "woken a second after its wake time")
	status, _ := b.runStatus(t, run.ID)
	require.Equal(t, "queued", status)
	woken, err = b.store.WakeDueRuns(b.ctx, 10)
	require.NoError(t, err)
	require.Zero(t, woken.Woken, "woken once")
	require.Empty(t, woken.Late)
}
