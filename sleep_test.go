package flow_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

func TestSleepHoldsNoWorker(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Workers = 1
	var mu sync.Mutex
	entered := map[string]int{} // run ID -> how many times the sleeper ran

	c := flowtest.Client(t, cfg, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "sleeper"}, flow.EventTrigger("test/sleeper"),
			func(ctx context.Context, in flow.Input[sleeperData]) (any, error) {
				mu.Lock()
				entered[in.RunID]++
				mu.Unlock()
				if err := flow.SleepUntil(ctx, "until", in.Event.Data.Wake); err != nil {
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
	})

	// Every sleeper of a round sleeps until the same time, fixed before any
	// of them starts, and the quick run must finish on the only worker while
	// they all sleep. A loaded machine may not get that far before the wake
	// time: then the round proves nothing, and the next gives twice as long.
	for window := 2 * time.Second; ; window *= 2 {
		require.LessOrEqual(t, window, 32*time.Second, "no round got five sleepers asleep and a quick run done before their wake time")
		if sleepRound(t, c, window, func(id string) int {
			mu.Lock()
			defer mu.Unlock()
			return entered[id]
		}) {
			return
		}
		t.Logf("the round with a %s window ran past its wake time; trying a longer one", window)
	}
}

type sleeperData struct{ Wake time.Time }

// sleepRound starts five sleepers that sleep until window from now and a
// quick run, and checks that the quick run completes on the only worker
// while they all sleep. It reports false if the wake time passed before that
// could be seen (the round proved nothing); either way every sleeper must
// then complete, not before its wake time.
func sleepRound(t *testing.T, c *flow.Client, window time.Duration, entered func(runID string) int) bool {
	t.Helper()
	ctx := testCtx(t)
	wake := time.Now().Add(window)
	var sleepers []string
	for range 5 {
		sleepers = append(sleepers, sendOne(t, c, flow.Event{Name: "test/sleeper", Data: sleeperData{Wake: wake}})...)
	}
	require.Len(t, sleepers, 5)
	inTime := func() bool {
		for time.Now().Before(wake) {
			asleep := 0
			for _, id := range sleepers {
				run, err := c.GetRun(ctx, id)
				require.NoError(t, err)
				require.False(t, run.Status.Ended(), "run %s ended before its wake time", id)
				if run.Status == flow.RunSleeping {
					asleep++
				}
			}
			if asleep == len(sleepers) {
				return true
			}
			time.Sleep(10 * time.Millisecond)
		}
		return false
	}()
	if inTime {
		quick := awaitOnly(t, c, flow.Event{Name: "test/quick"})
		require.Equal(t, flow.RunCompleted, quick.Status, quick.Error)
		var runs []*flow.Run
		for _, id := range sleepers {
			run, err := c.GetRun(ctx, id)
			require.NoError(t, err)
			runs = append(runs, run)
		}
		// Only if every read above happened before the wake time must every
		// sleeper still sleep.
		inTime = time.Now().Before(wake)
		for _, run := range runs {
			if !inTime {
				break
			}
			require.Equal(t, flow.RunSleeping, run.Status, "run %s must still sleep after the quick run completed on the only worker", run.ID)
			require.NotNil(t, run.WakeAt)
			require.WithinDuration(t, wake, *run.WakeAt, time.Millisecond)
			require.Len(t, run.Steps, 1)
			require.Equal(t, "sleeping", run.Steps[0].Status)
		}
	}

	for _, id := range sleepers {
		run, err := c.AwaitRun(ctx, id)
		require.NoError(t, err)
		require.Equal(t, flow.RunCompleted, run.Status, run.Error)
		require.NotNil(t, run.EndedAt)
		require.False(t, run.EndedAt.Before(wake), "run %s ended before its wake time", id)
		require.Equal(t, "completed", run.Steps[0].Status)
		if inTime {
			require.Equal(t, 2, entered(id), "run %s runs once to sleep and once to finish", id)
		} else {
			// A sleeper that first ran after the wake time did not sleep.
			require.Contains(t, []int{1, 2}, entered(id), "run %s runs once to sleep and once to finish, or once", id)
		}
	}
	return inTime
}

// sleepNoSuspendTest runs a function whose only steps are the given sleeps,
// which are all over when called, and checks that the run completed without
// suspending: the handler ran once.
func sleepNoSuspendTest(t *testing.T, sleeps map[string]func(ctx context.Context, id string) error, order []string) {
	t.Helper()
	var entered atomic.Int32

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
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
	})

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
