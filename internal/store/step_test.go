package store_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/internal/store"
)

// SaveStep stores a row of the segment that owns the run, through the
// group commit (a plain completed step) or its own statement (any other);
// a segment of another gen stores nothing; a step's final row is never
// replaced, and a write in a transaction that would replace it gets
// ErrStepFinal.
func TestSaveStep(t *testing.T) {
	t.Parallel()
	b := setup(t)
	run := b.newRun(t, "step/save")
	b.claim(t, run)

	out, err := b.store.SaveStep(b.ctx, run, completed("a", 0, `"first"`))
	require.NoError(t, err)
	require.Equal(t, store.SaveStored, out, "grouped")

	wake := time.Now().Add(time.Minute)
	msg := "boom"
	errored := store.StepRecord{ID: "b", Seq: 1, Kind: "run", Status: "errored", Attempts: 1, Error: &msg, WakeAt: &wake, StartedAt: time.Now()}
	out, err = b.store.SaveStep(b.ctx, run, errored)
	require.NoError(t, err)
	require.Equal(t, store.SaveStored, out, "fenced")

	stale := store.RunRef{ID: run.ID, Gen: run.Gen + 1}
	out, err = b.store.SaveStep(b.ctx, stale, completed("c", 2, `"stale"`))
	require.NoError(t, err)
	require.Equal(t, store.SaveLost, out, "grouped, another gen")
	out, err = b.store.SaveStep(b.ctx, stale, errored)
	require.NoError(t, err)
	require.Equal(t, store.SaveLost, out, "fenced, another gen")

	out, err = b.store.SaveStep(b.ctx, run, completed("a", 0, `"second"`))
	require.NoError(t, err)
	require.Equal(t, store.SaveRefused, out, "grouped over a final row")
	failed := completed("a", 0, `null`)
	failed.Status, failed.Error = "failed", &msg
	out, err = b.store.SaveStep(b.ctx, run, failed)
	require.NoError(t, err)
	require.Equal(t, store.SaveRefused, out, "fenced over a final row")

	err = pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
		require.NoError(t, b.store.FenceRun(b.ctx, tx, run))
		return b.store.SaveStepTx(b.ctx, tx, run.ID, completed("a", 0, `"third"`))
	})
	require.ErrorIs(t, err, store.ErrStepFinal)

	steps, err := b.store.ListSteps(b.ctx, run.ID)
	require.NoError(t, err)
	byID := map[string]*store.Step{}
	for _, st := range steps {
		byID[st.ID] = st
	}
	require.Len(t, byID, 2, "the stale segment's step c is not stored")
	require.JSONEq(t, `"first"`, string(byID["a"].Output), "the final row is the first")
	require.Equal(t, "completed", byID["a"].Status)
	require.Equal(t, "errored", byID["b"].Status)
	require.Equal(t, "boom", *byID["b"].Error)

	got, err := b.store.GetStep(b.ctx, b.pool, run.ID, "b")
	require.NoError(t, err)
	require.Equal(t, byID["b"], got)
	_, err = b.store.GetStep(b.ctx, b.pool, run.ID, "none")
	require.ErrorIs(t, err, pgx.ErrNoRows)
}

// FenceRun holds a run only for the segment that owns it.
func TestFenceRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	run := b.newRun(t, "step/fence")
	fence := func(r store.RunRef) error {
		return pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error { return b.store.FenceRun(b.ctx, tx, r) })
	}
	require.ErrorIs(t, fence(run), pgx.ErrNoRows, "a queued run has no segment")
	b.claim(t, run)
	require.NoError(t, fence(run))
	require.ErrorIs(t, fence(store.RunRef{ID: run.ID, Gen: run.Gen + 1}), pgx.ErrNoRows)
}
