package flowtest_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// fatalRecorder is a testing.TB whose Fatalf records the message and ends
// the calling goroutine, so that a test can check how a helper fails.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// fatalOf runs fn with a fatalRecorder and returns the message it failed
// with ("" if it did not fail).
func fatalOf(t *testing.T, fn func(tb testing.TB)) string {
	t.Helper()
	r := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(r)
	}()
	<-done
	return r.msg
}

// Advance(96 h) fires a 24 h sleep and the 72 h wait the run registers
// after it: the woken run stores its wait before time moves on.
func TestAdvanceFiresSleepThenWaitTimeoutInOneCall(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, nil, defineOnboard(t))
	runID := flowtest.StartRun(t, c, flow.Event{Name: "user/signed.up", Data: signedUp{UserID: "u"}})

	flowtest.Advance(t, c, 96*time.Hour)

	run, err := c.GetRun(t.Context(), runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, "Advance returns once the runs it woke have settled")
	require.JSONEq(t, `"remind acct-u"`, string(run.Output))
	statuses := map[string]string{}
	for _, st := range run.Steps {
		statuses[st.ID] = st.Status
	}
	require.Equal(t, map[string]string{"create-account": "completed", "wait-a-day": "completed",
		"wait-activation": "timed_out", "remind": "completed"}, statuses)
}

// Advancing by less than a sleep brings its end closer by that much and
// wakes nothing; the rest of the time then wakes it.
func TestAdvanceMovesLaterDueTimesCloser(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, nil, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "nap"}, flow.EventTrigger("test/nap"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				return "rested", flow.Sleep(ctx, "two-days", 48*time.Hour)
			})
		require.NoError(t, err)
	})
	runID := flowtest.StartRun(t, c, flow.Event{Name: "test/nap"})
	before := flowtest.AwaitSleeping(t, c, runID, "two-days")

	flowtest.Advance(t, c, 24*time.Hour)
	after, err := c.GetRun(t.Context(), runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunSleeping, after.Status)
	require.Equal(t, 24*time.Hour, before.WakeAt.Sub(*after.WakeAt))
	require.Equal(t, 24*time.Hour, before.Steps[0].WakeAt.Sub(*after.Steps[0].WakeAt))

	flowtest.Advance(t, c, 24*time.Hour)
	run, err := c.GetRun(t.Context(), runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
}

// Due times fire in the order they are due, across runs, including those a
// woken run sets during the Advance: a at 1 h, b at 90 min, a again at 2 h.
func TestAdvanceFiresInDueOrder(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var order []string
	record := func(ctx context.Context, id string) error {
		_, err := flow.Step(ctx, id, func(ctx context.Context) (bool, error) {
			mu.Lock()
			order = append(order, id)
			mu.Unlock()
			return true, nil
		})
		return err
	}
	c := flowtest.Client(t, nil, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "a"}, flow.EventTrigger("test/a"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				for _, id := range []string{"a-1h", "a-2h"} {
					if err := flow.Sleep(ctx, "sleep-"+id, time.Hour); err != nil {
						return nil, err
					}
					if err := record(ctx, id); err != nil {
						return nil, err
					}
				}
				return nil, nil
			})
		require.NoError(t, err)
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "b"}, flow.EventTrigger("test/b"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				if err := flow.Sleep(ctx, "sleep", 90*time.Minute); err != nil {
					return nil, err
				}
				return nil, record(ctx, "b-90m")
			})
		require.NoError(t, err)
	})
	a := flowtest.StartRun(t, c, flow.Event{Name: "test/a"})
	b := flowtest.StartRun(t, c, flow.Event{Name: "test/b"})
	flowtest.AwaitSleeping(t, c, a, "sleep-a-1h")
	flowtest.AwaitSleeping(t, c, b, "sleep")

	flowtest.Advance(t, c, 3*time.Hour)

	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"a-1h", "b-90m", "a-2h"}, order)
}

// A step retry's backoff moves too: a step that asks to be retried in an
// hour is retried at once by Advance(1 h).
func TestAdvanceFiresRetries(t *testing.T) {
	t.Parallel()
	var attempts atomic.Int32
	c := flowtest.Client(t, nil, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "flaky"}, flow.EventTrigger("test/flaky"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				return flow.Step(ctx, "call", func(ctx context.Context) (int32, error) {
					n := attempts.Add(1)
					if n == 1 {
						return 0, flow.RetryAfter(errors.New("rate limited"), time.Hour)
					}
					return n, nil
				})
			})
		require.NoError(t, err)
	})
	runID := flowtest.StartRun(t, c, flow.Event{Name: "test/flaky"})

	flowtest.Advance(t, c, time.Hour)

	run, err := c.GetRun(t.Context(), runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.JSONEq(t, `2`, string(run.Output))
}

// A finish deadline (FunctionOpts.Timeouts.Finish) moves with the sleeps:
// a run that sleeps past it is cancelled once Advance passes the deadline.
func TestAdvanceFiresFinishTimeout(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, nil, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "slow", Timeouts: flow.Timeouts{Finish: time.Hour}},
			flow.EventTrigger("test/slow"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				return nil, flow.Sleep(ctx, "long", 2*time.Hour)
			})
		require.NoError(t, err)
	})
	runID := flowtest.StartRun(t, c, flow.Event{Name: "test/slow"})
	flowtest.AwaitSleeping(t, c, runID, "long")

	flowtest.Advance(t, c, 90*time.Minute)

	run, err := c.GetRun(t.Context(), runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCancelled, run.Status)
}

// Bad input fails the test with a message that says what is wrong.
func TestAdvanceBadInput(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, nil, nil)
	msg := fatalOf(t, func(tb testing.TB) { flowtest.Advance(tb, c, -time.Second) })
	require.Contains(t, msg, "negative duration -1s")

	notStarted, err := flow.NewClient(flowtest.Pool(t), nil)
	require.NoError(t, err)
	msg = fatalOf(t, func(tb testing.TB) { flowtest.Advance(tb, notStarted, time.Hour) })
	require.Contains(t, msg, "client not started")

	msg = fatalOf(t, func(tb testing.TB) { flowtest.Advance(tb, nil, time.Hour) })
	require.Contains(t, msg, "nil client")

	require.Empty(t, fatalOf(t, func(tb testing.TB) { flowtest.Advance(tb, c, 0) }))
}

// A run that never settles (here a step blocked on the test) keeps Advance
// from moving time, and the failure names it.
func TestAdvanceNamesRunsThatNeverSettle(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	entered := make(chan struct{})
	c := flowtest.Client(t, nil, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "stuck"}, flow.EventTrigger("test/stuck"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				return flow.Step(ctx, "block", func(ctx context.Context) (bool, error) {
					close(entered)
					<-release
					return true, nil
				})
			})
		require.NoError(t, err)
	})
	runID := flowtest.StartRun(t, c, flow.Event{Name: "test/stuck"})
	<-entered

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	err := flowtest.AdvanceWithin(ctx, c, time.Hour)
	close(release)
	require.ErrorContains(t, err, runID)
	require.ErrorContains(t, err, `function "stuck", running`)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	run, err := c.AwaitRun(t.Context(), runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status)
}

// A paused function's queued runs are held until the resume: Advance does
// not wait for them to execute, and after the resume they go on.
func TestAdvanceLeavesPausedRunsHeld(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, nil, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "held"}, flow.EventTrigger("test/held"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				if err := flow.Sleep(ctx, "nap", time.Hour); err != nil {
					return nil, err
				}
				return "done", nil
			})
		require.NoError(t, err)
	})
	ctx := t.Context()
	require.NoError(t, c.PauseFunction(ctx, "held"))
	runID := flowtest.StartRun(t, c, flow.Event{Name: "test/held"})

	flowtest.Advance(t, c, 2*time.Hour) // returns: the held run is not busy

	run, err := c.GetRun(ctx, runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunQueued, run.Status)
	require.NoError(t, c.ResumeFunction(ctx, "held"))
	flowtest.AwaitSleeping(t, c, runID, "nap")
	flowtest.Advance(t, c, time.Hour)
	run, err = c.AwaitRun(ctx, runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
}
