package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/internal/engine"
)

// TestHeartbeatConfirmsFunctions: a started engine keeps moving the
// registry's updated_at of the functions it defines to now, and leaves the
// functions it does not define alone; once stopped, it confirms nothing.
func TestHeartbeatConfirmsFunctions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cfg := testConfig("beater")
	cfg.HeartbeatInterval = 20 * time.Millisecond
	noop := func(context.Context, *engine.RunInput) (any, error) { return nil, nil }
	e := b.newEngine(t, cfg, false, engine.FunctionSpec{ID: "mine", Name: "mine", Triggers: []engine.Trigger{{Event: "hb/e"}}, Call: noop})
	require.NoError(t, e.Start(b.ctx, func(context.Context) error { return nil }))
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			require.NoError(t, e.Stop(context.Background()))
		}
	})
	_, err := b.pool.Exec(b.ctx, `INSERT INTO flow_function (id, name, retries) VALUES ('theirs', 'theirs', 4)`)
	require.NoError(t, err)

	age := func() {
		t.Helper()
		_, err := b.pool.Exec(b.ctx, `UPDATE flow_function SET updated_at = now() - interval '1 hour'`)
		require.NoError(t, err)
	}
	fresh := func(id string) bool {
		t.Helper()
		var ok bool
		require.NoError(t, b.pool.QueryRow(b.ctx,
			`SELECT updated_at > now() - interval '1 minute' FROM flow_function WHERE id = $1`, id).Scan(&ok))
		return ok
	}
	age()
	require.Eventually(t, func() bool { return fresh("mine") }, 10*time.Second, 5*time.Millisecond,
		"the started engine confirms its function")
	require.False(t, fresh("theirs"), "a function the engine does not define is not confirmed")

	require.NoError(t, e.Stop(b.ctx))
	stopped = true
	age()
	// Stop waits for the heartbeat loop to return, so nothing confirms the
	// function any more: the row stays as old as it was made.
	require.False(t, fresh("mine"), "a stopped engine confirms nothing")
}
