package flow_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

func TestSleepHoldsNoWorker(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	cfg := testConfig()
	cfg.Workers = 1
	c := newClient(t, pool, cfg)

	// Every sleeper sleeps until the same time, fixed before any run starts,
	// so that the quick run below must finish while they all sleep.
	wake := time.Now().Add(2 * time.Second)
	var sleepersEntered atomic.Int32
	_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "sleeper"}, flow.EventTrigger("test/sleeper"),
		func(ctx context.Context, in flow.Input[any]) (any, error) {
			sleepersEntered.Add(1)
			if err := flow.SleepUntil(ctx, "until", wake); err != nil {
				return nil, err
			}
			return "rested", nil
		})
	require.NoError(t, err)
	_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "quick"}, flow.EventTrigger("test/quick"),
		func(ctx context.Context, in flow.Input[any]) (any, error) {
			return flow.Step(ctx, "q", func(ctx context.Context) (string, error) { return "fast", nil })
		})
	require.NoError(t, err)
	start(t, c)

	ctx := testCtx(t)
	var sleepers []string
	for i := 0; i < 5; i++ {
		sleepers = append(sleepers, sendOne(t, c, flow.Event{Name: "test/sleeper"})...)
	}
	require.Len(t, sleepers, 5)
	require.Eventually(t, func() bool {
		for _, id := range sleepers {
			run, err := c.GetRun(ctx, id)
			if err != nil || run.Status != flow.RunSleeping {
				return false
			}
		}
		return true
	}, 10*time.Second, 10*time.Millisecond, "all sleepers must reach the sleeping state with one worker")

	quick := awaitOnly(t, c, flow.Event{Name: "test/quick"})
	require.Equal(t, flow.RunCompleted, quick.Status, quick.Error)
	for _, id := range sleepers {
		run, err := c.GetRun(ctx, id)
		require.NoError(t, err)
		require.Equal(t, flow.RunSleeping, run.Status, "run %s must still sleep after the quick run completed on the only worker", id)
		require.NotNil(t, run.WakeAt)
		require.WithinDuration(t, wake, *run.WakeAt, time.Millisecond)
		require.Len(t, run.Steps, 1)
		require.Equal(t, "sleeping", run.Steps[0].Status)
	}
	require.True(t, time.Now().Before(wake), "the quick run completed after the sleepers' wake time: the check above proved nothing")

	for _, id := range sleepers {
		run, err := c.AwaitRun(ctx, id)
		require.NoError(t, err)
		require.Equal(t, flow.RunCompleted, run.Status, run.Error)
		require.NotNil(t, run.EndedAt)
		require.False(t, run.EndedAt.Before(wake), "run %s ended before its wake time", id)
		require.Equal(t, "completed", run.Steps[0].Status)
	}
	require.EqualValues(t, 10, sleepersEntered.Load(), "each sleeper runs once to sleep and once to finish")
}

// sleepNoSuspendTest runs a function whose only steps are the given sleeps,
// which are all over when called, and checks that the run completed without
// suspending: the handler ran once.
func sleepNoSuspendTest(t *testing.T, sleeps map[string]func(ctx context.Context, id string) error, order []string) {
	t.Helper()
	pool := flowtest.Pool(t)
	c := newClient(t, pool, nil)

	var entered atomic.Int32
	_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "no-nap"}, flow.EventTrigger("test/no-nap"),
		func(ctx context.Context, in flow.Input[any]) (any, error) {
			entered.Add(1)
			for _, id := range order {
				if err := sleeps[id](ctx, id); err != nil {
					return nil, err
				}
			}
			return "awake", nil
		})
	require.NoError(t, err)
	start(t, c)

	run := awaitOnly(t, c, flow.Event{Name: "test/no-nap"})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.EqualValues(t, 1, entered.Load(), "a sleep that is already over must not suspend the run")
	require.Equal(t, order, stepIDs(run))
	for _, st := range run.Steps {
		require.Equal(t, "sleep", st.Kind, st.ID)
		require.Equal(t, "completed", st.Status, st.ID)
	}
	var out string
	require.NoError(t, run.DecodeOutput(&out))
	require.Equal(t, "awake", out)
}

func TestSleepUntilPastReturnsAtOnce(t *testing.T) {
	t.Parallel()
	sleepNoSuspendTest(t, map[string]func(ctx context.Context, id string) error{
		"past": func(ctx context.Context, id string) error {
			return flow.SleepUntil(ctx, id, time.Now().Add(-time.Hour))
		},
		"epoch": func(ctx context.Context, id string) error { return flow.SleepUntil(ctx, id, time.Time{}) },
	}, []string{"past", "epoch"})
}

func TestSleepZeroReturnsAtOnce(t *testing.T) {
	t.Parallel()
	sleepNoSuspendTest(t, map[string]func(ctx context.Context, id string) error{
		"zero":     func(ctx context.Context, id string) error { return flow.Sleep(ctx, id, 0) },
		"negative": func(ctx context.Context, id string) error { return flow.Sleep(ctx, id, -time.Second) },
	}, []string{"zero", "negative"})
}
