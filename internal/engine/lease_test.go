package engine_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/internal/engine"
)

// holding is a function whose runs block in their handler until the test
// lets them go: while they block, their segments run in the engine and
// their leases are the renewer's to keep.
type holding struct {
	entered chan string   // the ID of each run whose handler was called
	release chan struct{} // closed: every handler returns
}

func newHolding() *holding {
	return &holding{entered: make(chan string, 100), release: make(chan struct{})}
}

// spec is the function id, triggered by event, whose runs hold.
func (h *holding) spec(id, event string) engine.FunctionSpec {
	return engine.FunctionSpec{
		ID: id, Name: id, Triggers: []engine.Trigger{{Event: event}},
		Call: func(ctx context.Context, in *engine.RunInput) (any, error) {
			select {
			case h.entered <- in.RunID:
			default:
			}
			select {
			case <-h.release:
				return "released", nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		},
	}
}

// next returns the ID of the next run whose handler was called.
func (h *holding) next(t *testing.T) string {
	t.Helper()
	select {
	case id := <-h.entered:
		return id
	case <-time.After(10 * time.Second):
		t.Fatal("no run reached its handler")
		return ""
	}
}

// dbNow is the database's clock.
func (b *testBundle) dbNow(t *testing.T) time.Time {
	t.Helper()
	var now time.Time
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT clock_timestamp()`).Scan(&now))
	return now
}

// A run executing in the engine keeps its lease for as long as its handler
// runs, well past LeaseTTL: the renewer pushes the lease on, and the
// sweeper, which runs in the same engine, never takes the run over.
func TestLeaseRenewedByOwnerDoesNotLapse(t *testing.T) {
	t.Parallel()
	b := setup(t)
	h := newHolding()
	defer close(h.release)
	cfg := testConfig("lease-owner")
	cfg.LeaseTTL = 600 * time.Millisecond
	b.start(t, b.newEngine(t, cfg, true, h.spec("lease/hold", "test/hold")))
	b.send(t, nil, "test/hold", map[string]any{})
	run := h.next(t)

	first := b.run(t, run)
	require.Equal(t, "running", first.Status)
	require.Equal(t, cfg.ID, *first.LeaseOwner)
	// Past the first lease's end by two sweeps (LeaseTTL/2 each).
	until := first.LeaseExpiresAt.Add(cfg.LeaseTTL)
	var r runRow
	for now := b.dbNow(t); now.Before(until); now = b.dbNow(t) {
		r = b.run(t, run)
		require.Equal(t, "running", r.Status, "the run was taken from its live owner")
		require.Equal(t, first.Gen, r.Gen, "the run was taken from its live owner")
		require.Equal(t, cfg.ID, *r.LeaseOwner)
		time.Sleep(20 * time.Millisecond) // a poll, not a synchronisation
	}
	require.True(t, r.LeaseExpiresAt.After(first.LeaseExpiresAt.Add(cfg.LeaseTTL/2)), "the lease was renewed")
}

// The sweeper hands a run whose lease lapsed (its client died) to a new
// River job one gen on: queued, no lease, the new job available with the
// run's args. A run whose lease has not lapsed is left alone.
func TestSweeperTakesOverLapsedLease(t *testing.T) {
	t.Parallel()
	b := setup(t)
	lapsed := b.insertRun(t, "lease/fn", `status = 'running', gen = 2, lease_owner = 'dead-client',
		lease_expires_at = now() - interval '1 s', started_at = now() - interval '1 min'`)
	oldJob := b.insertJob(t, lapsed, 2, "lease/fn", time.Now())
	_, err := b.pool.Exec(b.ctx, `UPDATE flow_run SET job_id = $2 WHERE id = $1`, lapsed, oldJob)
	require.NoError(t, err)
	live := b.insertRun(t, "lease/fn", `status = 'running', gen = 2, lease_owner = 'live-client',
		lease_expires_at = now() + interval '1 hour'`)

	cfg := testConfig("sweeper")
	cfg.LeaseTTL = 300 * time.Millisecond // a sweep every 150 ms
	b.start(t, b.newEngine(t, cfg, false))

	eventually(t, 5*time.Second, func() bool { return b.run(t, lapsed).Gen != 2 }, "the lapsed run is taken over")
	r := b.run(t, lapsed)
	require.Equal(t, int32(3), r.Gen, "one gen on")
	require.Equal(t, "queued", r.Status)
	require.Nil(t, r.LeaseOwner)
	require.Nil(t, r.LeaseExpiresAt)
	require.NotNil(t, r.JobID)
	require.NotEqual(t, oldJob, *r.JobID, "a new job")
	var kind, queue, state string
	var args []byte
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT kind, queue, state::text, args FROM river_job WHERE id = $1`,
		*r.JobID).Scan(&kind, &queue, &state, &args))
	require.Equal(t, "flow_run", kind)
	require.Equal(t, "flow", queue)
	require.Equal(t, "available", state)
	var jobArgs map[string]any
	require.NoError(t, json.Unmarshal(args, &jobArgs))
	require.Equal(t, map[string]any{"run_id": lapsed, "gen": float64(3), "fn": "lease/fn"}, jobArgs)

	// Sweeps go on; the live run is never listed.
	l := b.run(t, live)
	require.Equal(t, "running", l.Status)
	require.Equal(t, int32(2), l.Gen)
}

// A run whose row another transaction holds (a StepTx in progress) is
// skipped by the renewer, not waited for: the engine's other runs keep
// their leases renewed meanwhile.
func TestRenewerSkipsLockedRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	h := newHolding()
	defer close(h.release)
	cfg := testConfig("lease-locked")
	cfg.LeaseTTL = 600 * time.Millisecond
	b.start(t, b.newEngine(t, cfg, true, h.spec("lease/hold", "test/hold")))
	b.send(t, nil, "test/hold", map[string]any{})
	b.send(t, nil, "test/hold", map[string]any{})
	locked, free := h.next(t), h.next(t)

	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(b.ctx) }()
	_, err = tx.Exec(b.ctx, `SELECT 1 FROM flow_run WHERE id = $1 FOR UPDATE`, locked)
	require.NoError(t, err)
	lockedLease, freeRun := *b.run(t, locked).LeaseExpiresAt, b.run(t, free)

	// Two renewals (LeaseTTL/3 each) of the free run while the other is held,
	// by this claim of it (same gen: not a takeover and a new claim).
	eventually(t, 5*time.Second, func() bool {
		r := b.run(t, free)
		require.Equal(t, freeRun.Gen, r.Gen, "the free run was taken over: its lease lapsed")
		return r.LeaseExpiresAt.After(freeRun.LeaseExpiresAt.Add(cfg.LeaseTTL / 2))
	}, "the free run's lease is renewed while the other run is locked")
	require.Equal(t, lockedLease, *b.run(t, locked).LeaseExpiresAt, "the locked run's lease is left to the statement that holds it")
	require.Equal(t, "running", b.run(t, free).Status)
}

// The sweeper skips a lapsed run whose row another transaction holds, and
// goes on with the next one; it takes the skipped run over once it is free.
func TestSweeperSkipsLockedRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// locked lapsed first: the sweeper meets it first (lease order).
	locked := b.insertRun(t, "lease/fn", `status = 'running', gen = 1, lease_owner = 'dead-client',
		lease_expires_at = now() - interval '2 s'`)
	next := b.insertRun(t, "lease/fn", `status = 'running', gen = 1, lease_owner = 'dead-client',
		lease_expires_at = now() - interval '1 s'`)
	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(b.ctx) }()
	_, err = tx.Exec(b.ctx, `SELECT 1 FROM flow_run WHERE id = $1 FOR UPDATE`, locked)
	require.NoError(t, err)

	cfg := testConfig("sweeper")
	cfg.LeaseTTL = 300 * time.Millisecond
	b.start(t, b.newEngine(t, cfg, false))

	eventually(t, 5*time.Second, func() bool { return b.run(t, next).Gen == 2 }, "the run after the locked one is taken over")
	r := b.run(t, locked)
	require.Equal(t, "running", r.Status)
	require.Equal(t, int32(1), r.Gen)

	require.NoError(t, tx.Rollback(b.ctx))
	eventually(t, 5*time.Second, func() bool { return b.run(t, locked).Gen == 2 }, "the run is taken over once free")
}
