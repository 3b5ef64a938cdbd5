package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/flowtest"
	"github.com/riverflow/flow/internal/store"
)

func TestMain(m *testing.M) { flowtest.Main(m) }

// testBundle is what a store test works with: a store on a database of its
// own.
type testBundle struct {
	ctx   context.Context
	pool  *pgxpool.Pool
	store *store.Store
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	pool := flowtest.Pool(t)
	return &testBundle{ctx: ctx, pool: pool, store: store.New(pool, time.Minute)}
}

// newRun registers function fnID (with triggers on the given events, if
// any) and creates a queued run of it for a new event; gen 0.
func (b *testBundle) newRun(t testing.TB, fnID string, triggers ...string) store.RunRef {
	t.Helper()
	var ts []store.Trigger
	for _, name := range triggers {
		ts = append(ts, store.Trigger{EventName: name})
	}
	require.NoError(t, b.store.RegisterFunction(b.ctx, store.Function{ID: fnID, Name: fnID, Config: []byte(`{}`)}, ts, false))
	eventID := b.newID(t)
	data, err := json.Marshal(map[string]string{"fn": fnID})
	require.NoError(t, err)
	require.NoError(t, b.store.InsertEvent(b.ctx, b.pool, store.Event{ID: eventID, Name: "test/start", Data: data, Ts: time.Now()}))
	runID, err := b.store.InsertRun(b.ctx, b.pool, fnID, eventID)
	require.NoError(t, err)
	return store.RunRef{ID: runID}
}

// claim claims run for a segment of this test's client, fast path.
func (b *testBundle) claim(t testing.TB, run store.RunRef) store.ClaimedRun {
	t.Helper()
	claimed, err := b.store.ClaimRun(b.ctx, store.ClaimParams{Run: run, JobID: ptr(int64(1)), Owner: ptr("test-client")})
	require.NoError(t, err)
	return claimed
}

// completed is a completed step row with output out.
func completed(id string, seq int32, out string) store.StepRecord {
	now := time.Now()
	return store.StepRecord{ID: id, Seq: seq, Kind: "run", Status: "completed", Attempts: 1,
		Output: []byte(out), StartedAt: now, EndedAt: &now}
}

// runStatus reads a run's status and gen.
func (b *testBundle) runStatus(t *testing.T, runID string) (string, int32) {
	t.Helper()
	run, err := b.store.GetRun(b.ctx, b.pool, runID)
	require.NoError(t, err)
	return run.Status, run.Gen
}

// eventOf returns the ID of a run's triggering event.
func (b *testBundle) eventOf(t *testing.T, runID string) string {
	t.Helper()
	run, err := b.store.GetRun(b.ctx, b.pool, runID)
	require.NoError(t, err)
	return run.EventID
}

// newID returns a new UUID from the database.
func (b *testBundle) newID(t testing.TB) string {
	t.Helper()
	var id string
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT flow_uuid_v7()::text`).Scan(&id))
	return id
}

// ptr returns a pointer to v, for the claim's job ID and owner.
func ptr[T any](v T) *T { return &v }
