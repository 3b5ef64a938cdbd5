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
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "tick"}, flow.CronTrigger("@every 1s"),
			func(ctx context.Context, in flow.Input[flow.ScheduledTimer]) (any, error) {
				return in.Event.Name + " " + in.Event.Data.Cron, nil
			})
		require.NoError(t, err)
	})
	var err error

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

// The TZ= (or CRON_TZ=) prefix decides when a schedule fires: 09:00 in
// Kathmandu (UTC+05:45) is 03:15 UTC, not 09:00 UTC nor the machine's
// 09:00. The half-and-quarter-hour offset cannot match any local zone the
// tests might run in by accident.
func TestCronTimeZoneDecidesWhenItFires(t *testing.T) {
	t.Parallel()
	from := time.Date(2026, time.March, 10, 12, 0, 0, 0, time.UTC)
	for _, spec := range []string{"TZ=Asia/Kathmandu 0 9 * * *", "CRON_TZ=Asia/Kathmandu 0 9 * * *"} {
		sched, err := flow.ParseCron(spec)
		require.NoError(t, err, spec)
		next := sched.Next(from)
		require.Equal(t, time.Date(2026, time.March, 11, 3, 15, 0, 0, time.UTC), next.UTC(), spec)
		require.Equal(t, time.Date(2026, time.March, 12, 3, 15, 0, 0, time.UTC), sched.Next(next).UTC(), spec)
	}
}
