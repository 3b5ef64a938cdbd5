package flowtest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// An Invoke timeout fires on Advance while the child sleeps on; the child's
// own sleep fires when its time comes.
func TestAdvanceFiresInvokeTimeout(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, nil, func(c *flow.Client) {
		child, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "child"}, flow.EventTrigger("test/child"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				return "slept", flow.Sleep(ctx, "long", 2*time.Hour)
			})
		require.NoError(t, err)
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "parent"}, flow.EventTrigger("test/parent"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				out, err := flow.Invoke[string](ctx, "call", child, nil, flow.InvokeOpts{Timeout: time.Hour})
				if errors.Is(err, flow.ErrInvokeTimeout) {
					return "gave up", nil
				}
				return out, err
			})
		require.NoError(t, err)
	})
	parentID := flowtest.StartRun(t, c, flow.Event{Name: "test/parent"})
	flowtest.AwaitWaiting(t, c, parentID, "call")

	flowtest.Advance(t, c, time.Hour)
	parent, err := c.GetRun(t.Context(), parentID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, parent.Status, parent.Error)
	require.JSONEq(t, `"gave up"`, string(parent.Output))
	children, err := c.ListRuns(t.Context(), flow.RunFilter{FunctionID: "child"})
	require.NoError(t, err)
	require.Len(t, children, 1)
	require.Equal(t, flow.RunSleeping, children[0].Status)

	flowtest.Advance(t, c, time.Hour)
	child, err := c.GetRun(t.Context(), children[0].ID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, child.Status, child.Error)
}

// Pending starts move too: a debounced run starts once its period has been
// skipped, and so does the run of an event with a TS in the future.
func TestAdvanceFiresDebouncedAndDelayedStarts(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, nil, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "debounced", Debounce: &flow.Debounce{Period: time.Hour}},
			flow.EventTrigger("test/debounced"),
			func(ctx context.Context, in flow.Input[any]) (any, error) { return "started", nil })
		require.NoError(t, err)
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "delayed"}, flow.EventTrigger("test/delayed"),
			func(ctx context.Context, in flow.Input[any]) (any, error) { return "started", nil })
		require.NoError(t, err)
	})
	debounced := flowtest.StartRun(t, c, flow.Event{Name: "test/debounced"})
	delayed := flowtest.StartRun(t, c, flow.Event{Name: "test/delayed", TS: time.Now().Add(2 * time.Hour)})

	flowtest.Advance(t, c, time.Hour)
	run, err := c.GetRun(t.Context(), debounced)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	run, err = c.GetRun(t.Context(), delayed)
	require.NoError(t, err)
	require.Equal(t, flow.RunQueued, run.Status, "an hour early")

	flowtest.Advance(t, c, time.Hour)
	run, err = c.GetRun(t.Context(), delayed)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
}

// A CancelOn timeout moves: once skipped past, the cancelling event no
// longer cancels the run.
func TestAdvanceExpiresCancelOn(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, nil, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "cancellable",
			CancelOn: []flow.CancelOn{{Event: "test/cancel", Timeout: time.Hour}}},
			flow.EventTrigger("test/cancellable"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				return "finished", flow.Sleep(ctx, "long", 3*time.Hour)
			})
		require.NoError(t, err)
	})
	runID := flowtest.StartRun(t, c, flow.Event{Name: "test/cancellable"})
	flowtest.AwaitSleeping(t, c, runID, "long")

	flowtest.Advance(t, c, 2*time.Hour)
	_, err := c.Send(t.Context(), flow.Event{Name: "test/cancel"})
	require.NoError(t, err)
	flowtest.Advance(t, c, time.Hour)

	run, err := c.GetRun(t.Context(), runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
}

// A run parked for a whole-run concurrency slot starts when the run holding
// it ends during an Advance, and its own sleep, due within the same Advance,
// fires too: time does not move on while a slot is free for a parked run.
func TestAdvanceLetsParkedRunsThrough(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, nil, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "one-at-a-time",
			Concurrency: []flow.Concurrency{{Limit: 1, Mode: flow.ConcurrencyRun}}},
			flow.EventTrigger("test/one"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				return "done", flow.Sleep(ctx, "hour", time.Hour)
			})
		require.NoError(t, err)
	})
	first := flowtest.StartRun(t, c, flow.Event{Name: "test/one"})
	flowtest.AwaitSleeping(t, c, first, "hour")
	second := flowtest.StartRun(t, c, flow.Event{Name: "test/one"})
	flowtest.AwaitStatus(t, c, second, flow.RunQueued)

	flowtest.Advance(t, c, 2*time.Hour)

	for _, id := range []string{first, second} {
		run, err := c.GetRun(t.Context(), id)
		require.NoError(t, err)
		require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	}
}
