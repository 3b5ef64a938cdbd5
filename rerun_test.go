package flow_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// rerunABC counts executions of the steps a, b and c of a function.
type rerunABC struct{ a, b, c atomic.Int32 }

// rerunFunction creates a function with steps a, b and c; b and c use the
// results of the steps before them, and the output is built from all three
// and the event.
func rerunFunction(t *testing.T, c *flow.Client, id string) *rerunABC {
	t.Helper()
	n := &rerunABC{}
	_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: id}, flow.EventTrigger("rerun/go"),
		func(ctx context.Context, in flow.Input[map[string]string]) (any, error) {
			a, err := flow.Step(ctx, "a", func(ctx context.Context) (string, error) {
				n.a.Add(1)
				return "a(" + in.Event.Data["x"] + ")", nil
			})
			if err != nil {
				return nil, err
			}
			b, err := flow.Step(ctx, "b", func(ctx context.Context) (string, error) {
				n.b.Add(1)
				return "b(" + a + ")", nil
			})
			if err != nil {
				return nil, err
			}
			c, err := flow.Step(ctx, "c", func(ctx context.Context) (string, error) {
				n.c.Add(1)
				return "c(" + b + ")", nil
			})
			if err != nil {
				return nil, err
			}
			return c, nil
		})
	require.NoError(t, err)
	return n
}

func rerunCounts(n *rerunABC) [3]int32 { return [3]int32{n.a.Load(), n.b.Load(), n.c.Load()} }

func TestRerunFromTheTop(t *testing.T) {
	t.Parallel()
	var n *rerunABC

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		n = rerunFunction(t, c, "rerun-top")
	})

	orig := awaitOnly(t, c, flow.Event{Name: "rerun/go", Data: map[string]string{"x": "1"}})
	require.Equal(t, flow.RunCompleted, orig.Status, orig.Error)
	require.JSONEq(t, `"c(b(a(1)))"`, string(orig.Output))
	require.Equal(t, [3]int32{1, 1, 1}, rerunCounts(n))

	ctx := testCtx(t)
	newID, err := c.Rerun(ctx, orig.ID)
	require.NoError(t, err)
	require.NotEqual(t, orig.ID, newID)
	rerun, err := c.AwaitRun(ctx, newID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, rerun.Status, rerun.Error)
	require.Equal(t, orig.EventID, rerun.EventID, "a rerun has the same event")
	require.Equal(t, orig.FunctionID, rerun.FunctionID)
	require.JSONEq(t, string(orig.Output), string(rerun.Output))
	require.Equal(t, [3]int32{2, 2, 2}, rerunCounts(n), "every step body runs again")
	require.Len(t, rerun.Steps, 3)

	// The original is untouched.
	again, err := c.GetRun(ctx, orig.ID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, again.Status)
	require.JSONEq(t, string(orig.Output), string(again.Output))
	require.Len(t, again.Steps, 3)

	// A rerun of a rerun works too.
	third, err := c.Rerun(ctx, newID)
	require.NoError(t, err)
	run3, err := c.AwaitRun(ctx, third)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run3.Status, run3.Error)
	require.Equal(t, [3]int32{3, 3, 3}, rerunCounts(n))
}

// A failed run can be rerun (the usual reason to rerun).
func TestRerunOfFailedRun(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	fail.Store(true)
	var calls atomic.Int32

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "rerun-failed", Retries: flow.Ptr(0)}, flow.EventTrigger("rerun/fail"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				return flow.Step(ctx, "flaky", func(ctx context.Context) (int32, error) {
					n := calls.Add(1)
					if fail.Load() {
						return 0, errors.New("down")
					}
					return n, nil
				})
			})
		require.NoError(t, err)
	})

	orig := awaitOnly(t, c, flow.Event{Name: "rerun/fail"})
	require.Equal(t, flow.RunFailed, orig.Status)
	fail.Store(false)
	ctx := testCtx(t)
	newID, err := c.RerunFrom(ctx, orig.ID, "flaky")
	require.NoError(t, err)
	run, err := c.AwaitRun(ctx, newID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.JSONEq(t, `2`, string(run.Output))
}

func TestRerunFromStep(t *testing.T) {
	t.Parallel()
	var n *rerunABC

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		n = rerunFunction(t, c, "rerun-from")
	})

	orig := awaitOnly(t, c, flow.Event{Name: "rerun/go", Data: map[string]string{"x": "7"}})
	require.Equal(t, flow.RunCompleted, orig.Status, orig.Error)
	require.Equal(t, [3]int32{1, 1, 1}, rerunCounts(n))

	ctx := testCtx(t)
	newID, err := c.RerunFrom(ctx, orig.ID, "b")
	require.NoError(t, err)
	require.NotEqual(t, orig.ID, newID)
	rerun, err := c.AwaitRun(ctx, newID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, rerun.Status, rerun.Error)
	require.Equal(t, orig.EventID, rerun.EventID)
	require.JSONEq(t, `"c(b(a(7)))"`, string(rerun.Output))
	require.Equal(t, [3]int32{1, 2, 2}, rerunCounts(n), "a keeps its stored result; b and c run again")

	require.Len(t, rerun.Steps, 3)
	require.Equal(t, "a", rerun.Steps[0].ID)
	require.JSONEq(t, string(orig.Steps[0].Output), string(rerun.Steps[0].Output))

	// From the first step: everything runs again.
	fromA, err := c.RerunFrom(ctx, orig.ID, "a")
	require.NoError(t, err)
	runA, err := c.AwaitRun(ctx, fromA)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, runA.Status, runA.Error)
	require.Equal(t, [3]int32{2, 3, 3}, rerunCounts(n))

	// From the last step.
	fromC, err := c.RerunFrom(ctx, orig.ID, "c")
	require.NoError(t, err)
	runC, err := c.AwaitRun(ctx, fromC)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, runC.Status, runC.Error)
	require.Equal(t, [3]int32{2, 3, 4}, rerunCounts(n))
}

// RerunFrom a repeated step (":1" suffix) keeps the earlier repeats.
func TestRerunFromRepeatedStep(t *testing.T) {
	t.Parallel()
	var calls [3]atomic.Int32

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "rerun-loop"}, flow.EventTrigger("rerun/loop"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				var out []int
				for i := range 3 {
					v, err := flow.Step(ctx, "item", func(ctx context.Context) (int, error) {
						calls[i].Add(1)
						return i, nil
					})
					if err != nil {
						return nil, err
					}
					out = append(out, v)
				}
				return out, nil
			})
		require.NoError(t, err)
	})

	orig := awaitOnly(t, c, flow.Event{Name: "rerun/loop"})
	require.Equal(t, flow.RunCompleted, orig.Status, orig.Error)
	ctx := testCtx(t)
	newID, err := c.RerunFrom(ctx, orig.ID, "item:1")
	require.NoError(t, err)
	run, err := c.AwaitRun(ctx, newID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.JSONEq(t, `[0,1,2]`, string(run.Output))
	require.Equal(t, []int32{1, 2, 2}, []int32{calls[0].Load(), calls[1].Load(), calls[2].Load()})
}

func TestRerunErrors(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		rerunFunction(t, c, "rerun-errs")
		child, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "rerun-child"}, flow.Triggers(),
			func(ctx context.Context, in flow.Input[json.RawMessage]) (any, error) { return "child", nil })
		require.NoError(t, err)
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "rerun-parent"}, flow.EventTrigger("rerun/parent"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				return flow.Invoke[string](ctx, "call-child", child, map[string]int{"n": 1}, flow.InvokeOpts{})
			})
		require.NoError(t, err)
	})

	ctx := testCtx(t)
	orig := awaitOnly(t, c, flow.Event{Name: "rerun/go", Data: map[string]string{"x": "1"}})
	require.Equal(t, flow.RunCompleted, orig.Status, orig.Error)

	const unknown = "01900000-0000-7000-8000-000000000000"
	_, err := c.Rerun(ctx, unknown)
	require.ErrorIs(t, err, flow.ErrNotFound)
	_, err = c.RerunFrom(ctx, unknown, "a")
	require.ErrorIs(t, err, flow.ErrNotFound)
	_, err = c.Rerun(ctx, "not-a-run-id")
	require.ErrorIs(t, err, flow.ErrNotFound)

	_, err = c.RerunFrom(ctx, orig.ID, "nope")
	require.ErrorIs(t, err, flow.ErrNotFound)
	require.Contains(t, err.Error(), `"nope"`)
	_, err = c.RerunFrom(ctx, orig.ID, "")
	require.Error(t, err)

	parent := awaitOnly(t, c, flow.Event{Name: "rerun/parent"})
	require.Equal(t, flow.RunCompleted, parent.Status, parent.Error)
	var detail struct {
		ChildRunID string `json:"child_run_id"`
	}
	require.Len(t, parent.Steps, 1)
	require.NoError(t, json.Unmarshal(parent.Steps[0].Detail, &detail))
	require.NotEmpty(t, detail.ChildRunID)
	_, err = c.Rerun(ctx, detail.ChildRunID)
	require.Error(t, err)
	require.NotErrorIs(t, err, flow.ErrNotFound)
	require.Contains(t, err.Error(), "Invoke")
	_, err = c.RerunFrom(ctx, detail.ChildRunID, "a")
	require.Error(t, err)

	// None of the failed calls started a run.
	for _, fn := range []string{"rerun-errs", "rerun-child", "rerun-parent"} {
		runs, err := c.ListRuns(ctx, flow.RunFilter{FunctionID: fn})
		require.NoError(t, err)
		require.Len(t, runs, 1, fmt.Sprintf("runs of %s", fn))
	}

	// The parent itself can be rerun: it invokes a new child.
	newID, err := c.Rerun(ctx, parent.ID)
	require.NoError(t, err)
	rerun, err := c.AwaitRun(ctx, newID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, rerun.Status, rerun.Error)
	require.JSONEq(t, `"child"`, string(rerun.Output))
}
