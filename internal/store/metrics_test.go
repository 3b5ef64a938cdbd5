package store_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/internal/store"
)

// The backlog gauges' statement counts the runs that have not ended by
// function and state, and among the suspended ones those due and late.
func TestRunBacklog(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rows, err := b.store.RunBacklog(b.ctx, time.Second)
	require.NoError(t, err)
	require.Empty(t, rows, "no runs")

	b.newRun(t, "backlog/a")
	b.newRun(t, "backlog/a")
	sleeper := b.newRun(t, "backlog/b")
	b.claim(t, sleeper)
	late := time.Now().Add(-time.Minute)
	err = pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
		_, err := b.store.SuspendRun(b.ctx, tx, store.Suspend{Run: sleeper, Status: "sleeping", JobID: 9, WakeAt: &late})
		return err
	})
	require.NoError(t, err)
	running := b.newRun(t, "backlog/b")
	b.claim(t, running)

	rows, err = b.store.RunBacklog(b.ctx, time.Second)
	require.NoError(t, err)
	require.Equal(t, []store.BacklogRow{
		{FunctionID: "backlog/a", State: "queued", Runs: 2},
		{FunctionID: "backlog/b", State: "running", Runs: 1},
		{FunctionID: "backlog/b", State: "sleeping", Runs: 1, Due: 1, Late: 1},
	}, rows)

	rows, err = b.store.RunBacklog(b.ctx, time.Hour)
	require.NoError(t, err)
	require.Equal(t, store.BacklogRow{FunctionID: "backlog/b", State: "sleeping", Runs: 1, Due: 1}, rows[2],
		"due a minute ago: not late by an hour's threshold")
}
