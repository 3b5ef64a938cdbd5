package flow_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

func TestStepAttemptsAreKept(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var flaky counter
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "attempts", Retries: flow.Ptr(3)}, flow.EventTrigger("attempts/go"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				if _, err := flow.Step(ctx, "ok", func(ctx context.Context) (int, error) { return 1, nil }); err != nil {
					return nil, err
				}
				if _, err := flow.Step(ctx, "flaky", func(ctx context.Context) (int, error) {
					if n := flaky.add("flaky"); n < 3 {
						return 0, fmt.Errorf("boom %d", n)
					}
					return 2, nil
				}); err != nil {
					return nil, err
				}
				_, err := flow.Step(ctx, "doomed", func(ctx context.Context) (int, error) {
					return 0, errors.New("always")
				})
				if flow.IsSuspend(err) {
					return nil, err
				}
				return "handled", nil // the function handles the step's failure
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "attempts/go"})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.Len(t, run.Steps, 3)
	ok, fl, doomed := run.Steps[0], run.Steps[1], run.Steps[2]

	require.Empty(t, ok.FailedAttempts, "a step that succeeds at once has no failed attempts")

	require.Equal(t, 3, fl.Attempts)
	require.Equal(t, "completed", fl.Status)
	require.Len(t, fl.FailedAttempts, 2, "both failed attempts, not only the last")
	for i, a := range fl.FailedAttempts {
		require.Equal(t, i+1, a.Attempt)
		require.Equal(t, fmt.Sprintf("boom %d", i+1), a.Error)
		require.False(t, a.EndedAt.Before(a.StartedAt))
		require.GreaterOrEqual(t, a.Duration(), time.Duration(0))
	}
	require.True(t, fl.FailedAttempts[0].EndedAt.Before(fl.FailedAttempts[1].StartedAt), "attempts in order, a backoff apart")

	require.Equal(t, "failed", doomed.Status)
	require.Len(t, doomed.FailedAttempts, 4, "the retries and the last attempt that failed for good")
	require.Equal(t, 4, doomed.FailedAttempts[3].Attempt)
	require.Equal(t, "always", doomed.FailedAttempts[3].Error)

	var rows int
	require.NoError(t, pool.QueryRow(testCtx(t), `SELECT count(*) FROM flow_step_attempt WHERE run_id = $1 AND step_id = 'ok'`, run.ID).Scan(&rows))
	require.Zero(t, rows, "no attempt row for a step that succeeded")
}

func TestRerunRecordsItsOrigin(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		rerunFunction(t, c, "rerun-origin")
	})
	orig := awaitOnly(t, c, flow.Event{Name: "rerun/go", Data: map[string]string{"x": "1"}})
	require.Empty(t, orig.RerunOf, "a run started by its event is no rerun")

	ctx := testCtx(t)
	top, err := c.Rerun(ctx, orig.ID)
	require.NoError(t, err)
	r, err := c.AwaitRun(ctx, top)
	require.NoError(t, err)
	require.Equal(t, orig.ID, r.RerunOf)
	require.Empty(t, r.RerunFromStep, "from the top")

	fromB, err := c.RerunFrom(ctx, top, "b")
	require.NoError(t, err)
	r, err = c.AwaitRun(ctx, fromB)
	require.NoError(t, err)
	require.Equal(t, top, r.RerunOf, "the rerun of a rerun names the run it reran")
	require.Equal(t, "b", r.RerunFromStep)
}

func TestEventThatResumedAWait(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "resumed"}, flow.EventTrigger("resume/start"),
			func(ctx context.Context, in flow.Input[map[string]string]) (any, error) {
				ev, err := flow.WaitForEvent[map[string]string](ctx, "approval", flow.WaitOpts{
					Event: "resume/approve", Match: "data.id", Timeout: time.Hour,
				})
				if err != nil {
					return nil, err
				}
				return ev.Data["by"], nil
			})
		require.NoError(t, err)
	})
	ctx := testCtx(t)
	runID := sendOne(t, c, flow.Event{Name: "resume/start", Data: map[string]string{"id": "7"}})[0]
	cancelUntilStatus(t, c, runID, flow.RunWaiting)

	approve := cancelSend(t, c, flow.Event{Name: "resume/approve", Data: map[string]string{"id": "7", "by": "ann"}})
	run, err := c.AwaitRun(ctx, runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.Len(t, run.Steps, 1)
	require.Equal(t, approve, run.Steps[0].EventID, "the wait step names the event that resumed it")

	ev, err := c.GetEvent(ctx, approve)
	require.NoError(t, err)
	require.Empty(t, ev.Runs, "it started no run")
	require.Len(t, ev.Affected, 1)
	require.Equal(t, flow.EventEffect{RunID: runID, FunctionID: "resumed", RunStatus: flow.RunCompleted,
		Effect: "resumed", StepID: "approval", At: ev.Affected[0].At}, ev.Affected[0])

	start, err := c.GetEvent(ctx, run.EventID)
	require.NoError(t, err)
	require.Len(t, start.Runs, 1)
	require.Empty(t, start.Affected, "the triggering event started its run; it resumed nothing")
}

func TestEventThatCancelledARun(t *testing.T) {
	t.Parallel()
	var before, after counter
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		cancelSleeper(t, c, flow.FunctionOpts{
			ID:       "cancelled-by",
			CancelOn: []flow.CancelOn{{Event: "cancelby/stop", Match: "data.id"}},
		}, "cancelby/sleep", time.Minute, &before, &after)
	})
	ctx := testCtx(t)
	runID := sendOne(t, c, flow.Event{Name: "cancelby/sleep", Data: cancelData{ID: "a"}})[0]
	cancelUntilStatus(t, c, runID, flow.RunSleeping)
	stop := cancelSend(t, c, flow.Event{Name: "cancelby/stop", Data: cancelData{ID: "a"}})

	run, err := c.GetRun(ctx, runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCancelled, run.Status)
	require.Equal(t, stop, run.CancelledByEvent)

	ev, err := c.GetEvent(ctx, stop)
	require.NoError(t, err)
	require.Empty(t, ev.Runs)
	require.Len(t, ev.Affected, 1)
	require.Equal(t, runID, ev.Affected[0].RunID)
	require.Equal(t, "cancelled", ev.Affected[0].Effect)
	require.Equal(t, flow.RunCancelled, ev.Affected[0].RunStatus)
}

// TestStepAttemptsHandlingStepErrors ports inngest-js's test function
// handling-step-errors (packages/inngest/src/test/functions): with one
// retry, steps "a" and "d fails" each fail twice, and the run's history has
// both failed attempts of each (Inngest's timeline: a StepFailed item at
// attempt 1, its attempts counting from 0; ours count from 1); the function
// handles the errors in "b" and "e succeeds".
func TestStepAttemptsHandlingStepErrors(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "handling-step-errors", Retries: flow.Ptr(1)},
			flow.EventTrigger("demo/handling.step.errors"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				_, err := flow.Step(ctx, "a", func(ctx context.Context) (any, error) {
					return nil, fmt.Errorf("Oh no!: %w", errors.New("This is the cause"))
				})
				if flow.IsSuspend(err) {
					return nil, err
				}
				var aErr *flow.StepError
				if !errors.As(err, &aErr) {
					return nil, fmt.Errorf("a: want a StepError, got %v", err)
				}
				if _, err := flow.Step(ctx, "b", func(ctx context.Context) (string, error) {
					return fmt.Sprintf("err was: %q", aErr.Message), nil
				}); err != nil {
					return nil, err
				}
				if _, err := flow.Step(ctx, "c succeeds", func(ctx context.Context) (string, error) { return "c succeeds", nil }); err != nil {
					return nil, err
				}
				_, err = flow.Step(ctx, "d fails", func(ctx context.Context) (any, error) { return nil, errors.New("D failed!") })
				if flow.IsSuspend(err) {
					return nil, err
				}
				var stepErr *flow.StepError
				if !errors.As(err, &stepErr) {
					return nil, fmt.Errorf("d: want a StepError, got %v", err)
				}
				return flow.Step(ctx, "e succeeds", func(ctx context.Context) (map[string]string, error) {
					return map[string]string{"errMessage": stepErr.Message}, nil
				})
			})
		require.NoError(t, err)
	})
	run := awaitOnly(t, c, flow.Event{Name: "demo/handling.step.errors"})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	steps := map[string]flow.RunStep{}
	for _, st := range run.Steps {
		steps[st.ID] = st
	}
	for id, msg := range map[string]string{"a": "Oh no!: This is the cause", "d fails": "D failed!"} {
		st := steps[id]
		require.Equal(t, "failed", st.Status, id)
		require.Len(t, st.FailedAttempts, 2, "%s failed twice", id)
		for i, a := range st.FailedAttempts {
			require.Equal(t, i+1, a.Attempt, id)
			require.Equal(t, msg, a.Error, id)
		}
	}
	require.JSONEq(t, `"err was: \"Oh no!: This is the cause\""`, string(steps["b"].Output))
	require.Empty(t, steps["b"].FailedAttempts)
	require.JSONEq(t, `"c succeeds"`, string(steps["c succeeds"].Output))
	require.JSONEq(t, `{"errMessage":"D failed!"}`, string(steps["e succeeds"].Output))
}
