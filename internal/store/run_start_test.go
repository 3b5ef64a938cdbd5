package store_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/internal/store"
)

// A controlled run may be the child of an Invoke step: GetChildRun finds it
// by the parent's run and step, and a second child for the same step is
// refused (no row), as RunInsertChild's is.
func TestInsertControlledRunChild(t *testing.T) {
	t.Parallel()
	b := setup(t)
	parent := b.newRun(t, "start/parent")
	eventID := b.newID(t)
	require.NoError(t, b.store.InsertEvent(b.ctx, b.pool, store.Event{ID: eventID, Name: "flow/function.invoked", Data: json.RawMessage(`{}`), Ts: time.Now()}))
	step := "invoke"
	childID := b.newID(t)
	_, err := b.store.InsertControlledRun(b.ctx, b.pool, store.ControlledRun{
		ID: childID, FunctionID: "start/child", EventID: eventID, Queue: "default",
		ParentRunID: &parent.ID, ParentStepID: &step,
	})
	require.NoError(t, err)
	child, err := b.store.GetChildRun(b.ctx, b.pool, parent.ID, step)
	require.NoError(t, err)
	require.Equal(t, childID, child.ID)

	_, err = b.store.InsertControlledRun(b.ctx, b.pool, store.ControlledRun{
		ID: b.newID(t), FunctionID: "start/child", EventID: eventID, Queue: "default",
		ParentRunID: &parent.ID, ParentStepID: &step,
	})
	require.ErrorIs(t, err, pgx.ErrNoRows, "one child per Invoke step")
}

// EventRunIDs finds the runs an event triggered and the batch runs it
// joined.
func TestEventRunIDs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	first := b.newRun(t, "start/plain")
	eventID := b.eventOf(t, first.ID)
	second, err := b.store.InsertRun(b.ctx, b.pool, "start/other", eventID)
	require.NoError(t, err)

	key := "start/batch\x1fbatch\x1f"
	batchEvent := b.newID(t)
	require.NoError(t, b.store.InsertEvent(b.ctx, b.pool, store.Event{ID: batchEvent, Name: "test/batch", Data: json.RawMessage(`{}`), Ts: time.Now()}))
	batchRun := b.newID(t)
	_, err = b.store.InsertControlledRun(b.ctx, b.pool, store.ControlledRun{
		ID: batchRun, FunctionID: "start/batch", EventID: batchEvent, Queue: "default",
		BatchKey: &key, BatchSize: ptr(int32(1)), Delay: time.Hour,
	})
	require.NoError(t, err)
	joined, err := b.store.AppendToBatch(b.ctx, b.pool, key, eventID, 10)
	require.NoError(t, err)
	require.Equal(t, batchRun, joined.ID)

	ids, err := b.store.EventRunIDs(b.ctx, b.pool, eventID)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{first.ID, second, batchRun}, ids)
	ids, err = b.store.EventRunIDs(b.ctx, b.pool, b.newID(t))
	require.NoError(t, err)
	require.Empty(t, ids)
}
