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

// The onboarding workflow of the README: create the account, wait a day,
// then wait up to three days for the user to activate, and welcome or
// remind them.
type signedUp struct {
	UserID string `json:"userId"`
}

func defineOnboard(t testing.TB) func(c *flow.Client) {
	return func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "onboard"}, flow.EventTrigger("user/signed.up"),
			func(ctx context.Context, in flow.Input[signedUp]) (any, error) {
				acct, err := flow.Step(ctx, "create-account", func(ctx context.Context) (string, error) {
					return "acct-" + in.Event.Data.UserID, nil
				})
				if err != nil {
					return nil, err
				}
				if err := flow.Sleep(ctx, "wait-a-day", 24*time.Hour); err != nil {
					return nil, err
				}
				_, err = flow.WaitForEvent[signedUp](ctx, "wait-activation", flow.WaitOpts{
					Event: "user/activated", Match: "data.userId", Timeout: 72 * time.Hour,
				})
				next := "welcome"
				if errors.Is(err, flow.ErrEventTimeout) {
					next = "remind"
				} else if err != nil {
					return nil, err
				}
				return flow.Step(ctx, next, func(ctx context.Context) (string, error) {
					return next + " " + acct, nil
				})
			})
		require.NoError(t, err)
	}
}

// A test of a workflow with a 24 h sleep and a 72 h wait, in both of its
// paths, that takes milliseconds: StartRun sends the event without waiting
// for the run, AwaitSleeping and AwaitWaiting wait until the run stops where
// the test expects, and Advance skips the time.
func TestExampleLongWorkflow(t *testing.T) {
	t.Parallel()

	t.Run("activated", func(t *testing.T) {
		t.Parallel()
		c := flowtest.Client(t, nil, defineOnboard(t))
		began := time.Now()

		runID := flowtest.StartRun(t, c, flow.Event{Name: "user/signed.up", Data: signedUp{UserID: "u1"}})
		flowtest.AwaitSleeping(t, c, runID, "wait-a-day")
		flowtest.Advance(t, c, 24*time.Hour)
		flowtest.AwaitWaiting(t, c, runID, "wait-activation")
		_, err := c.Send(t.Context(), flow.Event{Name: "user/activated", Data: signedUp{UserID: "u1"}})
		require.NoError(t, err)

		run, err := c.AwaitRun(t.Context(), runID)
		require.NoError(t, err)
		t.Logf("24 h sleep, then a 72 h wait met by an event: %s", time.Since(began))
		require.Equal(t, flow.RunCompleted, run.Status, run.Error)
		require.JSONEq(t, `"welcome acct-u1"`, string(run.Output))
	})

	t.Run("timed out", func(t *testing.T) {
		t.Parallel()
		c := flowtest.Client(t, nil, defineOnboard(t))
		began := time.Now()

		runID := flowtest.StartRun(t, c, flow.Event{Name: "user/signed.up", Data: signedUp{UserID: "u2"}})
		flowtest.AwaitSleeping(t, c, runID, "wait-a-day")
		flowtest.Advance(t, c, 24*time.Hour)
		flowtest.AwaitWaiting(t, c, runID, "wait-activation")
		flowtest.Advance(t, c, 72*time.Hour)

		run, err := c.AwaitRun(t.Context(), runID)
		require.NoError(t, err)
		t.Logf("24 h sleep, then a 72 h wait that times out: %s", time.Since(began))
		require.Equal(t, flow.RunCompleted, run.Status, run.Error)
		require.JSONEq(t, `"remind acct-u2"`, string(run.Output))
	})
}

// BenchmarkLongWorkflow measures one run of the onboarding workflow through
// a 24 h sleep and a 72 h wait that times out, skipped with one Advance.
func BenchmarkLongWorkflow(b *testing.B) {
	c := flowtest.Client(b, nil, defineOnboard(b))
	ctx := context.Background()
	for b.Loop() {
		runID := flowtest.StartRun(b, c, flow.Event{Name: "user/signed.up", Data: signedUp{UserID: "u"}})
		flowtest.Advance(b, c, 96*time.Hour)
		run, err := c.AwaitRun(ctx, runID)
		if err != nil || run.Status != flow.RunCompleted {
			b.Fatalf("run %s: %v %v", runID, run, err)
		}
	}
}
