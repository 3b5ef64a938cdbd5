package flowtest_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

type charge struct {
	ID     string `json:"id"`
	Amount int    `json:"amount"`
}

// A mocked step does not call its function: the mock is its stored result,
// decoded into the step's type; the steps not mocked run as written (as
// @inngest/test's step mocks do).
func TestMockStepReplacesTheResult(t *testing.T) {
	t.Parallel()
	var charged, emailed atomic.Int32
	c := flowtest.Client(t, nil, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "checkout"}, flow.EventTrigger("test/checkout"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				ch, err := flow.Step(ctx, "charge", func(ctx context.Context) (charge, error) {
					charged.Add(1)
					return charge{ID: "real"}, nil
				})
				if err != nil {
					return nil, err
				}
				_, err = flow.Step(ctx, "email", func(ctx context.Context) (bool, error) {
					emailed.Add(1)
					return true, nil
				})
				return ch, err
			})
		require.NoError(t, err)
	})
	flowtest.MockStep(t, c, "checkout", "charge", charge{ID: "mock", Amount: 42}, nil)

	run := flowtest.RunEvent(t, c, flow.Event{Name: "test/checkout"})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.JSONEq(t, `{"id": "mock", "amount": 42}`, string(run.Output))
	require.JSONEq(t, `{"id": "mock", "amount": 42}`, string(run.Steps[0].Output), "the mock is stored as the step's result")
	require.Zero(t, charged.Load(), "a mocked step's function is not called")
	require.EqualValues(t, 1, emailed.Load(), "steps not mocked run")
}

// A mocked error fails the step as its function's error would: wrapped with
// NonRetriable, at once, and the function gets a StepError with the mock's
// message and value.
func TestMockStepError(t *testing.T) {
	t.Parallel()
	var called atomic.Int32
	c := flowtest.Client(t, nil, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "pay"}, flow.EventTrigger("test/pay"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				ch, err := flow.Step(ctx, "charge", func(ctx context.Context) (charge, error) {
					called.Add(1)
					return charge{}, nil
				})
				var se *flow.StepError
				if errors.As(err, &se) {
					return map[string]any{"error": se.Message, "partial": ch}, nil
				}
				return ch, err
			})
		require.NoError(t, err)
	})
	flowtest.MockStep(t, c, "pay", "charge", charge{ID: "partial"}, flow.NonRetriable(errors.New("card declined")))

	run := flowtest.RunEvent(t, c, flow.Event{Name: "test/pay"})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.JSONEq(t, `{"error": "card declined", "partial": {"id": "partial", "amount": 0}}`, string(run.Output))
	require.Equal(t, "failed", run.Steps[0].Status)
	require.Equal(t, 1, run.Steps[0].Attempts)
	require.Zero(t, called.Load())
}

// A mock set while the run sleeps applies to the steps it has yet to run;
// a step that completed before keeps its stored result. StepTx is mocked
// the same way: its function, and so its writes, do not happen.
func TestMockStepWhileTheRunSleeps(t *testing.T) {
	t.Parallel()
	var txCalled atomic.Int32
	c := flowtest.Client(t, nil, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "report"}, flow.EventTrigger("test/report"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				before, err := flow.Step(ctx, "before", func(ctx context.Context) (string, error) { return "real", nil })
				if err != nil {
					return nil, err
				}
				if err := flow.Sleep(ctx, "overnight", 12*time.Hour); err != nil {
					return nil, err
				}
				after, err := flow.StepTx(ctx, "after", func(ctx context.Context, tx pgx.Tx) (string, error) {
					txCalled.Add(1)
					return "real", nil
				})
				return []string{before, after}, err
			})
		require.NoError(t, err)
	})
	runID := flowtest.StartRun(t, c, flow.Event{Name: "test/report"})
	flowtest.AwaitSleeping(t, c, runID, "overnight")
	flowtest.MockStep(t, c, "report", "before", "mocked too late", nil)
	flowtest.MockStep(t, c, "report", "after", "mocked", nil)

	flowtest.Advance(t, c, 12*time.Hour)

	run, err := c.AwaitRun(t.Context(), runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.JSONEq(t, `["real", "mocked"]`, string(run.Output))
	require.Zero(t, txCalled.Load())
}

// A repeated step ID is mocked by its stored ID: "call:1" is the second
// call of "call".
func TestMockStepRepeat(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, nil, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "loop"}, flow.EventTrigger("test/loop"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				var out []int
				for i := range 3 {
					v, err := flow.Step(ctx, "call", func(ctx context.Context) (int, error) { return i, nil })
					if err != nil {
						return nil, err
					}
					out = append(out, v)
				}
				return out, nil
			})
		require.NoError(t, err)
	})
	flowtest.MockStep(t, c, "loop", "call:1", 100, nil)

	run := flowtest.RunEvent(t, c, flow.Event{Name: "test/loop"})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.JSONEq(t, `[0, 100, 2]`, string(run.Output))
}

// Bad input fails the test with a message that says what is wrong.
func TestMockStepBadInput(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, nil, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "known"}, flow.EventTrigger("test/known"),
			func(ctx context.Context, in flow.Input[any]) (any, error) { return nil, nil })
		require.NoError(t, err)
	})
	msg := fatalOf(t, func(tb testing.TB) { flowtest.MockStep(tb, c, "unknown", "s", 1, nil) })
	require.Contains(t, msg, `no function "unknown" on this client (its functions: "known")`)

	msg = fatalOf(t, func(tb testing.TB) { flowtest.MockStep(tb, c, "known", "", 1, nil) })
	require.Contains(t, msg, `invalid step ID "": empty (MockStep of function "known")`)

	msg = fatalOf(t, func(tb testing.TB) { flowtest.MockStep(tb, c, "known", "s", make(chan int), nil) })
	require.Contains(t, msg, `encode the value as JSON`)

	msg = fatalOf(t, func(tb testing.TB) { flowtest.MockStep(tb, nil, "known", "s", 1, nil) })
	require.Contains(t, msg, "nil client")
}
