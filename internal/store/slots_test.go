package store_test

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// TestFreeDanglingSlotsKeepsWholeRunSlots: the sweeper frees a slot held by
// a run that is not running, unless it is the whole-run slot (chold, the
// run's own cslot) of a run that has not ended; a whole-run slot of an
// ended run, or one the run does not name as its own (a claim whose run
// changed under it), is freed.
func TestFreeDanglingSlotsKeepsWholeRunSlots(t *testing.T) {
	t.Parallel()
	b := setup(t)
	newRun := func(status string, hold bool, cslot *int) string {
		t.Helper()
		var id string
		require.NoError(t, b.pool.QueryRow(b.ctx, `
			INSERT INTO flow_run (id, function_id, event_id, status, ckey1, climit1, cslot1, chold1, order_at)
			VALUES (flow_uuid_v7(), 'slots/fn', flow_uuid_v7(), $1, 'k', 5, $2, $3, now())
			RETURNING id::text`, status, cslot, hold).Scan(&id))
		return id
	}
	n := func(i int) *int { return &i }
	sleepingWhole := newRun("sleeping", true, n(0))
	queuedWhole := newRun("queued", true, n(1))
	sleepingStep := newRun("sleeping", false, n(2))
	strayWhole := newRun("queued", true, nil) // its claim's slot never became its own
	endedWhole := newRun("completed", true, n(4))
	_, err := b.pool.Exec(b.ctx, `SELECT flow_slot_ensure('k', 5)`)
	require.NoError(t, err)
	for i, id := range []string{sleepingWhole, queuedWhole, sleepingStep, strayWhole, endedWhole} {
		_, err := b.pool.Exec(b.ctx, `UPDATE flow_concurrency_slot SET run_id = $1 WHERE key = 'k' AND n = $2`, id, i)
		require.NoError(t, err)
	}

	require.NoError(t, b.store.FreeDanglingSlots(b.ctx))
	rows, err := b.pool.Query(b.ctx, `SELECT run_id::text FROM flow_concurrency_slot WHERE key = 'k' AND run_id IS NOT NULL ORDER BY n`)
	require.NoError(t, err)
	held, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{sleepingWhole, queuedWhole}, held)
}
