package store_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// ListStepsOn reads a run's steps in the caller's transaction: it sees a
// step that transaction stored, which ListSteps (on the pool) does not see
// before the commit.
func TestListStepsOn(t *testing.T) {
	t.Parallel()
	b := setup(t)
	run := b.newRun(t, "step/liston")
	b.claim(t, run)

	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(b.ctx) }()
	require.NoError(t, b.store.FenceRun(b.ctx, tx, run))
	require.NoError(t, b.store.SaveStepTx(b.ctx, tx, run.ID, completed("a", 0, `"x"`)))
	require.NoError(t, b.store.SaveStepTx(b.ctx, tx, run.ID, completed("b", 1, `"y"`)))

	steps, err := b.store.ListStepsOn(b.ctx, tx, run.ID)
	require.NoError(t, err)
	require.Len(t, steps, 2)
	require.Equal(t, "a", steps[0].ID, "seq order")
	require.Equal(t, "b", steps[1].ID)
	require.JSONEq(t, `"x"`, string(steps[0].Output))

	onPool, err := b.store.ListSteps(b.ctx, run.ID)
	require.NoError(t, err)
	require.Empty(t, onPool, "uncommitted")
}
