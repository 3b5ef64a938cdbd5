package flowtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// AwaitWaiting returns once the wait is registered: an event sent then
// resumes the run, with no sleep in the test.
func TestAwaitWaitingThenSend(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, nil, defineOnboard(t))
	runID := flowtest.StartRun(t, c, flow.Event{Name: "user/signed.up", Data: signedUp{UserID: "w"}})
	run := flowtest.AwaitSleeping(t, c, runID, "wait-a-day")
	require.Equal(t, flow.RunSleeping, run.Status)
	flowtest.Advance(t, c, 24*time.Hour)

	run = flowtest.AwaitWaiting(t, c, runID, "wait-activation")
	require.Equal(t, flow.RunWaiting, run.Status)
	_, err := c.Send(t.Context(), flow.Event{Name: "user/activated", Data: signedUp{UserID: "w"}})
	require.NoError(t, err)
	run, err = c.AwaitRun(t.Context(), runID)
	require.NoError(t, err)
	require.JSONEq(t, `"welcome acct-w"`, string(run.Output))
}

// AwaitSleeping and AwaitWaiting fail, saying why, when the run ends first,
// goes past the step, or the step is of another kind.
func TestAwaitStepFailures(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, nil, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "quick"}, flow.EventTrigger("test/quick"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				return flow.Step(ctx, "only", func(ctx context.Context) (int, error) { return 1, nil })
			})
		require.NoError(t, err)
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "nap"}, flow.EventTrigger("test/nap"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				if err := flow.Sleep(ctx, "nap", time.Millisecond); err != nil {
					return nil, err
				}
				return nil, flow.Sleep(ctx, "long", time.Hour)
			})
		require.NoError(t, err)
	})
	quick := flowtest.StartRun(t, c, flow.Event{Name: "test/quick"})
	_, err := c.AwaitRun(t.Context(), quick)
	require.NoError(t, err)
	msg := fatalOf(t, func(tb testing.TB) { flowtest.AwaitWaiting(tb, c, quick, "never") })
	require.Contains(t, msg, "ended as completed () before it was waiting in step \"never\"")
	msg = fatalOf(t, func(tb testing.TB) { flowtest.AwaitSleeping(tb, c, quick, "only") })
	require.Contains(t, msg, `step "only" of run `+quick+` is a run step, not one that can be sleeping`)

	nap := flowtest.StartRun(t, c, flow.Event{Name: "test/nap"})
	flowtest.AwaitSleeping(t, c, nap, "long")
	msg = fatalOf(t, func(tb testing.TB) { flowtest.AwaitSleeping(tb, c, nap, "nap") })
	require.Contains(t, msg, `went past step "nap" (completed)`)
	msg = fatalOf(t, func(tb testing.TB) { flowtest.AwaitWaiting(tb, c, nap, "long") })
	require.Contains(t, msg, `is a sleep step, not one that can be waiting`)

	_, err = c.GetRun(context.Background(), nap)
	require.NoError(t, err)
}
