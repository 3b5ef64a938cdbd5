package store_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/internal/store"
)

// ListRuns pages runs newest first with their event's name, reads outputs
// only when asked, and filters by function and status; a nil status list
// selects every status.
func TestListRuns(t *testing.T) {
	t.Parallel()
	b := setup(t)
	older := b.newRun(t, "list/a")
	newer := b.newRun(t, "list/b")
	_, err := b.pool.Exec(b.ctx, `UPDATE flow_run SET status = 'completed', output = '{"ok":true}' WHERE id = $1`, older.ID)
	require.NoError(t, err)

	runs, err := b.store.ListRuns(b.ctx, store.RunListFilter{Max: 10})
	require.NoError(t, err)
	require.Len(t, runs, 2)
	require.Equal(t, []string{newer.ID, older.ID}, []string{runs[0].ID, runs[1].ID}, "newest first")
	require.Equal(t, "test/start", runs[1].EventName)
	require.Nil(t, runs[1].Output, "output only WithOutput")

	runs, err = b.store.ListRuns(b.ctx, store.RunListFilter{WithOutput: true, Statuses: []string{"completed"}, Max: 10})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, older.ID, runs[0].ID)
	require.JSONEq(t, `{"ok":true}`, string(runs[0].Output))

	fn := "list/b"
	runs, err = b.store.ListRuns(b.ctx, store.RunListFilter{FunctionID: &fn, Max: 10})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, newer.ID, runs[0].ID)

	runs, err = b.store.ListRuns(b.ctx, store.RunListFilter{BeforeID: &newer.ID, Max: 10})
	require.NoError(t, err)
	require.Len(t, runs, 1, "the page before the newer run")
	require.Equal(t, older.ID, runs[0].ID)
}

// CountRuns counts runs by function and status, in that order.
func TestCountRuns(t *testing.T) {
	t.Parallel()
	b := setup(t)
	done := b.newRun(t, "count/a")
	b.newRun(t, "count/a")
	b.newRun(t, "count/b")
	_, err := b.pool.Exec(b.ctx, `UPDATE flow_run SET status = 'completed' WHERE id = $1`, done.ID)
	require.NoError(t, err)

	counts, err := b.store.CountRuns(b.ctx, store.RunCountFilter{})
	require.NoError(t, err)
	require.Equal(t, []*store.RunCount{
		{FunctionID: "count/a", Status: "completed", N: 1},
		{FunctionID: "count/a", Status: "queued", N: 1},
		{FunctionID: "count/b", Status: "queued", N: 1},
	}, counts)

	fn := "count/b"
	counts, err = b.store.CountRuns(b.ctx, store.RunCountFilter{FunctionID: &fn})
	require.NoError(t, err)
	require.Equal(t, []*store.RunCount{{FunctionID: "count/b", Status: "queued", N: 1}}, counts)
}

// ListEvents pages events newest first, leaves out data longer than
// MaxData (its size still shown) and the names excluded; a nil exclusion
// list excludes nothing. ListEventRuns returns the runs the events started.
func TestListEventsAndTheirRuns(t *testing.T) {
	t.Parallel()
	b := setup(t)
	first := b.newRun(t, "events/a")
	second := b.newRun(t, "events/b")
	firstEvent, secondEvent := b.eventOf(t, first.ID), b.eventOf(t, second.ID)

	events, err := b.store.ListEvents(b.ctx, store.EventListFilter{MaxData: 1 << 20, Max: 10})
	require.NoError(t, err)
	require.Len(t, events, 2)
	require.Equal(t, []string{secondEvent, firstEvent}, []string{events[0].ID, events[1].ID}, "newest first")
	require.Equal(t, "test/start", events[0].Name)
	require.JSONEq(t, `{"fn":"events/b"}`, string(events[0].Data))
	require.Equal(t, int32(len(`{"fn": "events/b"}`)), events[0].DataSize)

	events, err = b.store.ListEvents(b.ctx, store.EventListFilter{MaxData: 4, Prefix: "test/", Max: 1})
	require.NoError(t, err)
	require.Len(t, events, 1)
	require.Nil(t, events[0].Data, "longer than MaxData")
	require.NotZero(t, events[0].DataSize)

	events, err = b.store.ListEvents(b.ctx, store.EventListFilter{MaxData: 1 << 20, ExcludeNames: []string{"test/start"}, Max: 10})
	require.NoError(t, err)
	require.Empty(t, events)

	runs, err := b.store.ListEventRuns(b.ctx, []string{firstEvent, secondEvent}, 10)
	require.NoError(t, err)
	require.Len(t, runs, 2)
	require.Equal(t, first.ID, runs[0].ID, "oldest first")
	require.Equal(t, "events/a", runs[0].FunctionID)
	require.Equal(t, secondEvent, runs[1].EventID)
}
