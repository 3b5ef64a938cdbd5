package store_test

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/internal/store"
)

// ClaimRun takes the job and the owner by pointer, as the caller holds them:
// the run is running under that job and owner's lease, and a claim at
// another gen gets no row.
func TestClaimRunTakesJobAndOwner(t *testing.T) {
	t.Parallel()
	b := setup(t)
	run := b.newRun(t, "claim/for")
	jobID, owner := int64(7), "owner-a"

	_, err := b.store.ClaimRun(b.ctx, store.ClaimParams{Run: store.RunRef{ID: run.ID, Gen: run.Gen + 1}, JobID: &jobID, Owner: &owner})
	require.ErrorIs(t, err, pgx.ErrNoRows, "a job of another gen claims nothing")

	got, err := b.store.ClaimRun(b.ctx, store.ClaimParams{Run: run, JobID: &jobID, Owner: &owner})
	require.NoError(t, err)
	require.Equal(t, run.ID, got.ID)
	require.Equal(t, "claim/for", got.FunctionID)
	require.True(t, got.FirstSegment)
	row, err := b.store.GetRun(b.ctx, b.pool, run.ID)
	require.NoError(t, err)
	require.Equal(t, "running", row.Status)
	require.Equal(t, jobID, *row.JobID)
	require.Equal(t, owner, *row.LeaseOwner)
}

// EachStep hands over every step row of a run, in seq order, each with the
// number of rows; a run without steps calls add never.
func TestEachStep(t *testing.T) {
	t.Parallel()
	b := setup(t)
	run := b.newRun(t, "steps/each")
	b.claim(t, run)

	calls := 0
	require.NoError(t, b.store.EachStep(b.ctx, run.ID, func(int, *store.Step) { calls++ }))
	require.Zero(t, calls, "no steps yet")

	for i, id := range []string{"a", "b", "c"} {
		out, err := b.store.SaveStep(b.ctx, run, completed(id, int32(i), `"`+id+`"`))
		require.NoError(t, err)
		require.Equal(t, store.SaveStored, out)
	}
	var ids []string
	var counts []int
	require.NoError(t, b.store.EachStep(b.ctx, run.ID, func(n int, st *store.Step) {
		ids = append(ids, st.ID)
		counts = append(counts, n)
	}))
	require.Equal(t, []string{"a", "b", "c"}, ids)
	require.Equal(t, []int{3, 3, 3}, counts)
}
