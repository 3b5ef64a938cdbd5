package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/internal/store"
)

// ListBusyRuns lists the runs that execute or are ready to: running, and
// queued with no wake time ahead unless parked for a slot that none is free
// for. Suspended, ended, not yet due and parked runs are idle; they are what
// skipping time moves.
func TestListBusyRuns(t *testing.T) {
	t.Parallel()
	b := setup(t)
	set := func(run store.RunRef, status string, wake *time.Time) {
		_, err := b.pool.Exec(b.ctx, `UPDATE flow_run SET status = $2, wake_at = $3 WHERE id = $1`, run.ID, status, wake)
		require.NoError(t, err)
	}
	later, past := time.Now().Add(time.Hour), time.Now().Add(-time.Second)

	queued := b.newRun(t, "busy/queued")
	due := b.newRun(t, "busy/due")
	set(due, "queued", &past)
	running := b.newRun(t, "busy/running")
	set(running, "running", nil)
	delayed := b.newRun(t, "idle/delayed")
	set(delayed, "queued", &later)
	// Key k has one slot, held; key free has one free slot.
	_, err := b.pool.Exec(b.ctx, `INSERT INTO flow_concurrency_slot (key, n, run_id) VALUES ('k', 0, $1), ('free', 0, NULL)`, running.ID)
	require.NoError(t, err)
	parked := b.newRun(t, "idle/parked")
	letThrough := b.newRun(t, "busy/let-through")
	for run, key := range map[string]string{parked.ID: "k", letThrough.ID: "free"} {
		_, err := b.pool.Exec(b.ctx, `UPDATE flow_run SET ckey1 = $2, climit1 = 1, slot_wait = 1 WHERE id = $1`, run, key)
		require.NoError(t, err)
		_, err = b.pool.Exec(b.ctx, `INSERT INTO flow_slot_waiter (key, order_at, run_id) VALUES ($2, now(), $1)`, run, key)
		require.NoError(t, err)
	}
	for _, status := range []string{"sleeping", "waiting", "completed", "failed", "cancelled"} {
		set(b.newRun(t, "idle/"+status), status, &past)
	}

	busy, err := b.store.ListBusyRuns(b.ctx, 10)
	require.NoError(t, err)
	got := map[string]string{}
	for _, r := range busy {
		got[r.ID] = r.FunctionID + " " + r.Status
	}
	require.Equal(t, map[string]string{
		queued.ID:     "busy/queued queued",
		due.ID:        "busy/due queued",
		running.ID:    "busy/running running",
		letThrough.ID: "busy/let-through queued",
	}, got)

	limited, err := b.store.ListBusyRuns(b.ctx, 2)
	require.NoError(t, err)
	require.Len(t, limited, 2)
}

// ShiftDueTimes moves the due times of suspended runs, not those of
// executing or ended runs.
func TestShiftDueTimes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	wake := time.Now().Add(2 * time.Hour).Truncate(time.Microsecond)
	deadline := wake.Add(time.Hour)
	runs := map[string]store.RunRef{}
	for _, status := range []string{"sleeping", "running", "completed"} {
		run := b.newRun(t, "shift/"+status)
		_, err := b.pool.Exec(b.ctx, `UPDATE flow_run SET status = $2, wake_at = $3, deadline_at = $4 WHERE id = $1`,
			run.ID, status, wake, deadline)
		require.NoError(t, err)
		runs[status] = run
	}

	shifted, err := b.store.ShiftDueTimes(b.ctx, 90*time.Minute)
	require.NoError(t, err)
	require.Equal(t, store.Shifted{Runs: 1}, shifted, "no job, step or wait to move")

	for status, run := range runs {
		got, err := b.store.GetRun(b.ctx, b.pool, run.ID)
		require.NoError(t, err)
		wantWake := wake
		if status == "sleeping" {
			wantWake = wake.Add(-90 * time.Minute)
		}
		require.True(t, got.WakeAt.Equal(wantWake), "%s: wake %s, want %s", status, got.WakeAt, wantWake)
	}
	var gotDeadline time.Time
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT deadline_at FROM flow_run WHERE id = $1`, runs["sleeping"].ID).Scan(&gotDeadline))
	require.True(t, gotDeadline.Equal(deadline.Add(-90*time.Minute)))
}
