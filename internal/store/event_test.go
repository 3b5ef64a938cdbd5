package store_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/internal/store"
)

// Storing an event starts a run of each function with a plain trigger for
// it and says whether open waits may match; a dedupe ID is claimed by the
// first event only; the undo removes the event, its runs and its claim.
func TestInsertEventAndStartRuns(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.NoError(t, b.store.RegisterFunction(b.ctx, store.Function{ID: "send/a", Name: "a", Config: []byte(`{}`)},
		[]store.Trigger{{EventName: "send/ev"}}, false))
	require.NoError(t, b.store.RegisterFunction(b.ctx, store.Function{ID: "send/if", Name: "if", Config: []byte(`{}`)},
		[]store.Trigger{{EventName: "send/ev", Expression: "event.data.n > 1"}}, false))

	id := b.newID(t)
	dedupe := "once"
	held, err := b.store.ClaimDedupe(b.ctx, b.pool, dedupe, id)
	require.NoError(t, err)
	require.Equal(t, id, held)
	res, err := b.store.InsertEventAndStartRuns(b.ctx, b.pool, store.Send{
		ID: id, Name: "send/ev", Data: []byte(`{"n":2}`), Ts: time.Now(), DedupeID: &dedupe, Queue: "default",
	})
	require.NoError(t, err)
	require.Len(t, res.RunIDs, 1)
	require.Equal(t, []string{"send/a"}, res.FunctionIDs)
	require.Equal(t, []string{"send/if"}, res.DeferredFunctionIDs, "the If condition is the caller's")
	require.Equal(t, []string{"event.data.n > 1"}, res.DeferredExpressions)
	require.False(t, res.HasWaits)

	ev, err := b.store.GetEvent(b.ctx, b.pool, id)
	require.NoError(t, err)
	require.Equal(t, "send/ev", ev.Name)
	require.Equal(t, dedupe, *ev.DedupeID)
	held, err = b.store.ClaimDedupe(b.ctx, b.pool, dedupe, b.newID(t))
	require.NoError(t, err)
	require.Equal(t, id, held, "a duplicate gets the first event's ID")

	require.NoError(t, b.store.UndoEventInsert(b.ctx, b.pool, id, &dedupe))
	_, err = b.store.GetEvent(b.ctx, b.pool, id)
	require.ErrorIs(t, err, pgx.ErrNoRows)
	_, err = b.store.GetRun(b.ctx, b.pool, res.RunIDs[0])
	require.ErrorIs(t, err, pgx.ErrNoRows, "the undo removes the runs the event started")
}

// An open wait matches an event of its name whose value at its match path
// is the wait's; the first sender to delete it consumes it.
func TestMatchWaits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	run := b.newRun(t, "wait/match")
	require.NoError(t, b.store.InsertWait(b.ctx, b.pool, store.Wait{
		RunID: run.ID, StepID: "w", Alt: 0, Kind: "wait", EventName: "wait/ev", MatchPath: "data.id", MatchValue: []byte(`"a"`),
	}))
	res, err := b.store.InsertEventAndStartRuns(b.ctx, b.pool, store.Send{ID: b.newID(t), Name: "wait/ev", Data: []byte(`{"id":"a"}`), Ts: time.Now(), Queue: "default"})
	require.NoError(t, err)
	require.True(t, res.HasWaits)

	none, err := b.store.MatchWaits(b.ctx, b.pool, "wait/ev", []byte(`{"name":"wait/ev","data":{"id":"b"}}`))
	require.NoError(t, err)
	require.Empty(t, none, "another value at the match path")
	matches, err := b.store.MatchWaits(b.ctx, b.pool, "wait/ev", []byte(`{"name":"wait/ev","data":{"id":"a"}}`))
	require.NoError(t, err)
	require.Equal(t, []store.WaitMatch{{RunID: run.ID, StepID: "w", Alt: 0, Kind: "wait"}}, matches)

	deleted, err := b.store.DeleteWait(b.ctx, b.pool, run.ID, "w")
	require.NoError(t, err)
	require.True(t, deleted)
	deleted, err = b.store.DeleteWait(b.ctx, b.pool, run.ID, "w")
	require.NoError(t, err)
	require.False(t, deleted, "consumed once")
}
