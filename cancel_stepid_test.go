package flow_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// The tests in this file check that a WaitForEvent whose step ID is the one
// CancelOn conditions are stored under ("cancel:0") and the CancelOn
// condition are two independent things: the wait resumes on its event or
// times out, and the CancelOn still cancels the run.

// cancelKeyFunction creates "cancel-key": CancelOn "ckey/stop" matching
// data.id; its handler waits for the event named by data.reason ("ckey/gate")
// first if there is one, then waits on step "cancel:0" for "ckey/resume"
// (timing out soon when data.quick), then waits on "after" for an event that
// never comes, so that the run is alive for its CancelOn.
func cancelKeyFunction(t *testing.T, c *flow.Client) {
	t.Helper()
	_, err := flow.CreateFunction(c, flow.FunctionOpts{
		ID:       "cancel-key",
		CancelOn: []flow.CancelOn{{Event: "ckey/stop", Match: "data.id"}},
	}, flow.EventTrigger("ckey/start"),
		func(ctx context.Context, in flow.Input[cancelData]) (any, error) {
			if in.Event.Data.Reason != "" {
				if _, err := flow.WaitForEvent[cancelData](ctx, "gate", flow.WaitOpts{
					Event: in.Event.Data.Reason, Match: "data.id", Timeout: time.Hour,
				}); err != nil {
					return nil, err
				}
			}
			timeout := time.Hour
			if in.Event.Data.Quick {
				timeout = 200 * time.Millisecond
			}
			_, err := flow.WaitForEvent[cancelData](ctx, "cancel:0", flow.WaitOpts{Event: "ckey/resume", Match: "data.id", Timeout: timeout})
			if err != nil && !errors.Is(err, flow.ErrEventTimeout) {
				return nil, err
			}
			_, err = flow.WaitForEvent[cancelData](ctx, "after", flow.WaitOpts{Event: "ckey/never", Timeout: time.Hour})
			return nil, err
		})
	require.NoError(t, err)
}

// cancelKeyAwaitStep polls a run until its step id has the given status and
// the run waits on step "after", and fails if the run ends first.
func cancelKeyAwaitStep(t *testing.T, c *flow.Client, runID, id, status string) {
	t.Helper()
	ctx := testCtx(t)
	require.Eventually(t, func() bool {
		r, err := c.GetRun(ctx, runID)
		require.NoError(t, err)
		require.False(t, r.Status.Ended(), "run %s ended as %s (%s)", runID, r.Status, r.Error)
		st, ok := cancelFindStep(r, id)
		_, waiting := cancelFindStep(r, "after")
		return ok && st.Status == status && waiting && r.Status == flow.RunWaiting
	}, 20*time.Second, 5*time.Millisecond, "run %s: step %q never reached %s with the run waiting on \"after\"", runID, id, status)
}

// A wait on step "cancel:0" resumes on its event, and CancelOn condition 0
// still cancels the run afterwards.
func TestCancelOnWithWaitStepIDCancel0Resumes(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		cancelKeyFunction(t, c)
	})

	runID := sendOne(t, c, flow.Event{Name: "ckey/start", Data: cancelData{ID: "a"}})[0]
	waitUntilWaiting(t, c, runID)
	cancelSend(t, c, flow.Event{Name: "ckey/resume", Data: cancelData{ID: "a"}})
	cancelKeyAwaitStep(t, c, runID, "cancel:0", "completed")

	stopID := cancelSend(t, c, flow.Event{Name: "ckey/stop", Data: cancelData{ID: "a"}})
	require.Equal(t, flow.RunCancelled, cancelStatus(t, c, runID))
	run := cancelAwait(t, c, runID, flow.RunCancelled)
	require.Contains(t, run.Error, stopID)
	require.Equal(t, 0, cancelWaits(t, pool, runID))
}

// A wait on step "cancel:0" that times out takes only its own row: CancelOn
// condition 0 still cancels the run afterwards.
func TestCancelOnWithWaitStepIDCancel0TimesOut(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		cancelKeyFunction(t, c)
	})

	runID := sendOne(t, c, flow.Event{Name: "ckey/start", Data: cancelData{ID: "b", Quick: true}})[0]
	cancelKeyAwaitStep(t, c, runID, "cancel:0", "timed_out")

	stopID := cancelSend(t, c, flow.Event{Name: "ckey/stop", Data: cancelData{ID: "b"}})
	require.Equal(t, flow.RunCancelled, cancelStatus(t, c, runID))
	run := cancelAwait(t, c, runID, flow.RunCancelled)
	require.Contains(t, run.Error, stopID)
}

// A CancelOn row stored by a version before CancelOn rows had their own key
// (alt 0, like a wait's first alternative) still cancels its run, and does
// not keep the run's wait on step "cancel:0" from registering and resuming.
func TestCancelOnLegacyRowWithWaitStepIDCancel0(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		cancelKeyFunction(t, c)
	})

	runID := sendOne(t, c, flow.Event{Name: "ckey/start", Data: cancelData{ID: "c", Reason: "ckey/gate"}})[0]
	waitUntilWaiting(t, c, runID)
	// Turn the run's CancelOn row into one the old code stored.
	tag, err := pool.Exec(testCtx(t), `UPDATE flow_wait SET alt = 0 WHERE run_id = $1 AND kind = 'cancel' AND step_id = 'cancel:0'`, runID)
	require.NoError(t, err)
	require.Equal(t, int64(1), tag.RowsAffected())

	cancelSend(t, c, flow.Event{Name: "ckey/gate", Data: cancelData{ID: "c"}})
	ctx := testCtx(t)
	require.Eventually(t, func() bool {
		r, err := c.GetRun(ctx, runID)
		require.NoError(t, err)
		st, ok := cancelFindStep(r, "cancel:0")
		return ok && st.Status == "waiting" && r.Status == flow.RunWaiting
	}, 20*time.Second, 5*time.Millisecond, "run %s never waited on step cancel:0", runID)

	cancelSend(t, c, flow.Event{Name: "ckey/resume", Data: cancelData{ID: "c"}})
	cancelKeyAwaitStep(t, c, runID, "cancel:0", "completed")

	stopID := cancelSend(t, c, flow.Event{Name: "ckey/stop", Data: cancelData{ID: "c"}})
	require.Equal(t, flow.RunCancelled, cancelStatus(t, c, runID))
	run := cancelAwait(t, c, runID, flow.RunCancelled)
	require.Contains(t, run.Error, stopID)
}
