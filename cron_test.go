package flow_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

func TestCronTriggerStartsRuns(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := newClient(t, pool, nil)
	_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "tick"}, flow.CronTrigger("@every 1s"),
		func(ctx context.Context, in flow.Input[flow.ScheduledTimer]) (any, error) {
			return in.Event.Name + " " + in.Event.Data.Cron, nil
		})
	require.NoError(t, err)
	start(t, c)

	ctx := testCtx(t)
	var runs []*flow.Run
	require.Eventually(t, func() bool {
		runs, err = c.ListRuns(ctx, flow.RunFilter{FunctionID: "tick"})
		require.NoError(t, err)
		return len(runs) > 0
	}, 30*time.Second, 50*time.Millisecond)
	run, err := c.AwaitRun(ctx, runs[len(runs)-1].ID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	var out string
	require.NoError(t, run.DecodeOutput(&out))
	require.Equal(t, "flow/scheduled.timer @every 1s", out)
}
