package flow_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

type sendUser struct {
	UserID string `json:"userId"`
}

func TestSendEventExactlyOnce(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var (
		mu        sync.Mutex
		returned  [][]string // SendEvent's result in each execution of the handler
		flakyRuns atomic.Int32
		notified  atomic.Int32
	)

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "send-signup"}, flow.EventTrigger("user/signed.up"),
			func(ctx context.Context, in flow.Input[sendUser]) (any, error) {
				ids, err := flow.SendEvent(ctx, "notify", flow.Event{Name: "user/notified", Data: sendUser{UserID: in.Event.Data.UserID}})
				if err != nil {
					return nil, err
				}
				mu.Lock()
				returned = append(returned, ids)
				mu.Unlock()
				if _, err := flow.Step(ctx, "flaky", func(ctx context.Context) (string, error) {
					if flakyRuns.Add(1) == 1 {
						return "", errors.New("first attempt fails")
					}
					return "ok", nil
				}); err != nil {
					return nil, err
				}
				return ids, nil
			})
		require.NoError(t, err)
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "send-notified"}, flow.EventTrigger("user/notified"),
			func(ctx context.Context, in flow.Input[sendUser]) (any, error) {
				notified.Add(1)
				return in.Event.Data.UserID, nil
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "user/signed.up", Data: sendUser{UserID: "u-1"}})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.Equal(t, int32(2), flakyRuns.Load(), "the flaky step should have failed once and then succeeded")
	var out []string
	require.NoError(t, run.DecodeOutput(&out))
	require.Len(t, out, 1)

	// The handler replayed after the retry; SendEvent returned the same IDs.
	mu.Lock()
	got := append([][]string(nil), returned...)
	mu.Unlock()
	require.GreaterOrEqual(t, len(got), 2, "the handler should have replayed")
	for _, ids := range got {
		require.Equal(t, out, ids)
	}

	ctx := testCtx(t)
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM flow_event WHERE name = 'user/notified'`).Scan(&n))
	require.Equal(t, 1, n, "user/notified stored more than once")
	var storedID string
	require.NoError(t, pool.QueryRow(ctx, `SELECT id::text FROM flow_event WHERE name = 'user/notified'`).Scan(&storedID))
	require.Equal(t, out[0], storedID)

	runs, err := c.ListRuns(ctx, flow.RunFilter{FunctionID: "send-notified"})
	require.NoError(t, err)
	require.Len(t, runs, 1, "the sent event should start exactly one run")
	require.Equal(t, out[0], runs[0].EventID)
	nrun, err := c.AwaitRun(ctx, runs[0].ID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, nrun.Status, nrun.Error)
	var uid string
	require.NoError(t, nrun.DecodeOutput(&uid))
	require.Equal(t, "u-1", uid)
	require.Equal(t, int32(1), notified.Load())

	var step *flow.RunStep
	for i := range run.Steps {
		if run.Steps[i].ID == "notify" {
			step = &run.Steps[i]
		}
	}
	require.NotNil(t, step)
	require.Equal(t, "send", step.Kind)
	require.Equal(t, "completed", step.Status)
	require.Equal(t, 1, step.Attempts)
}

func TestSendEventInvalidEventFailsStepWithoutRetry(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var (
		calls      atomic.Int32
		isStepErr  atomic.Bool
		isInvalid  atomic.Bool
		stepErrMsg atomic.Value
	)

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "send-invalid"}, flow.EventTrigger("user/signed.up"),
			func(ctx context.Context, in flow.Input[sendUser]) (any, error) {
				calls.Add(1)
				_, err := flow.SendEvent(ctx, "notify", flow.Event{Name: "bad name", Data: 1})
				if flow.IsSuspend(err) {
					return nil, err
				}
				var se *flow.StepError
				if errors.As(err, &se) {
					isStepErr.Store(true)
					isInvalid.Store(errors.Is(err, flow.ErrInvalidEvent))
					stepErrMsg.Store(se.Message)
					return "handled", nil
				}
				if err != nil {
					return nil, err
				}
				return "sent", nil
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "user/signed.up", Data: sendUser{UserID: "u-1"}})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	var out string
	require.NoError(t, run.DecodeOutput(&out))
	require.Equal(t, "handled", out)
	require.True(t, isStepErr.Load(), "SendEvent of an invalid event should return a *StepError")
	require.True(t, isInvalid.Load(), "the StepError should wrap ErrInvalidEvent")
	require.Contains(t, stepErrMsg.Load(), "bad name")
	require.Equal(t, int32(1), calls.Load(), "an invalid event must not be retried")
	require.Len(t, run.Steps, 1)
	require.Equal(t, "send", run.Steps[0].Kind)
	require.Equal(t, "failed", run.Steps[0].Status)
	require.Equal(t, 1, run.Steps[0].Attempts)

	var n int
	require.NoError(t, pool.QueryRow(testCtx(t), `SELECT count(*) FROM flow_event WHERE name NOT LIKE 'flow/%'`).Scan(&n))
	require.Equal(t, 1, n, "only the triggering event should be stored")
}
