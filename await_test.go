package flow_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// TestAwaitRunThroughConnectionsKilled kills every backend of the database
// while AwaitRun waits for a run that waits for an event: AwaitRun must look
// again once the database answers, and return the run completed by the
// event, not the error of its killed connection. The awaiting client has a
// pool of its own with one connection, never pinged before use, so its next
// look after the kill certainly meets the killed connection.
func TestAwaitRunThroughConnectionsKilled(t *testing.T) {
	t.Parallel()
	dbURL := flowtest.DatabaseURL(t)
	admin := resumeAdmin(t, dbURL)
	ctx := testCtx(t)

	c := flowtest.ClientOn(t, recoveryPool(t, dbURL), recoveryConfig("await-killed", 0), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "await/killed"}, flow.EventTrigger("await/start"),
			func(ctx context.Context, in flow.Input[struct{}]) (any, error) {
				ev, err := flow.WaitForEvent[string](ctx, "go", flow.WaitOpts{Event: "await/go", Timeout: time.Hour})
				if err != nil {
					return nil, err
				}
				return ev.Data, nil
			})
		require.NoError(t, err)
	})

	cfg, err := pgxpool.ParseConfig(dbURL)
	require.NoError(t, err)
	cfg.MaxConns = 1
	cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	awaitPool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(awaitPool.Close)
	awaiter := newClient(t, awaitPool, recoveryConfig("await-killed-awaiter", 0)) // not started: it polls

	runID := sendOne(t, c, flow.Event{Name: "await/start"})[0]
	flowtest.AwaitStatus(t, c, runID, flow.RunWaiting)
	// The awaiting pool's one connection exists before the kill.
	_, err = awaiter.GetRun(ctx, runID)
	require.NoError(t, err)

	type result struct {
		run *flow.Run
		err error
	}
	done := make(chan result, 1)
	go func() {
		run, err := awaiter.AwaitRun(ctx, runID)
		done <- result{run, err}
	}()

	require.Positive(t, resumeKillBackends(t, admin))
	// Sending may meet a killed connection of the sender's pool too: the
	// event's ID makes a second try harmless.
	require.Eventually(t, func() bool {
		_, err := c.Send(ctx, flow.Event{ID: "await-killed-go", Name: "await/go", Data: "went"})
		return err == nil
	}, 30*time.Second, 50*time.Millisecond, "the event could not be sent after the kill")

	select {
	case res := <-done:
		require.NoError(t, res.err)
		require.Equal(t, flow.RunCompleted, res.run.Status, res.run.Error)
		require.JSONEq(t, `"went"`, string(res.run.Output))
	case <-ctx.Done():
		t.Fatal("AwaitRun did not return")
	}
}
