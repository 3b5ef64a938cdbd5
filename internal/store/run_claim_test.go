package store_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/internal/store"
)

// The fast claim makes a queued run running under the claimer's lease and
// returns it with its event; a second claim of a run whose segment is alive,
// or a claim at another gen, gets no row.
func TestClaimRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	run := b.newRun(t, "claim/fast")

	_, err := b.store.ClaimRun(b.ctx, store.ClaimParams{Run: store.RunRef{ID: run.ID, Gen: run.Gen + 1}, JobID: ptr(int64(1)), Owner: ptr("c")})
	require.ErrorIs(t, err, pgx.ErrNoRows, "a job of another gen claims nothing")

	got := b.claim(t, run)
	require.Equal(t, run.ID, got.ID)
	require.Equal(t, "claim/fast", got.FunctionID)
	require.Equal(t, run.Gen, got.Gen)
	require.True(t, got.FirstSegment)
	require.False(t, got.HasSteps)
	require.False(t, got.Slotted)
	require.Nil(t, got.DeadlineAt, "no finish timeout")
	require.Equal(t, "test/start", got.EventName)
	require.JSONEq(t, `{"fn":"claim/fast"}`, string(got.EventData))
	status, _ := b.runStatus(t, run.ID)
	require.Equal(t, "running", status)

	_, err = b.store.ClaimRun(b.ctx, store.ClaimParams{Run: run, JobID: ptr(int64(2)), Owner: ptr("other")})
	require.ErrorIs(t, err, pgx.ErrNoRows, "the segment that holds the lease keeps the run")
}

// The first claim fixes the finish deadline from FinishTimeout.
func TestClaimRunFixesTheFinishDeadline(t *testing.T) {
	t.Parallel()
	b := setup(t)
	run := b.newRun(t, "claim/deadline")
	got, err := b.store.ClaimRun(b.ctx, store.ClaimParams{Run: run, JobID: ptr(int64(1)), Owner: ptr("c"), FinishTimeout: time.Hour})
	require.NoError(t, err)
	require.NotNil(t, got.DeadlineAt)
	require.WithinDuration(t, time.Now().Add(time.Hour), *got.DeadlineAt, time.Minute)
}

// The slotted claim takes a free slot of the run's key; with none free it
// claims nothing, and ParkRun parks the run until a slot frees. The run
// that frees the slot finds the waiter, and waking it lets it claim.
func TestClaimRunSlotted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	key, limit := "claim/slotted", int32(1)
	var runs []store.RunRef
	for range 2 {
		run := b.newRun(t, "claim/slotted")
		require.NoError(t, b.store.SetConcurrency(b.ctx, b.pool, store.Concurrency{ID: run.ID, Ckey1: &key, Climit1: &limit}))
		runs = append(runs, run)
	}

	first, err := b.store.ClaimRun(b.ctx, store.ClaimParams{Run: runs[0], JobID: ptr(int64(1)), Owner: ptr("c"), Slotted: true})
	require.NoError(t, err)
	require.True(t, first.Slotted)

	_, err = b.store.ClaimRun(b.ctx, store.ClaimParams{Run: runs[1], JobID: ptr(int64(2)), Owner: ptr("c"), Slotted: true})
	require.ErrorIs(t, err, pgx.ErrNoRows, "the key's only slot is held")
	parked, err := b.store.ParkRun(b.ctx, runs[1], "default", time.Minute)
	require.NoError(t, err)
	require.True(t, parked.NeverStarted)
	status, gen := b.runStatus(t, runs[1].ID)
	require.Equal(t, "queued", status)
	require.Equal(t, runs[1].Gen+1, gen, "parking hands the run to a new job")
	_, err = b.store.ClaimRun(b.ctx, store.ClaimParams{Run: store.RunRef{ID: runs[1].ID, Gen: gen}, JobID: ptr(int64(3)), Owner: ptr("c"), Slotted: true})
	require.ErrorIs(t, err, pgx.ErrNoRows, "a parked run waits for its wake")

	ended, err := b.store.FinishRun(b.ctx, store.Finish{Run: runs[0], Status: "completed", Output: []byte(`1`), MayBeQuiet: true}, nil)
	require.NoError(t, err)
	require.True(t, ended.Quiet)
	require.True(t, ended.SlotWaiters, "a run waits for the freed slot")
	require.NoError(t, b.store.WakeSlotWaiters(b.ctx, b.pool, runs[0].ID))

	second, err := b.store.ClaimRun(b.ctx, store.ClaimParams{Run: store.RunRef{ID: runs[1].ID, Gen: gen}, JobID: ptr(int64(3)), Owner: ptr("c"), Slotted: true})
	require.NoError(t, err, "the woken run takes the freed slot")
	require.True(t, second.Slotted)
}

// A claim by a job of another gen is refused, and the refused job finds out
// whether its run is still queued for it.
func TestRunQueuedAtGen(t *testing.T) {
	t.Parallel()
	b := setup(t)
	run := b.newRun(t, "claim/queued")
	require.NoError(t, b.store.RunQueuedAtGen(b.ctx, run))
	require.ErrorIs(t, b.store.RunQueuedAtGen(b.ctx, store.RunRef{ID: run.ID, Gen: run.Gen + 1}), pgx.ErrNoRows)
	_, _, err := b.store.RequeueEarly(b.ctx, run, "default")
	require.ErrorIs(t, err, pgx.ErrNoRows, "a run with no wake time is due")
	b.claim(t, run)
	require.ErrorIs(t, b.store.RunQueuedAtGen(b.ctx, run), pgx.ErrNoRows, "a running run is not queued")
}
