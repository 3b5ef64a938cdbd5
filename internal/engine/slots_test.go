package engine_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/internal/registry"
)

// A run of a function with a concurrency limit of 1 claims the key's free
// slot; a second run finds none and parks (queued, in line, its job held
// back); the first run's end frees the slot and wakes the parked run, which
// then runs, long before its own recheck (a minute).
func TestSlotClaimParkFreeWake(t *testing.T) {
	t.Parallel()
	b := setup(t)
	h := newHolding()
	released := false
	defer func() {
		if !released {
			close(h.release)
		}
	}()
	spec := h.spec("slots/one", "test/slot")
	spec.Control = &registry.Control{Concurrency: []registry.Concurrency{{Limit: 1}}}
	e := b.newEngine(t, testConfig("slots"), true, spec)
	b.start(t, e)

	b.send(t, e, "test/slot", map[string]any{})
	first := h.next(t)
	var key string
	var slot *int32
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT ckey1, cslot1 FROM flow_run WHERE id = $1`, first).Scan(&key, &slot))
	require.NotNil(t, slot)
	holders := func() []*string {
		rows, err := b.pool.Query(b.ctx, `SELECT run_id::text FROM flow_concurrency_slot WHERE key = $1 ORDER BY n`, key)
		require.NoError(t, err)
		ids, err := pgx.CollectRows(rows, pgx.RowTo[*string])
		require.NoError(t, err)
		return ids
	}
	require.Equal(t, []*string{&first}, holders(), "the first run holds the key's one slot")

	second := b.runOfEvent(t, b.send(t, e, "test/slot", map[string]any{}))
	eventually(t, 5*time.Second, func() bool {
		var waiting int
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM flow_slot_waiter WHERE run_id = $1`, second).Scan(&waiting))
		return waiting == 1
	}, "the second run parks")
	var slotWait *int16
	var state string
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		SELECT r.slot_wait, j.state::text FROM flow_run r JOIN river_job j ON j.id = r.job_id WHERE r.id = $1`,
		second).Scan(&slotWait, &state))
	require.Equal(t, "queued", b.run(t, second).Status)
	require.NotNil(t, slotWait, "parked for its key")
	require.Equal(t, "scheduled", state, "its job waits for a wake (or its recheck)")
	select {
	case id := <-h.entered:
		t.Fatalf("run %s ran while the slot was taken", id)
	default:
	}

	close(h.release)
	released = true
	require.Equal(t, second, h.next(t), "the parked run is woken and runs")
	eventually(t, 5*time.Second, func() bool { return b.run(t, second).Status == "completed" }, "the second run completes")
	require.Equal(t, "completed", b.run(t, first).Status)
	var inOrder bool
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		SELECT (SELECT started_at FROM flow_run WHERE id = $2) >= (SELECT ended_at FROM flow_run WHERE id = $1)`,
		first, second).Scan(&inOrder))
	require.True(t, inOrder, "the second run started after the first ended")
	require.Equal(t, []*string{nil}, holders(), "the slot is free again")
}

// The sql/002 trigger frees a run's slot in the statement that takes it out
// of running, whatever writes the status, and takes a parked run out of
// line once it leaves the queue. In a transaction rolled back at the end.
func TestSlotTriggerFreesOnStatusChange(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(b.ctx) }()

	var running, parked string
	require.NoError(t, tx.QueryRow(b.ctx, `
		INSERT INTO flow_run (id, function_id, event_id, status, ckey1, climit1, cslot1, order_at)
		VALUES (flow_uuid_v7(), 'slots/fn', flow_uuid_v7(), 'running', 'k', 1, 0, now())
		RETURNING id::text`).Scan(&running))
	require.NoError(t, tx.QueryRow(b.ctx, `
		INSERT INTO flow_run (id, function_id, event_id, status, ckey1, climit1, slot_wait, order_at)
		VALUES (flow_uuid_v7(), 'slots/fn', flow_uuid_v7(), 'queued', 'k', 1, 1, now())
		RETURNING id::text`).Scan(&parked))
	_, err = tx.Exec(b.ctx, `SELECT flow_slot_ensure('k', 1)`)
	require.NoError(t, err)
	_, err = tx.Exec(b.ctx, `UPDATE flow_concurrency_slot SET run_id = $1 WHERE key = 'k' AND n = 0`, running)
	require.NoError(t, err)
	_, err = tx.Exec(b.ctx, `INSERT INTO flow_slot_waiter (key, order_at, run_id) SELECT 'k', order_at, id FROM flow_run WHERE id = $1`, parked)
	require.NoError(t, err)

	count := func(sql string, args ...any) int {
		var n int
		require.NoError(t, tx.QueryRow(b.ctx, sql, args...).Scan(&n))
		return n
	}
	_, err = tx.Exec(b.ctx, `UPDATE flow_run SET status = 'sleeping' WHERE id = $1`, running)
	require.NoError(t, err)
	require.Zero(t, count(`SELECT count(*) FROM flow_concurrency_slot WHERE key = 'k' AND run_id IS NOT NULL`), "the slot is freed")
	require.Equal(t, 1, count(`SELECT count(*) FROM flow_slot_waiter WHERE run_id = $1`, parked), "a parked run stays in line")

	_, err = tx.Exec(b.ctx, `UPDATE flow_run SET status = 'cancelled' WHERE id = $1`, parked)
	require.NoError(t, err)
	require.Zero(t, count(`SELECT count(*) FROM flow_slot_waiter WHERE run_id = $1`, parked), "out of line once it leaves the queue")
}

// The sql/005 trigger keeps a whole-run slot (chold) while the run sleeps,
// is queued or runs again, frees its step-level key's slot each time it
// stops running, and frees the whole-run slot once, when the run ends,
// even if it ends sleeping (a cancel). In a transaction rolled back at the
// end.
func TestSlotTriggerKeepsWholeRunSlot(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(b.ctx) }()

	var run string
	require.NoError(t, tx.QueryRow(b.ctx, `
		INSERT INTO flow_run (id, function_id, event_id, status, ckey1, climit1, cslot1, chold1, ckey2, climit2, cslot2, order_at)
		VALUES (flow_uuid_v7(), 'slots/fn', flow_uuid_v7(), 'running', 'whole', 1, 0, true, 'step', 1, 0, now())
		RETURNING id::text`).Scan(&run))
	_, err = tx.Exec(b.ctx, `SELECT flow_slot_ensure('whole', 1), flow_slot_ensure('step', 1)`)
	require.NoError(t, err)
	held := func() []string {
		rows, err := tx.Query(b.ctx, `SELECT key FROM flow_concurrency_slot WHERE run_id = $1 ORDER BY key`, run)
		require.NoError(t, err)
		keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return keys
	}
	setStatus := func(status string) {
		t.Helper()
		_, err := tx.Exec(b.ctx, `UPDATE flow_run SET status = $2 WHERE id = $1`, run, status)
		require.NoError(t, err)
	}
	take := func() {
		t.Helper()
		_, err := tx.Exec(b.ctx, `UPDATE flow_concurrency_slot SET run_id = $1 WHERE key = 'step' AND n = 0`, run)
		require.NoError(t, err)
	}
	_, err = tx.Exec(b.ctx, `UPDATE flow_concurrency_slot SET run_id = $1 WHERE n = 0`, run)
	require.NoError(t, err)
	require.Equal(t, []string{"step", "whole"}, held())

	setStatus("sleeping")
	require.Equal(t, []string{"whole"}, held(), "a sleeping run keeps its whole-run slot, frees its step-level one")
	setStatus("queued")
	require.Equal(t, []string{"whole"}, held(), "so does a queued one (woken, parked, backing off)")
	setStatus("running")
	take()
	setStatus("waiting")
	require.Equal(t, []string{"whole"}, held(), "and a waiting one")
	setStatus("cancelled")
	require.Empty(t, held(), "its end frees the whole-run slot, though it was not running")
}
