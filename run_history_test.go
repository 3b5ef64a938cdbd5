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
	fromB, err := c.RerunFrom(ctx, top, "b")
	require.NoError(t, err)

	r, err := c.AwaitRun(ctx, top)
	require.NoError(t, err)
	require.Equal(t, orig.ID, r.RerunOf)
	require.Empty(t, r.RerunFromStep, "from the top")

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
