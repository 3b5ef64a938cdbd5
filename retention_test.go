package flow_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

func TestDeleteExpiredKeepsLiveRuns(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	cfg := testConfig()
	cfg.RetentionPeriod = time.Nanosecond // everything ended is expired at once
	c := flowtest.ClientOn(t, pool, cfg, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "quick"}, flow.EventTrigger("test/quick"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				return flow.Step(ctx, "s", func(ctx context.Context) (int, error) { return 1, nil })
			})
		require.NoError(t, err)
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "waits"}, flow.EventTrigger("test/waits"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				return nil, flow.Sleep(ctx, "long", time.Hour)
			})
		require.NoError(t, err)
	})
	var err error
	ctx := testCtx(t)

	done := awaitOnly(t, c, flow.Event{Name: "test/quick"})
	require.Equal(t, flow.RunCompleted, done.Status)
	sleeping := sendOne(t, c, flow.Event{Name: "test/waits"})[0]
	require.Eventually(t, func() bool {
		r, err := c.GetRun(ctx, sleeping)
		require.NoError(t, err)
		return r.Status == flow.RunSleeping
	}, 10*time.Second, 10*time.Millisecond)

	n, err := c.DeleteExpired(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
	_, err = c.GetRun(ctx, done.ID)
	require.ErrorIs(t, err, flow.ErrNotFound)
	var steps, events int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM flow_step WHERE run_id = $1", done.ID).Scan(&steps))
	require.Zero(t, steps)
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM flow_event WHERE id = $1", done.EventID).Scan(&events))
	require.Zero(t, events)

	r, err := c.GetRun(ctx, sleeping)
	require.NoError(t, err, "a run that has not ended is kept")
	require.Equal(t, flow.RunSleeping, r.Status)
}

// Retention deletes an event together with the claim on its sender's ID:
// resending that ID afterwards stores a new event (and starts its runs)
// instead of answering with the ID of an event that no longer exists.
func TestRetentionForgetsDeletedEventsIDs(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	cfg := testConfig()
	cfg.RetentionPeriod = time.Nanosecond // everything is expired at once
	c := newClient(t, pool, cfg)
	ctx := testCtx(t)
	ev := flow.Event{ID: "order-1", Name: "test/retained"}

	first, err := c.Send(ctx, ev)
	require.NoError(t, err)
	again, err := c.Send(ctx, ev)
	require.NoError(t, err)
	require.Equal(t, first, again, "within its 24 hours, a resent ID is a duplicate")

	_, err = c.DeleteExpired(ctx)
	require.NoError(t, err)
	_, err = c.GetEvent(ctx, first[0])
	require.ErrorIs(t, err, flow.ErrNotFound, "retention deleted the event")

	resent, err := c.Send(ctx, ev)
	require.NoError(t, err)
	require.NotEqual(t, first, resent, "the resent ID returned the deleted event's ID")
	stored, err := c.GetEvent(ctx, resent[0])
	require.NoError(t, err, "the resent event is stored")
	require.Equal(t, "order-1", stored.DedupeID)

	dup, err := c.Send(ctx, ev)
	require.NoError(t, err)
	require.Equal(t, resent, dup, "the new event holds the ID for its own 24 hours")
}
