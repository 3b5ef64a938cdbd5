package flow_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

func TestTimeoutsStart(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var executions counter
	define := func(c *flow.Client) {
		for _, f := range []struct {
			id    string
			start time.Duration
		}{{"timeout-start-short", 200 * time.Millisecond}, {"timeout-start-long", time.Minute}} {
			_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: f.id, Timeouts: flow.Timeouts{Start: f.start}},
				flow.EventTrigger("timeout/start"),
				func(ctx context.Context, in flow.Input[cancelData]) (any, error) {
					executions.add(f.id)
					return "ran", nil
				})
			require.NoError(t, err)
		}
	}
	cancelRegister(t, pool, define)
	c := newClient(t, pool, nil)
	define(c)
	ctx := testCtx(t)

	// The runs are created while no client executes them, and wait past the
	// short Start timeout (by the database's clock) before one does.
	evID := cancelSend(t, c, flow.Event{Name: "timeout/start"})
	runs := map[string]string{}
	for _, id := range cancelRunsOf(t, c, evID) {
		r, err := c.GetRun(ctx, id)
		require.NoError(t, err)
		runs[r.FunctionID] = id
	}
	require.Len(t, runs, 2)
	require.Eventually(t, func() bool {
		var past bool
		require.NoError(t, pool.QueryRow(ctx, `SELECT now() > created_at + interval '200 milliseconds' FROM flow_run WHERE id = $1`,
			runs["timeout-start-short"]).Scan(&past))
		return past
	}, 20*time.Second, 10*time.Millisecond)
	start(t, c)

	run := cancelAwait(t, c, runs["timeout-start-short"], flow.RunCancelled)
	require.Contains(t, run.Error, "start timeout")
	require.Equal(t, 0, executions.get("timeout-start-short"), "the handler of a run past its start timeout ran")
	cancelAwait(t, c, runs["timeout-start-long"], flow.RunCompleted)
	require.Equal(t, 1, executions.get("timeout-start-long"))
}

func TestTimeoutsFinishWhileSleeping(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	const finish, nap = 300 * time.Millisecond, 30 * time.Second
	var before, after counter

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		cancelSleeper(t, c, flow.FunctionOpts{ID: "timeout-finish-sleep", Timeouts: flow.Timeouts{Finish: finish}},
			"timeout/sleep", nap, &before, &after)
	})

	runID := sendOne(t, c, flow.Event{Name: "timeout/sleep", Data: cancelData{ID: "s"}})[0]
	// Far less than the nap: the run must end at its deadline, not after
	// the sleep.
	ctx, cancel := context.WithTimeout(testCtx(t), 15*time.Second)
	defer cancel()
	run, err := c.AwaitRun(ctx, runID)
	require.NoError(t, err, "the run did not end at its finish deadline")
	require.Equal(t, flow.RunCancelled, run.Status, run.Error)
	require.Contains(t, run.Error, "finish timeout")
	require.NotNil(t, run.StartedAt)
	require.NotNil(t, run.EndedAt)
	require.GreaterOrEqual(t, run.EndedAt.Sub(*run.StartedAt), finish, "cancelled before its deadline")
	require.Less(t, run.EndedAt.Sub(*run.StartedAt), nap)
	require.Equal(t, 1, before.get("s"))
	require.Equal(t, 0, after.get("s"), "the step after the sleep ran")
	_, ok := cancelFindStep(run, "after")
	require.False(t, ok)
	require.Equal(t, 0, cancelLiveJobs(t, pool, runID))
}

func TestTimeoutsFinishWhileWaiting(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var after counter

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		cancelWaiter(t, c, flow.FunctionOpts{ID: "timeout-finish-wait", Timeouts: flow.Timeouts{Finish: 300 * time.Millisecond}},
			"timeout/wait", &after)
	})

	runID := sendOne(t, c, flow.Event{Name: "timeout/wait", Data: cancelData{ID: "w"}})[0]
	run := cancelAwait(t, c, runID, flow.RunCancelled)
	require.Contains(t, run.Error, "finish timeout")
	require.Equal(t, 0, cancelWaits(t, pool, runID))

	// The awaited event, afterwards, resumes nothing.
	cancelSend(t, c, flow.Event{Name: "cancel/paid", Data: cancelData{ID: "w"}})
	require.Equal(t, flow.RunCancelled, cancelStatus(t, c, runID))
	require.Equal(t, 0, after.get("w"))
	require.Equal(t, 0, cancelLiveJobs(t, pool, runID))
}

func TestTimeoutsFinishDuringStep(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var b *cancelBlocker

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		b = newCancelBlocker(t, c, flow.FunctionOpts{ID: "timeout-finish-step", Timeouts: flow.Timeouts{Finish: 300 * time.Millisecond}},
			"timeout/block")
	})

	runID := sendOne(t, c, flow.Event{Name: "timeout/block", Data: cancelData{ID: "b"}})[0]
	b.awaitStarted(t, runID)
	jobID := cancelJobID(t, pool, runID)
	run := b.checkInterrupted(t, c, pool, runID, jobID)
	require.Contains(t, run.Error, "finish timeout")
}

// TestWaitTimeoutRacesEvent sends a wait's event at about the moment the
// wait times out: exactly one of them wins, the handler sees the same
// outcome every time it runs, and the stored step agrees with it.
func TestWaitTimeoutRacesEvent(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var mu sync.Mutex
	seen := map[string][]string{} // run ID -> what each execution of the handler saw

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "timeout-race"}, flow.EventTrigger("timeout/race"),
			func(ctx context.Context, in flow.Input[cancelData]) (any, error) {
				ev, err := flow.WaitForEvent[cancelData](ctx, "w", flow.WaitOpts{Event: "timeout/ev", Match: "data.id", Timeout: 100 * time.Millisecond})
				var outcome string
				switch {
				case errors.Is(err, flow.ErrEventTimeout):
					outcome = "timeout"
				case err != nil:
					return nil, err
				default:
					outcome = "event:" + ev.ID
				}
				mu.Lock()
				seen[in.RunID] = append(seen[in.RunID], outcome)
				mu.Unlock()
				return outcome, nil
			})
		require.NoError(t, err)
	})

	outcomes := map[string]int{}
	missed := 0
	for i := 0; i < 10; {
		key := fmt.Sprintf("race-%d-%d", i, missed)
		runID := sendOne(t, c, flow.Event{Name: "timeout/race", Data: cancelData{ID: key}})[0]
		waiting, ok := raceUntilWaiting(t, c, runID)
		if !ok {
			// A loaded machine saw the run only after its 100ms wait had
			// timed out: nothing raced, but the outcome must still be the
			// timeout, alike in the handler and the stored step.
			missed++
			require.Less(t, missed, 40, "the test saw only %d of 10 runs waiting before their timeout", i)
			run := cancelAwait(t, c, runID, flow.RunCompleted)
			var output string
			require.NoError(t, run.DecodeOutput(&output))
			require.Equal(t, "timeout", output)
			w, ok := cancelFindStep(run, "w")
			require.True(t, ok)
			require.Equal(t, "timed_out", w.Status)
			mu.Lock()
			require.Equal(t, []string{"timeout"}, slices.Compact(seen[runID]))
			mu.Unlock()
			continue
		}
		w, ok := cancelFindStep(waiting, "w")
		require.True(t, ok)
		require.NotNil(t, w.WakeAt)
		// Send the event around the timeout: from 10ms before to 8ms after.
		time.Sleep(time.Until(w.WakeAt.Add(time.Duration(i-5) * 2 * time.Millisecond)))
		evID := cancelSend(t, c, flow.Event{Name: "timeout/ev", Data: cancelData{ID: key}})

		run := cancelAwait(t, c, runID, flow.RunCompleted)
		var output string
		require.NoError(t, run.DecodeOutput(&output))
		w, ok = cancelFindStep(run, "w")
		require.True(t, ok)
		switch output {
		case "timeout":
			require.Equal(t, "timed_out", w.Status, "iteration %d: the handler saw the timeout", i)
			require.Empty(t, w.Output)
		case "event:" + evID:
			require.Equal(t, "completed", w.Status, "iteration %d: the handler saw the event", i)
			var got flow.TypedEvent[cancelData]
			require.NoError(t, json.Unmarshal(w.Output, &got))
			require.Equal(t, evID, got.ID)
		default:
			t.Fatalf("iteration %d: unexpected output %q", i, output)
		}
		outcomes[output[:min(len(output), 5)]]++
		mu.Lock()
		for _, o := range seen[runID] {
			require.Equal(t, output, o, "iteration %d: the handler saw both outcomes: %v", i, seen[runID])
		}
		mu.Unlock()
		require.Equal(t, 0, cancelWaits(t, pool, runID))
		i++
	}
	t.Logf("outcomes: %v (runs seen only after their timeout: %d)", outcomes, missed)
}

// raceUntilWaiting polls a run until it waits, and returns it; false if the
// run completed first.
func raceUntilWaiting(t *testing.T, c *flow.Client, runID string) (*flow.Run, bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		run, err := c.GetRun(testCtx(t), runID)
		require.NoError(t, err)
		switch {
		case run.Status == flow.RunWaiting:
			return run, true
		case run.Status == flow.RunCompleted:
			return run, false
		}
		require.False(t, run.Status.Ended(), "run %s ended as %s (%s) before waiting", runID, run.Status, run.Error)
		require.True(t, time.Now().Before(deadline), "run %s never waited", runID)
		time.Sleep(time.Millisecond)
	}
}
