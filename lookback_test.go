package flow_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// lbHeld is a function that holds its run in a first step until the test
// releases it, then waits for "lb/paid" matching data.orderId.
type lbHeld struct {
	entered chan struct{} // receives once the hold step runs
	release chan struct{} // closed by the test
	after   atomic.Int32  // executions of the step after the wait
}

// lbHeldFunction creates the function with opts (Event and Match are set
// here). Its output is the ID of the event it got, or "timed out".
func lbHeldFunction(t *testing.T, c *flow.Client, id string, opts flow.WaitOpts) *lbHeld {
	t.Helper()
	h := &lbHeld{entered: make(chan struct{}, 1), release: make(chan struct{})}
	opts.Event, opts.Match = "lb/paid", "data.orderId"
	_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: id}, flow.EventTrigger("lb/ordered"),
		func(ctx context.Context, in flow.Input[waitOrder]) (any, error) {
			if _, err := flow.Step(ctx, "hold", func(ctx context.Context) (bool, error) {
				h.entered <- struct{}{}
				select {
				case <-h.release:
					return true, nil
				case <-ctx.Done():
					return false, ctx.Err()
				}
			}); err != nil {
				return nil, err
			}
			ev, err := flow.WaitForEvent[waitPaid](ctx, "wait-paid", opts)
			if errors.Is(err, flow.ErrEventTimeout) {
				return "timed out", nil
			}
			if err != nil {
				return nil, err
			}
			if _, err := flow.Step(ctx, "after", func(ctx context.Context) (int32, error) { return h.after.Add(1), nil }); err != nil {
				return nil, err
			}
			return ev.ID, nil
		})
	require.NoError(t, err)
	return h
}

// lbStartHeld sends the trigger and returns the run, once it is held in its
// first step.
func lbStartHeld(t *testing.T, c *flow.Client, h *lbHeld, orderID string) string {
	t.Helper()
	runIDs := sendOne(t, c, flow.Event{Name: "lb/ordered", Data: waitOrder{OrderID: orderID}})
	require.Len(t, runIDs, 1)
	select {
	case <-h.entered:
	case <-time.After(20 * time.Second):
		require.FailNow(t, "the run never reached its hold step")
	}
	return runIDs[0]
}

// lbOutput releases the run and returns its output.
func lbOutput(t *testing.T, c *flow.Client, h *lbHeld, runID string) string {
	t.Helper()
	close(h.release)
	run, err := c.AwaitRun(testCtx(t), runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	var out string
	require.NoError(t, run.DecodeOutput(&out))
	return out
}

func TestLookbackTakesEventSentBeforeTheWait(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var h *lbHeld

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		h = lbHeldFunction(t, c, "lb-on", flow.WaitOpts{Timeout: 5 * time.Second, Lookback: time.Minute})
	})

	runID := lbStartHeld(t, c, h, "o-1")
	waitSendID(t, c, flow.Event{Name: "lb/paid", Data: waitPaid{OrderID: "o-2"}}) // another order's
	paid := waitSendID(t, c, flow.Event{Name: "lb/paid", Data: waitPaid{OrderID: "o-1", Amount: 7}})
	require.Equal(t, paid, lbOutput(t, c, h, runID))
	require.Equal(t, int32(1), h.after.Load())
	require.Equal(t, 0, waitOpenWaits(t, pool, runID))
}

func TestLookbackWithoutItTheEarlyEventIsLost(t *testing.T) {
	t.Parallel()
	var h *lbHeld

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		h = lbHeldFunction(t, c, "lb-off", flow.WaitOpts{Timeout: 300 * time.Millisecond})
	})

	runID := lbStartHeld(t, c, h, "o-1")
	waitSendID(t, c, flow.Event{Name: "lb/paid", Data: waitPaid{OrderID: "o-1"}})
	require.Equal(t, "timed out", lbOutput(t, c, h, runID))
	require.Equal(t, int32(0), h.after.Load())
}

// An event older than the window is not taken; a later one within it is.
func TestLookbackIgnoresEventsOlderThanTheWindow(t *testing.T) {
	t.Parallel()
	const window = 400 * time.Millisecond
	var h *lbHeld

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		h = lbHeldFunction(t, c, "lb-window", flow.WaitOpts{Timeout: 5 * time.Second, Lookback: window})
	})

	runID := lbStartHeld(t, c, h, "o-1")
	waitSendID(t, c, flow.Event{Name: "lb/paid", Data: waitPaid{OrderID: "o-1", Amount: 1}})
	// Let that event age past the window (this is the behaviour under test,
	// not a synchronisation).
	time.Sleep(window + 300*time.Millisecond)
	fresh := waitSendID(t, c, flow.Event{Name: "lb/paid", Data: waitPaid{OrderID: "o-1", Amount: 2}})
	require.Equal(t, fresh, lbOutput(t, c, h, runID))
}

func TestLookbackTimesOutWhenOnlyOldEventsExist(t *testing.T) {
	t.Parallel()
	const window = 300 * time.Millisecond
	var h *lbHeld

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		h = lbHeldFunction(t, c, "lb-old", flow.WaitOpts{Timeout: 300 * time.Millisecond, Lookback: window})
	})

	runID := lbStartHeld(t, c, h, "o-1")
	waitSendID(t, c, flow.Event{Name: "lb/paid", Data: waitPaid{OrderID: "o-1"}})
	time.Sleep(window + 300*time.Millisecond) // the event ages out of the window
	require.Equal(t, "timed out", lbOutput(t, c, h, runID))
}

func TestLookbackTakesTheOldestInTheWindow(t *testing.T) {
	t.Parallel()
	var h *lbHeld

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		h = lbHeldFunction(t, c, "lb-oldest", flow.WaitOpts{Timeout: 5 * time.Second, Lookback: time.Minute})
	})

	runID := lbStartHeld(t, c, h, "o-1")
	first := waitSendID(t, c, flow.Event{Name: "lb/paid", Data: waitPaid{OrderID: "o-1", Amount: 1}})
	waitSendID(t, c, flow.Event{Name: "lb/paid", Data: waitPaid{OrderID: "o-1", Amount: 2}})
	waitSendID(t, c, flow.Event{Name: "lb/paid", Data: waitPaid{OrderID: "o-1", Amount: 3}})
	require.Equal(t, first, lbOutput(t, c, h, runID))
}

// The oldest in the window wins even when its TS (the sender's clock) is
// later than another's: the window and the order are about arrival.
func TestLookbackOldestByArrivalNotByTS(t *testing.T) {
	t.Parallel()
	var h *lbHeld

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		h = lbHeldFunction(t, c, "lb-arrival", flow.WaitOpts{Timeout: 5 * time.Second, Lookback: time.Minute})
	})

	runID := lbStartHeld(t, c, h, "o-1")
	first := waitSendID(t, c, flow.Event{Name: "lb/paid", Data: waitPaid{OrderID: "o-1", Amount: 1}})
	waitSendID(t, c, flow.Event{Name: "lb/paid", Data: waitPaid{OrderID: "o-1", Amount: 2}, TS: time.Now().Add(-time.Hour)})
	require.Equal(t, first, lbOutput(t, c, h, runID))
}

// A wait for the same name as the trigger never takes the run's own
// triggering event, however wide the window.
func TestLookbackNeverTakesTheTriggeringEvent(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "lb-self"}, flow.EventTrigger("lb/ping"),
			func(ctx context.Context, in flow.Input[waitOrder]) (any, error) {
				ev, err := flow.WaitForEvent[waitOrder](ctx, "wait-ping", flow.WaitOpts{
					Event: "lb/ping", Match: "data.orderId", Timeout: 300 * time.Millisecond, Lookback: time.Hour,
				})
				if errors.Is(err, flow.ErrEventTimeout) {
					return "timed out", nil
				}
				if err != nil {
					return nil, err
				}
				return ev.ID, nil
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "lb/ping", Data: waitOrder{OrderID: "o-1"}})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.JSONEq(t, `"timed out"`, string(run.Output))
}

// WaitForAnyEvent applies the first options' Lookback to every event.
func TestLookbackWaitForAnyEvent(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}, 1), make(chan struct{})

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "lb-any"}, flow.EventTrigger("lb/ordered"),
			func(ctx context.Context, in flow.Input[waitOrder]) (any, error) {
				if _, err := flow.Step(ctx, "hold", func(ctx context.Context) (bool, error) {
					entered <- struct{}{}
					<-release
					return true, nil
				}); err != nil {
					return nil, err
				}
				ev, err := flow.WaitForAnyEvent[json.RawMessage](ctx, "wait-any",
					flow.WaitOpts{Event: "lb/paid", Match: "data.orderId", Timeout: 5 * time.Second, Lookback: time.Minute},
					flow.WaitOpts{Event: "lb/cancelled", Match: "data.orderId"},
				)
				if err != nil {
					return nil, err
				}
				return []string{ev.Name, ev.ID}, nil
			})
		require.NoError(t, err)
	})

	runIDs := sendOne(t, c, flow.Event{Name: "lb/ordered", Data: waitOrder{OrderID: "o-1"}})
	<-entered
	cancelled := waitSendID(t, c, flow.Event{Name: "lb/cancelled", Data: waitOrder{OrderID: "o-1"}})
	waitSendID(t, c, flow.Event{Name: "lb/paid", Data: waitOrder{OrderID: "o-1"}})
	close(release)
	run, err := c.AwaitRun(testCtx(t), runIDs[0])
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	var out []string
	require.NoError(t, run.DecodeOutput(&out))
	require.Equal(t, []string{"lb/cancelled", cancelled}, out)
}

// anyFunction waits for "order/paid" or "order/cancelled" matching
// data.orderId; its output is [name, id] of the event, or ["timed out"].
func anyFunction(t *testing.T, c *flow.Client, id string, timeout time.Duration, after *atomic.Int32) {
	t.Helper()
	_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: id}, flow.EventTrigger("order/placed"),
		func(ctx context.Context, in flow.Input[waitOrder]) (any, error) {
			ev, err := flow.WaitForAnyEvent[waitPaid](ctx, "paid-or-cancelled",
				flow.WaitOpts{Event: "order/paid", Match: "data.orderId", Timeout: timeout},
				flow.WaitOpts{Event: "order/cancelled", Match: "data.orderId"},
			)
			if errors.Is(err, flow.ErrEventTimeout) {
				return []string{"timed out"}, nil
			}
			if err != nil {
				return nil, err
			}
			if ev.Data.OrderID != in.Event.Data.OrderID {
				return nil, flow.NonRetriable(errors.New("got another order's event"))
			}
			if _, err := flow.Step(ctx, "after", func(ctx context.Context) (int32, error) { return after.Add(1), nil }); err != nil {
				return nil, err
			}
			return []string{ev.Name, ev.ID}, nil
		})
	require.NoError(t, err)
}

func TestWaitForAnyEventFirstOneWins(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var after atomic.Int32

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		anyFunction(t, c, "any", time.Minute, &after)
	})

	for _, tc := range []struct{ first, second string }{
		{"order/paid", "order/cancelled"},
		{"order/cancelled", "order/paid"},
	} {
		after.Store(0)
		orderID := "o-" + tc.first
		runIDs := sendOne(t, c, flow.Event{Name: "order/placed", Data: waitOrder{OrderID: orderID}})
		require.Len(t, runIDs, 1)
		waiting := waitUntilWaiting(t, c, runIDs[0])
		require.Equal(t, "wait", waitStep(t, waiting, "paid-or-cancelled").Kind)
		require.Equal(t, 2, waitOpenWaits(t, pool, runIDs[0]))

		// Other orders' events do nothing.
		waitSendID(t, c, flow.Event{Name: tc.first, Data: waitPaid{OrderID: "other"}})
		waitSendID(t, c, flow.Event{Name: tc.second, Data: waitPaid{OrderID: "other"}})
		firstID := waitSendID(t, c, flow.Event{Name: tc.first, Data: waitPaid{OrderID: orderID}})
		require.Equal(t, 0, waitOpenWaits(t, pool, runIDs[0]), "both alternatives are consumed by the first event")
		waitSendID(t, c, flow.Event{Name: tc.second, Data: waitPaid{OrderID: orderID}})

		run, err := c.AwaitRun(testCtx(t), runIDs[0])
		require.NoError(t, err)
		require.Equal(t, flow.RunCompleted, run.Status, run.Error)
		var out []string
		require.NoError(t, run.DecodeOutput(&out))
		require.Equal(t, []string{tc.first, firstID}, out)

		// The second event, later still, changes nothing.
		waitSendID(t, c, flow.Event{Name: tc.second, Data: waitPaid{OrderID: orderID}})
		again, err := c.GetRun(testCtx(t), runIDs[0])
		require.NoError(t, err)
		require.Equal(t, flow.RunCompleted, again.Status)
		require.JSONEq(t, string(run.Output), string(again.Output))
		require.Len(t, again.Steps, len(run.Steps))
		require.Equal(t, int32(1), after.Load())
	}
}

func TestWaitForAnyEventTimeout(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var after atomic.Int32

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		anyFunction(t, c, "any-timeout", 300*time.Millisecond, &after)
	})

	run := awaitOnly(t, c, flow.Event{Name: "order/placed", Data: waitOrder{OrderID: "o-1"}})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.JSONEq(t, `["timed out"]`, string(run.Output))
	require.Equal(t, "timed_out", waitStep(t, run, "paid-or-cancelled").Status)
	require.Equal(t, 0, waitOpenWaits(t, pool, run.ID))
	require.Equal(t, int32(0), after.Load())

	// Events after the timeout change nothing.
	waitSendID(t, c, flow.Event{Name: "order/paid", Data: waitPaid{OrderID: "o-1"}})
	again, err := c.GetRun(testCtx(t), run.ID)
	require.NoError(t, err)
	require.JSONEq(t, `["timed out"]`, string(again.Output))
}

// An event with a future TS creates its run at once, queued, and starts it
// no earlier than TS.
func TestFutureTSStartsRunAtThatTime(t *testing.T) {
	t.Parallel()
	var entered atomic.Int64 // UnixNano of the first entry
	var entries atomic.Int32

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "future"}, flow.EventTrigger("future/e"),
			func(ctx context.Context, in flow.Input[json.RawMessage]) (any, error) {
				entered.CompareAndSwap(0, time.Now().UnixNano())
				entries.Add(1)
				return in.Event.TS, nil
			})
		require.NoError(t, err)
	})

	ts := time.Now().Add(1500 * time.Millisecond).Truncate(time.Millisecond)
	runIDs := sendOne(t, c, flow.Event{Name: "future/e", TS: ts})
	require.Len(t, runIDs, 1)
	runs, err := c.ListRuns(testCtx(t), flow.RunFilter{FunctionID: "future"})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, flow.RunQueued, runs[0].Status)
	require.Nil(t, runs[0].StartedAt)
	require.Equal(t, int32(0), entries.Load(), "the handler ran before the event's TS")

	run, err := c.AwaitRun(testCtx(t), runIDs[0])
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	got := time.Unix(0, entered.Load())
	require.False(t, got.Before(ts), "handler entered at %s, before TS %s", got, ts)
	require.Less(t, got.Sub(ts), 5*time.Second, "handler entered %s after TS", got.Sub(ts))
	require.NotNil(t, run.StartedAt)
	require.False(t, run.StartedAt.Before(ts))
	var outTS time.Time
	require.NoError(t, run.DecodeOutput(&outTS))
	require.True(t, outTS.Equal(ts), "event TS %s, want %s", outTS, ts)
	require.Equal(t, int32(1), entries.Load())
}

// Runs of a past-TS event start at once (TS is not a delay then).
func TestPastTSStartsRunAtOnce(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "past"}, flow.EventTrigger("past/e"),
			func(ctx context.Context, in flow.Input[json.RawMessage]) (any, error) { return in.Event.TS, nil })
		require.NoError(t, err)
	})

	ts := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	run := awaitOnly(t, c, flow.Event{Name: "past/e", TS: ts})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	var outTS time.Time
	require.NoError(t, run.DecodeOutput(&outTS))
	require.True(t, outTS.Equal(ts))
}

// A future-TS event sent by a process that executes nothing (a client never
// started) still starts its run at TS, in the process that executes runs.
func TestFutureTSFromSenderOnlyClient(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var entered atomic.Int64

	worker := flowtest.ClientOn(t, pool, testConfig(), func(worker *flow.Client) {
		_, err := flow.CreateFunction(worker, flow.FunctionOpts{ID: "future-remote"}, flow.EventTrigger("future/remote"),
			func(ctx context.Context, in flow.Input[json.RawMessage]) (any, error) {
				entered.CompareAndSwap(0, time.Now().UnixNano())
				return "ok", nil
			})
		require.NoError(t, err)
	})
	sender := newClient(t, pool, nil)

	ts := time.Now().Add(1500 * time.Millisecond).Truncate(time.Millisecond)
	runIDs := sendOne(t, sender, flow.Event{Name: "future/remote", TS: ts})
	require.Len(t, runIDs, 1)
	run, err := worker.AwaitRun(testCtx(t), runIDs[0])
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	got := time.Unix(0, entered.Load())
	require.False(t, got.Before(ts), "handler entered at %s, before TS %s", got, ts)
	require.Less(t, got.Sub(ts), 5*time.Second, "handler entered %s after TS", got.Sub(ts))
	t.Logf("started %s after TS", got.Sub(ts))
}

// The lookback applies the wait's If: the oldest event that satisfies it is
// taken, not the oldest of the name.
func TestLookbackAppliesIf(t *testing.T) {
	t.Parallel()
	var h *lbHeld

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		h = lbHeldFunction(t, c, "lb-if", flow.WaitOpts{If: `async.data.amount > 5`, Timeout: 5 * time.Second, Lookback: time.Minute})
	})

	runID := lbStartHeld(t, c, h, "o-1")
	waitSendID(t, c, flow.Event{Name: "lb/paid", Data: waitPaid{OrderID: "o-1", Amount: 3}})
	waitSendID(t, c, flow.Event{Name: "lb/paid", Data: waitPaid{OrderID: "o-9", Amount: 30}})
	want := waitSendID(t, c, flow.Event{Name: "lb/paid", Data: waitPaid{OrderID: "o-1", Amount: 8}})
	waitSendID(t, c, flow.Event{Name: "lb/paid", Data: waitPaid{OrderID: "o-1", Amount: 9}})
	require.Equal(t, want, lbOutput(t, c, h, runID))
}
