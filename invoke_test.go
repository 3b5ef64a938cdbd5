package flow_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

type invokeIn struct {
	N int `json:"n"`
}

type invokeOut struct {
	Double int    `json:"double"`
	Run    string `json:"run"`
}

// invokeStep returns the step of run with the given ID.
func invokeStep(t *testing.T, run *flow.Run, id string) flow.RunStep {
	t.Helper()
	for _, st := range run.Steps {
		if st.ID == id {
			return st
		}
	}
	require.Failf(t, "step not found", "run %s has no step %q", run.ID, id)
	return flow.RunStep{}
}

// invokeOnlyChild returns the one run of the child function.
func invokeOnlyChild(t *testing.T, c *flow.Client, fnID string) *flow.Run {
	t.Helper()
	runs, err := c.ListRuns(testCtx(t), flow.RunFilter{FunctionID: fnID})
	require.NoError(t, err)
	require.Len(t, runs, 1, "function %s should have exactly one run", fnID)
	run, err := c.AwaitRun(testCtx(t), runs[0].ID)
	require.NoError(t, err)
	return run
}

func TestInvokeReturnsChildOutput(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var (
		childCalls atomic.Int32
		mu         sync.Mutex
		childData  []invokeIn
		parentGot  []invokeOut
		flaky      atomic.Int32
	)

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		child, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "invoke-child"}, flow.EventTrigger("invoke/child.never"),
			func(ctx context.Context, in flow.Input[invokeIn]) (any, error) {
				childCalls.Add(1)
				mu.Lock()
				childData = append(childData, in.Event.Data)
				mu.Unlock()
				return invokeOut{Double: in.Event.Data.N * 2, Run: in.RunID}, nil
			})
		require.NoError(t, err)
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "invoke-parent"}, flow.EventTrigger("invoke/start"),
			func(ctx context.Context, in flow.Input[invokeIn]) (any, error) {
				out, err := flow.Invoke[invokeOut](ctx, "call", child, invokeIn{N: in.Event.Data.N}, flow.InvokeOpts{})
				if err != nil {
					return nil, err
				}
				mu.Lock()
				parentGot = append(parentGot, out)
				mu.Unlock()
				// Fails once, so the handler replays the Invoke once more.
				if _, err := flow.Step(ctx, "flaky", func(ctx context.Context) (bool, error) {
					if flaky.Add(1) == 1 {
						return false, errors.New("fail once")
					}
					return true, nil
				}); err != nil {
					return nil, err
				}
				return out, nil
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "invoke/start", Data: invokeIn{N: 21}})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	var out invokeOut
	require.NoError(t, run.DecodeOutput(&out))
	require.Equal(t, 42, out.Double)

	childRun := invokeOnlyChild(t, c, "invoke-child")
	require.Equal(t, flow.RunCompleted, childRun.Status, childRun.Error)
	require.Equal(t, run.ID, childRun.ParentRunID)
	require.Equal(t, childRun.ID, out.Run)
	require.Equal(t, int32(1), childCalls.Load(), "the child ran more than once")
	require.Equal(t, int32(2), flaky.Load())

	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []invokeIn{{N: 21}}, childData)
	require.GreaterOrEqual(t, len(parentGot), 2, "the parent should have replayed the Invoke")
	for _, got := range parentGot {
		require.Equal(t, out, got)
	}

	var n int
	require.NoError(t, pool.QueryRow(testCtx(t), `SELECT count(*) FROM flow_run WHERE function_id = 'invoke-child'`).Scan(&n))
	require.Equal(t, 1, n)
	st := invokeStep(t, run, "call")
	require.Equal(t, "invoke", st.Kind)
	require.Equal(t, "completed", st.Status)
}

func TestInvokeChildFailureIsStepError(t *testing.T) {
	t.Parallel()
	var childCalls atomic.Int32
	var (
		mu     sync.Mutex
		stepEr []*flow.StepError
	)

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		child, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "invoke-failing-child"}, flow.EventTrigger("invoke/child.never"),
			func(ctx context.Context, in flow.Input[invokeIn]) (any, error) {
				childCalls.Add(1)
				return nil, flow.NonRetriable(errors.New("child exploded"))
			})
		require.NoError(t, err)
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "invoke-parent-handles"}, flow.EventTrigger("invoke/start"),
			func(ctx context.Context, in flow.Input[invokeIn]) (any, error) {
				_, err := flow.Invoke[invokeOut](ctx, "call", child, in.Event.Data, flow.InvokeOpts{})
				var se *flow.StepError
				if !errors.As(err, &se) {
					if err == nil {
						return "no error", nil
					}
					return nil, err
				}
				mu.Lock()
				stepEr = append(stepEr, se)
				mu.Unlock()
				return flow.Step(ctx, "fallback", func(ctx context.Context) (string, error) {
					return "handled: " + se.Message, nil
				})
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "invoke/start", Data: invokeIn{N: 1}})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	var out string
	require.NoError(t, run.DecodeOutput(&out))
	require.Contains(t, out, "child exploded")

	childRun := invokeOnlyChild(t, c, "invoke-failing-child")
	require.Equal(t, flow.RunFailed, childRun.Status)
	require.Equal(t, run.ID, childRun.ParentRunID)
	require.Equal(t, int32(1), childCalls.Load(), "a NonRetriable child failure must not be retried")

	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, stepEr)
	for _, se := range stepEr {
		require.Contains(t, se.Message, "child exploded")
		require.Equal(t, run.ID, se.RunID)
		require.Equal(t, "call", se.StepID)
	}
	st := invokeStep(t, run, "call")
	require.Equal(t, "failed", st.Status)
	require.Contains(t, st.Error, "child exploded")
}

func TestInvokeTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var releaseOnce sync.Once
	releaseFn := func() { releaseOnce.Do(func() { close(release) }) }
	var (
		mu       sync.Mutex
		timeouts []bool // errors.Is(err, ErrInvokeTimeout), per execution after the timeout
		flaky    atomic.Int32
	)

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		child, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "invoke-slow-child"}, flow.EventTrigger("invoke/child.never"),
			func(ctx context.Context, in flow.Input[invokeIn]) (any, error) {
				return flow.Step(ctx, "block", func(ctx context.Context) (string, error) {
					select {
					case <-release:
						return "late", nil
					case <-ctx.Done():
						return "", ctx.Err()
					}
				})
			})
		require.NoError(t, err)
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "invoke-impatient"}, flow.EventTrigger("invoke/start"),
			func(ctx context.Context, in flow.Input[invokeIn]) (any, error) {
				_, err := flow.Invoke[string](ctx, "call", child, in.Event.Data, flow.InvokeOpts{Timeout: 300 * time.Millisecond})
				if err == nil {
					return "child finished in time", nil
				}
				var se *flow.StepError
				if !errors.As(err, &se) {
					return nil, err
				}
				mu.Lock()
				timeouts = append(timeouts, errors.Is(err, flow.ErrInvokeTimeout))
				mu.Unlock()
				// Fails once, so the timed-out Invoke is replayed from its record.
				if _, err := flow.Step(ctx, "flaky", func(ctx context.Context) (bool, error) {
					if flaky.Add(1) == 1 {
						return false, errors.New("fail once")
					}
					return true, nil
				}); err != nil {
					return nil, err
				}
				return "timed out", nil
			})
		require.NoError(t, err)
	})
	t.Cleanup(releaseFn) // runs before the client stops

	run := awaitOnly(t, c, flow.Event{Name: "invoke/start", Data: invokeIn{N: 1}})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	var out string
	require.NoError(t, run.DecodeOutput(&out))
	require.Equal(t, "timed out", out)
	st := invokeStep(t, run, "call")
	require.Equal(t, "failed", st.Status)

	mu.Lock()
	got := append([]bool(nil), timeouts...)
	mu.Unlock()
	require.GreaterOrEqual(t, len(got), 2, "the parent should have replayed the timed-out Invoke")
	for i, isTimeout := range got {
		require.True(t, isTimeout, "execution %d: the StepError does not wrap ErrInvokeTimeout", i)
	}

	// The child goes on; once released it ends, and the parent is unchanged.
	runs, err := c.ListRuns(testCtx(t), flow.RunFilter{FunctionID: "invoke-slow-child"})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.False(t, runs[0].Status.Ended(), "the child ended before it was released")
	releaseFn()
	childRun, err := c.AwaitRun(testCtx(t), runs[0].ID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, childRun.Status, childRun.Error)
	require.Equal(t, run.ID, childRun.ParentRunID)

	after, err := c.GetRun(testCtx(t), run.ID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, after.Status)
	require.JSONEq(t, string(run.Output), string(after.Output))
	require.Equal(t, "failed", invokeStep(t, after, "call").Status)
}
