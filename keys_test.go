package flow_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// pollKeysUntil polls cond until it holds or the deadline passes.
func pollKeysUntil(t *testing.T, within time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Port of inngest/inngest tests/golang TestSingletonFunctionWithKeyResolvingToFalse:
// a singleton key that resolves to false means "not a singleton" for that
// event, so two such events run side by side.
func TestSingletonFunctionWithKeyResolvingToFalse(t *testing.T) {
	t.Parallel()
	var inProgress, total atomic.Int32
	release := make(chan struct{})
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{
			ID:        "fn-singleton",
			Singleton: &flow.Singleton{Key: "event.data.decision", Mode: flow.SingletonSkip},
		}, flow.EventTrigger("test/singleton-fn"), func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
			total.Add(1)
			inProgress.Add(1)
			defer inProgress.Add(-1)
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return true, nil
		})
		require.NoError(t, err)
	})
	var runs []string
	for range 2 {
		runs = append(runs, sendOne(t, c, flow.Event{Name: "test/singleton-fn", Data: map[string]any{"decision": false}})...)
	}
	require.Len(t, runs, 2)
	// Both start, because they are not running as a singleton.
	pollKeysUntil(t, 10*time.Second, func() bool { return inProgress.Load() == 2 }, "both runs should be in progress at once")
	close(release)
	for _, id := range runs {
		run, err := c.AwaitRun(testCtx(t), id)
		require.NoError(t, err)
		require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	}
	require.EqualValues(t, 2, total.Load(), "the function executed twice")
}

// Port of inngest/inngest tests/golang TestFunctionFailureHandlingWithRateLimit:
// a rate-limited function and a failure handler with the same rate limit,
// keyed on event.data.number, a field the flow/function.failed event lacks.
// The missing key does not rate-limit the handler: every failure is
// handled, while the function's own events are limited per number.
func TestFunctionFailureHandlingWithRateLimit(t *testing.T) {
	t.Parallel()
	const evtName = "fail/rate-limit"
	var failed, handled atomic.Int32
	rate := &flow.RateLimit{Limit: 1, Period: 24 * time.Hour, Key: "event.data.number"}
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "failed", RateLimit: rate},
			flow.EventTrigger(evtName), func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
				failed.Add(1)
				return nil, flow.NonRetriable(errors.New("failed"))
			})
		require.NoError(t, err)
		// Mimic an onFailure handler, with the original function's rate limit.
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "failed-failure", RateLimit: rate},
			flow.EventTrigger(flow.EventFunctionFailed).If(`event.data.function_id == "failed"`),
			func(ctx context.Context, in flow.Input[flow.RunEnded]) (any, error) {
				handled.Add(1)
				return "handled", nil
			})
		require.NoError(t, err)
	})
	handlerRuns := func(status flow.RunStatus) int {
		runs, err := c.ListRuns(testCtx(t), flow.RunFilter{FunctionID: "failed-failure", Status: []flow.RunStatus{status}})
		require.NoError(t, err)
		return len(runs)
	}
	sendAndEnd := func(number int, want flow.RunStatus) {
		t.Helper()
		runs := sendOne(t, c, flow.Event{Name: evtName, Data: map[string]any{"number": number}})
		require.Len(t, runs, 1)
		run, err := c.AwaitRun(testCtx(t), runs[0])
		require.NoError(t, err)
		require.Equal(t, want, run.Status, run.Error)
	}

	sendAndEnd(10, flow.RunFailed)
	pollKeysUntil(t, 10*time.Second, func() bool { return handlerRuns(flow.RunCompleted) == 1 }, "the first failure is handled")
	require.EqualValues(t, 1, failed.Load())

	// Another with the same number is rate limited: no run, no failure.
	sendAndEnd(10, flow.RunSkipped)
	require.EqualValues(t, 1, failed.Load())

	// A different number fails again, and its failure is handled too: the
	// handler's missing key did not put both failures in one bucket.
	sendAndEnd(1, flow.RunFailed)
	pollKeysUntil(t, 10*time.Second, func() bool { return handlerRuns(flow.RunCompleted) == 2 }, "the second failure is handled")
	require.EqualValues(t, 2, failed.Load())
	require.EqualValues(t, 2, handled.Load())
	require.Zero(t, handlerRuns(flow.RunSkipped), "no handler run was rate limited")
}

// Port of inngest/inngest tests/golang TestDebounce_OutOfOrderTS: an event
// with an older ts that arrives after a newer one does not replace it; the
// debounced run gets the newer event, once.
func TestDebounceOutOfOrderTS(t *testing.T) {
	t.Parallel()
	var counter atomic.Int32
	names := make(chan string, 4)
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{
			ID:       "test-out-of-order-debounce-ignored",
			Debounce: &flow.Debounce{Period: time.Second},
		}, flow.EventTrigger("test/sdk"), func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
			counter.Add(1)
			names <- in.Event.Data["name"].(string)
			return nil, nil
		})
		require.NoError(t, err)
	})
	now := time.Now()
	future := sendOne(t, c, flow.Event{Name: "test/sdk", Data: map[string]any{"name": "future"}, TS: now.Add(2 * time.Second)})
	require.Len(t, future, 1)
	older := sendOne(t, c, flow.Event{Name: "test/sdk", Data: map[string]any{"name": "now"}, TS: now})
	require.Empty(t, older, "the older event starts no run of its own")

	run, err := c.AwaitRun(testCtx(t), future[0])
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.Equal(t, "future", <-names, "the run has the newer event")
	require.EqualValues(t, 1, counter.Load())
	runs, err := c.ListRuns(testCtx(t), flow.RunFilter{FunctionID: "test-out-of-order-debounce-ignored"})
	require.NoError(t, err)
	require.Len(t, runs, 1)
}
