package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/internal/engine"
)

// TestPausedCronTickIsSkipped: a tick of a paused function's cron trigger
// stores no event and starts no run (Inngest skips them too), and completes
// its job without error.
func TestPausedCronTickIsSkipped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	e := b.newEngine(t, testConfig("cron-pause"), false, engine.FunctionSpec{
		ID: "nightly", Name: "nightly", Triggers: []engine.Trigger{{Cron: "@every 1h"}},
		Call: func(ctx context.Context, in *engine.RunInput) (any, error) { return nil, nil },
	})
	paused, err := e.PauseFunction(b.ctx, "nightly")
	require.NoError(t, err)
	require.True(t, paused)
	again, err := e.PauseFunction(b.ctx, "nightly")
	require.NoError(t, err)
	require.False(t, again, "paused already")

	require.NoError(t, e.WorkCronTick(b.ctx, "nightly", "@every 1h", time.Now().UTC().Truncate(time.Second)))
	var events, runs int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT (SELECT count(*) FROM flow_event), (SELECT count(*) FROM flow_run)`).Scan(&events, &runs))
	require.Zero(t, events, "a skipped tick stores no event")
	require.Zero(t, runs, "a skipped tick starts no run")

	n, resumed, err := e.ResumeFunction(b.ctx, "nightly")
	require.NoError(t, err)
	require.True(t, resumed)
	require.Zero(t, n, "no run was held: the skipped tick is not fired late")
}

// TestPauseUnknownFunction: pausing or resuming a function neither
// registered nor defined is ErrNotFound, and writes nothing.
func TestPauseUnknownFunction(t *testing.T) {
	t.Parallel()
	b := setup(t)
	e := b.newEngine(t, testConfig("pause-unknown"), false)
	_, err := e.PauseFunction(b.ctx, "ghost")
	require.ErrorIs(t, err, engine.ErrNotFound)
	_, _, err = e.ResumeFunction(b.ctx, "ghost")
	require.ErrorIs(t, err, engine.ErrNotFound)
	var n int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM flow_function_pause`).Scan(&n))
	require.Zero(t, n)
}
