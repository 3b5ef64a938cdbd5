package engine_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/internal/engine"
	"github.com/riverflow/flow/internal/registry"
)

// A debounced run keeps the latest event by its ts, not the last to
// arrive, as Inngest's does (updateDebounce.lua): an older event that
// arrives later changes nothing, neither the run's event nor its start
// time, and a newer one replaces it and postpones the start.
func TestDebounceKeepsLatestByTimestamp(t *testing.T) {
	t.Parallel()
	b := setup(t)
	e := b.newEngine(t, testConfig("debounce-ts"), false)
	const fnID = "debounce-ts"
	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(b.ctx) }()
	require.NoError(t, registry.Register(b.ctx, tx, registry.Function{
		ID: fnID, Name: fnID, Triggers: []registry.Trigger{{Name: "test/" + fnID}},
		Control: &registry.Control{Debounce: &registry.Debounce{Period: time.Hour}},
	}))
	send := func(ts time.Time) string {
		t.Helper()
		ids, err := e.SendTx(b.ctx, tx, true, []engine.PreparedEvent{{Name: "test/" + fnID, Data: []byte(`{}`), TS: ts}})
		require.NoError(t, err)
		return ids[0]
	}
	c := &ctlCheck{t: t, b: b, tx: tx, fnID: fnID}
	now := time.Now()

	newer := send(now.Add(2 * time.Second))
	c.runs = ctlRuns(t, b, tx, fnID)
	require.Len(t, c.runs, 1)
	first := c.runs[0]

	send(now) // older, arriving later
	c.runs = ctlRuns(t, b, tx, fnID)
	require.Len(t, c.runs, 1, "the older event joins the debounce")
	kept := c.runs[0]
	require.Equal(t, newer, kept.EventID, "the run keeps the newer event")
	require.Equal(t, first.WakeAt, kept.WakeAt, "and its start time: the older event has no effect")
	require.Equal(t, first.JobScheduledAt, kept.JobScheduledAt, "nor does it move the run's job")

	latest := send(now.Add(3 * time.Second))
	c.runs = ctlRuns(t, b, tx, fnID)
	require.Len(t, c.runs, 1)
	require.Equal(t, latest, c.runs[0].EventID, "a newer event replaces it")
	require.True(t, c.runs[0].WakeAt.After(*first.WakeAt), "and postpones the start")
	require.Equal(t, c.runs[0].WakeAt.UnixMicro(), c.runs[0].JobScheduledAt.UnixMicro(), "its job moves with it")
}

// Two senders push one debounced run at once: the older event's push waits
// for the run's row while the newer one's transaction is open, and once that
// commits, compares with the newer event (which its statement's snapshot
// does not see) and keeps it.
func TestDebounceConcurrentPushKeepsLatest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	e := b.newEngine(t, testConfig("debounce-race"), false)
	const fnID = "debounce-race"
	now := time.Now()
	sendIn := func(tx pgx.Tx, ts time.Time) string {
		ids, err := e.SendTx(b.ctx, tx, true, []engine.PreparedEvent{{Name: "test/" + fnID, Data: []byte(`{}`), TS: ts}})
		require.NoError(t, err)
		return ids[0]
	}
	begin := func() pgx.Tx {
		tx, err := b.pool.Begin(b.ctx)
		require.NoError(t, err)
		t.Cleanup(func() { _ = tx.Rollback(b.ctx) })
		return tx
	}
	tx0 := begin()
	require.NoError(t, registry.Register(b.ctx, tx0, registry.Function{
		ID: fnID, Name: fnID, Triggers: []registry.Trigger{{Name: "test/" + fnID}},
		Control: &registry.Control{Debounce: &registry.Debounce{Period: time.Hour}},
	}))
	sendIn(tx0, now)
	require.NoError(t, tx0.Commit(b.ctx))

	newerTx := begin()
	newer := sendIn(newerTx, now.Add(10*time.Second))

	olderTx := begin()
	var pid uint32
	require.NoError(t, olderTx.QueryRow(b.ctx, "SELECT pg_backend_pid()").Scan(&pid))
	done := make(chan error, 1)
	go func() {
		_, err := e.SendTx(b.ctx, olderTx, true, []engine.PreparedEvent{{Name: "test/" + fnID, Data: []byte(`{}`), TS: now.Add(5 * time.Second)}})
		done <- err
	}()
	// The older event's push waits for the run's row lock.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting bool
		require.NoError(t, b.pool.QueryRow(b.ctx,
			"SELECT coalesce(wait_event_type = 'Lock', false) FROM pg_stat_activity WHERE pid = $1", pid).Scan(&waiting))
		if waiting {
			break
		}
		require.True(t, time.Now().Before(deadline), "the second push never waited for the run's lock")
		time.Sleep(5 * time.Millisecond)
	}
	require.NoError(t, newerTx.Commit(b.ctx))
	require.NoError(t, <-done)
	require.NoError(t, olderTx.Commit(b.ctx))

	var eventID string
	require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT event_id::text FROM flow_run WHERE function_id = $1", fnID).Scan(&eventID))
	require.Equal(t, newer, eventID, "the run keeps the newer event, committed while the older one's push waited")
}
