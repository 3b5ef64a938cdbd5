package flow_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// An event that arrives while its run executes (one Parallel branch waits,
// another runs a step) still resumes the waiting branch: the sender resolves
// the wait, and the segment, when it suspends, finds it resolved.
func TestWaitResolvedWhileRunExecutes(t *testing.T) {
	t.Parallel()
	stepStarted := make(chan struct{}, 1)
	release := make(chan struct{})

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "wait-while-running"}, flow.EventTrigger("wwr/start"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				out, err := flow.Parallel(ctx,
					func(ctx context.Context) (string, error) {
						ev, err := flow.WaitForEvent[map[string]string](ctx, "wait-x", flow.WaitOpts{Event: "wwr/x", Timeout: time.Minute})
						if err != nil {
							return "", err
						}
						return ev.Data["v"], nil
					},
					func(ctx context.Context) (string, error) {
						if err := flow.Sleep(ctx, "nap", 50*time.Millisecond); err != nil {
							return "", err
						}
						return flow.Step(ctx, "slow", func(ctx context.Context) (string, error) {
							stepStarted <- struct{}{}
							select {
							case <-release:
							case <-ctx.Done():
								return "", ctx.Err()
							}
							return "slow done", nil
						})
					})
				if err != nil {
					return nil, err
				}
				return out, nil
			})
		require.NoError(t, err)
	})
	ctx := testCtx(t)

	runID := sendOne(t, c, flow.Event{Name: "wwr/start"})[0]
	select {
	case <-stepStarted: // the wait is registered (first segment), and the run executes again
	case <-ctx.Done():
		t.Fatal("the slow step never started")
	}
	r, err := c.GetRun(ctx, runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunRunning, r.Status)

	_, err = c.Send(ctx, flow.Event{Name: "wwr/x", Data: map[string]string{"v": "from x"}})
	require.NoError(t, err)
	close(release)

	awaitCtx, cancel := context.WithTimeout(ctx, 20*time.Second) // the wait's own timeout is a minute
	defer cancel()
	run, err := c.AwaitRun(awaitCtx, runID)
	require.NoError(t, err, "the event sent while the run executed was lost")
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	var out []string
	require.NoError(t, run.DecodeOutput(&out))
	require.Equal(t, []string{"from x", "slow done"}, out)
}
