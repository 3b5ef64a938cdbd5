package flow_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// cancelData is the data of the events of the cancellation tests.
type cancelData struct {
	ID     string    `json:"id,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Quick  bool      `json:"quick,omitempty"`
	Until  time.Time `json:"until,omitempty"`
}

// cancelUntilStatus polls a run until it has the given status, and returns
// it. It fails if the run ends with another status first.
func cancelUntilStatus(t *testing.T, c *flow.Client, runID string, want flow.RunStatus) *flow.Run {
	t.Helper()
	return flowtest.AwaitStatus(t, c, runID, want)
}

// cancelStatus returns a run's current status.
func cancelStatus(t *testing.T, c *flow.Client, runID string) flow.RunStatus {
	t.Helper()
	r, err := c.GetRun(testCtx(t), runID)
	require.NoError(t, err)
	return r.Status
}

// cancelFindStep returns a run's step by ID, and whether it exists.
func cancelFindStep(run *flow.Run, id string) (flow.RunStep, bool) {
	for _, st := range run.Steps {
		if st.ID == id {
			return st, true
		}
	}
	return flow.RunStep{}, false
}

// cancelJobID returns the River job recorded on a run.
func cancelJobID(t *testing.T, pool *pgxpool.Pool, runID string) int64 {
	t.Helper()
	var id *int64
	require.NoError(t, pool.QueryRow(testCtx(t), `SELECT job_id FROM flow_run WHERE id = $1`, runID).Scan(&id))
	require.NotNil(t, id, "run %s has no job", runID)
	return *id
}

// cancelJobState returns a River job's state.
func cancelJobState(t *testing.T, pool *pgxpool.Pool, jobID int64) string {
	t.Helper()
	var state string
	require.NoError(t, pool.QueryRow(testCtx(t), `SELECT state::text FROM river_job WHERE id = $1`, jobID).Scan(&state))
	return state
}

// cancelAwaitJobLeftRunning polls until a River job is no longer running:
// its worker has returned.
func cancelAwaitJobLeftRunning(t *testing.T, pool *pgxpool.Pool, jobID int64) string {
	t.Helper()
	var state string
	require.Eventually(t, func() bool {
		state = cancelJobState(t, pool, jobID)
		return state != "running"
	}, 20*time.Second, 5*time.Millisecond, "job %d never left running", jobID)
	return state
}

// cancelAwaitNoRunningJobs polls until none of a run's River jobs is
// running: every segment of it has returned.
func cancelAwaitNoRunningJobs(t *testing.T, pool *pgxpool.Pool, runID string) {
	t.Helper()
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, pool.QueryRow(testCtx(t), `SELECT count(*) FROM river_job
			WHERE kind = 'flow_run' AND args->>'run_id' = $1 AND state = 'running'`, runID).Scan(&n))
		return n == 0
	}, 20*time.Second, 5*time.Millisecond, "a job of run %s stayed running", runID)
}

// cancelLiveJobs counts a run's River jobs that could still execute, once
// River has recorded the end of those that ran (it completes a job
// asynchronously, a few hundred milliseconds after its segment returns).
func cancelLiveJobs(t *testing.T, pool *pgxpool.Pool, runID string) int {
	t.Helper()
	var n int
	deadline := time.Now().Add(5 * time.Second)
	for {
		require.NoError(t, pool.QueryRow(testCtx(t), `SELECT count(*) FROM river_job
			WHERE kind = 'flow_run' AND args->>'run_id' = $1 AND state NOT IN ('completed', 'cancelled', 'discarded')`, runID).Scan(&n))
		if n == 0 || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cancelWaits counts a run's rows in flow_wait (its waits and CancelOn
// conditions).
func cancelWaits(t *testing.T, pool *pgxpool.Pool, runID string) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(testCtx(t), `SELECT count(*) FROM flow_wait WHERE run_id = $1`, runID).Scan(&n))
	return n
}

// cancelStoredStep returns the status of a step row, and whether it exists.
func cancelStoredStep(t *testing.T, pool *pgxpool.Pool, runID, stepID string) (string, bool) {
	t.Helper()
	var status string
	err := pool.QueryRow(testCtx(t), `SELECT status FROM flow_step WHERE run_id = $1 AND id = $2`, runID, stepID).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false
	}
	require.NoError(t, err)
	return status, true
}

// cancelRunsOf returns the IDs of the runs an event started.
func cancelRunsOf(t *testing.T, c *flow.Client, eventID string) []string {
	t.Helper()
	runs, err := c.ListRuns(testCtx(t), flow.RunFilter{EventID: eventID})
	require.NoError(t, err)
	out := make([]string, len(runs))
	for i, r := range runs {
		out[i] = r.ID
	}
	return out
}

// cancelAwait waits for a run to end and checks its status.
func cancelAwait(t *testing.T, c *flow.Client, runID string, want flow.RunStatus) *flow.Run {
	t.Helper()
	ctx, cancel := context.WithTimeout(testCtx(t), 20*time.Second)
	defer cancel()
	run, err := c.AwaitRun(ctx, runID)
	require.NoError(t, err, "run %s did not end", runID)
	require.Equal(t, want, run.Status, "run %s: %s", runID, run.Error)
	return run
}

// cancelMarkerFunction creates "cancel-marker", which sleeps until its
// event's data.until: a run that lets a test know that a time has passed for
// the engine (the waker has woken everything due before it).
func cancelMarkerFunction(t *testing.T, c *flow.Client) {
	t.Helper()
	_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "cancel-marker"}, flow.EventTrigger("cancel/marker"),
		func(ctx context.Context, in flow.Input[cancelData]) (any, error) {
			if err := flow.SleepUntil(ctx, "until", in.Event.Data.Until); err != nil {
				return nil, err
			}
			return "marked", nil
		})
	require.NoError(t, err)
}

// cancelMarker runs the marker until t0 and waits for it to complete.
func cancelMarker(t *testing.T, c *flow.Client, t0 time.Time) {
	t.Helper()
	run := awaitOnly(t, c, flow.Event{Name: "cancel/marker", Data: cancelData{Until: t0}})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
}

// cancelSleeper creates a function that runs step "before", sleeps for nap
// and then runs step "after", counting each step's executions by data.id.
func cancelSleeper(t *testing.T, c *flow.Client, opts flow.FunctionOpts, event string, nap time.Duration, before, after *counter) {
	t.Helper()
	_, err := flow.CreateFunction(c, opts, flow.EventTrigger(event),
		func(ctx context.Context, in flow.Input[cancelData]) (any, error) {
			if in.Event.Data.Quick {
				return "quick", nil
			}
			if _, err := flow.Step(ctx, "before", func(ctx context.Context) (int, error) {
				return before.add(in.Event.Data.ID), nil
			}); err != nil {
				return nil, err
			}
			if err := flow.Sleep(ctx, "nap", nap); err != nil {
				return nil, err
			}
			if _, err := flow.Step(ctx, "after", func(ctx context.Context) (int, error) {
				return after.add(in.Event.Data.ID), nil
			}); err != nil {
				return nil, err
			}
			return "woke", nil
		})
	require.NoError(t, err)
}

// cancelWaiter creates a function that waits for "cancel/paid" matching
// data.id and then runs step "after", counting its executions by data.id.
func cancelWaiter(t *testing.T, c *flow.Client, opts flow.FunctionOpts, event string, after *counter) {
	t.Helper()
	_, err := flow.CreateFunction(c, opts, flow.EventTrigger(event),
		func(ctx context.Context, in flow.Input[cancelData]) (any, error) {
			ev, err := flow.WaitForEvent[cancelData](ctx, "wait-paid", flow.WaitOpts{Event: "cancel/paid", Match: "data.id", Timeout: time.Minute})
			if err != nil {
				return nil, err
			}
			if _, err := flow.Step(ctx, "after", func(ctx context.Context) (int, error) {
				return after.add(in.Event.Data.ID), nil
			}); err != nil {
				return nil, err
			}
			return ev.ID, nil
		})
	require.NoError(t, err)
}

func TestCancelRunSleeping(t *testing.T) {
	t.Parallel()
	// The sleep is long enough that its job is still scheduled when the
	// cancel comes, however loaded the machine: the test checks that the
	// cancel cancels that job.
	pool := flowtest.Pool(t)
	var before, after counter

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		cancelSleeper(t, c, flow.FunctionOpts{ID: "cancel-sleeper"}, "cancel/sleep", 2*time.Second, &before, &after)
		cancelMarkerFunction(t, c)
	})
	ctx := testCtx(t)

	runID := sendOne(t, c, flow.Event{Name: "cancel/sleep", Data: cancelData{ID: "s"}})[0]
	sleeping := cancelUntilStatus(t, c, runID, flow.RunSleeping)
	nap, ok := cancelFindStep(sleeping, "nap")
	require.True(t, ok)
	require.NotNil(t, nap.WakeAt)
	jobID := cancelJobID(t, pool, runID)

	ok, err := c.CancelRun(ctx, runID)
	require.NoError(t, err)
	require.True(t, ok)

	run := cancelAwait(t, c, runID, flow.RunCancelled)
	require.NotEmpty(t, run.Error)
	require.NotNil(t, run.EndedAt)
	require.Empty(t, run.Output)
	require.Equal(t, "cancelled", cancelJobState(t, pool, jobID), "the run's River job")
	require.Equal(t, 0, cancelLiveJobs(t, pool, runID))
	require.Equal(t, 0, cancelWaits(t, pool, runID))

	// Once the engine is past the sleep's end, the run still has not resumed.
	cancelMarker(t, c, nap.WakeAt.Add(200*time.Millisecond))
	require.Equal(t, 1, before.get("s"))
	require.Equal(t, 0, after.get("s"), "the step after the sleep ran in a cancelled run")
	run, err = c.GetRun(ctx, runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCancelled, run.Status)
	_, ok = cancelFindStep(run, "after")
	require.False(t, ok)
	require.Equal(t, 0, cancelLiveJobs(t, pool, runID))

	// Cancelling it again does nothing.
	ok, err = c.CancelRun(ctx, runID)
	require.NoError(t, err)
	require.False(t, ok)
}

func TestCancelRunWaiting(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var after counter

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		cancelWaiter(t, c, flow.FunctionOpts{ID: "cancel-waiter"}, "cancel/wait", &after)
	})
	ctx := testCtx(t)

	runID := sendOne(t, c, flow.Event{Name: "cancel/wait", Data: cancelData{ID: "w"}})[0]
	cancelUntilStatus(t, c, runID, flow.RunWaiting)
	require.Equal(t, 1, cancelWaits(t, pool, runID))
	jobID := cancelJobID(t, pool, runID)

	ok, err := c.CancelRun(ctx, runID)
	require.NoError(t, err)
	require.True(t, ok)
	run := cancelAwait(t, c, runID, flow.RunCancelled)
	require.NotEmpty(t, run.Error)
	require.Equal(t, 0, cancelWaits(t, pool, runID), "a cancelled run's waits must go")
	require.Equal(t, "cancelled", cancelJobState(t, pool, jobID), "the run's River job")

	// A matching event afterwards resumes nothing (it is matched in the
	// sender's transaction, so its effects are visible once Send returns).
	_, err = c.Send(ctx, flow.Event{Name: "cancel/paid", Data: cancelData{ID: "w"}})
	require.NoError(t, err)
	run, err = c.GetRun(ctx, runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCancelled, run.Status)
	wait, ok := cancelFindStep(run, "wait-paid")
	require.True(t, ok)
	require.NotEqual(t, "completed", wait.Status, "a cancelled run's wait took an event")
	require.Equal(t, 0, cancelLiveJobs(t, pool, runID))
	require.Equal(t, 0, after.get("w"))

	ok, err = c.CancelRun(ctx, runID)
	require.NoError(t, err)
	require.False(t, ok)
}

func TestCancelRunEndedOrUnknown(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "cancel-done"}, flow.EventTrigger("cancel/done"),
			func(ctx context.Context, in flow.Input[cancelData]) (any, error) { return "done", nil })
		require.NoError(t, err)
	})
	ctx := testCtx(t)

	run := awaitOnly(t, c, flow.Event{Name: "cancel/done"})
	require.Equal(t, flow.RunCompleted, run.Status)
	ok, err := c.CancelRun(ctx, run.ID)
	require.NoError(t, err)
	require.False(t, ok, "cancelling an ended run")
	again, err := c.GetRun(ctx, run.ID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, again.Status)
	require.JSONEq(t, `"done"`, string(again.Output))

	_, err = c.CancelRun(ctx, "0190a5c8-0000-7000-8000-000000000000")
	require.ErrorIs(t, err, flow.ErrNotFound)
	_, err = c.CancelRun(ctx, "not-a-run")
	require.ErrorIs(t, err, flow.ErrNotFound)
}

func TestCancelRunTxRollback(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var before, after counter

	started := make(chan string, 1)
	release := make(chan struct{})
	var stepCtxCancelled atomic.Bool

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		cancelSleeper(t, c, flow.FunctionOpts{ID: "cancel-tx-sleeper"}, "cancel/tx-sleep", time.Minute, &before, &after)
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "cancel-tx-step"}, flow.EventTrigger("cancel/tx-step"),
			func(ctx context.Context, in flow.Input[cancelData]) (any, error) {
				return flow.Step(ctx, "block", func(ctx context.Context) (string, error) {
					started <- in.RunID
					select {
					case <-release:
					case <-ctx.Done():
						stepCtxCancelled.Store(true)
					}
					return "released", nil
				})
			})
		require.NoError(t, err)
	})
	var err error
	ctx := testCtx(t)

	rollbackCancel := func(runID string) {
		t.Helper()
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		ok, err := c.CancelRunTx(ctx, tx, runID)
		require.NoError(t, err)
		require.True(t, ok)
		require.NoError(t, tx.Rollback(ctx))
	}

	// A sleeping run.
	sleeperID := sendOne(t, c, flow.Event{Name: "cancel/tx-sleep", Data: cancelData{ID: "tx"}})[0]
	cancelUntilStatus(t, c, sleeperID, flow.RunSleeping)
	jobID := cancelJobID(t, pool, sleeperID)
	rollbackCancel(sleeperID)
	require.Equal(t, flow.RunSleeping, cancelStatus(t, c, sleeperID))
	require.Equal(t, "scheduled", cancelJobState(t, pool, jobID))

	// Committed, it cancels.
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	ok, err := c.CancelRunTx(ctx, tx, sleeperID)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, tx.Commit(ctx))
	cancelAwait(t, c, sleeperID, flow.RunCancelled)
	require.Equal(t, "cancelled", cancelJobState(t, pool, jobID))

	// A running run: rolled back, its step is not interrupted and the run
	// completes.
	runnerID := sendOne(t, c, flow.Event{Name: "cancel/tx-step"})[0]
	select {
	case id := <-started:
		require.Equal(t, runnerID, id)
	case <-time.After(20 * time.Second):
		t.Fatal("the step never started")
	}
	rollbackCancel(runnerID)
	require.Equal(t, flow.RunRunning, cancelStatus(t, c, runnerID))
	close(release)
	run := cancelAwait(t, c, runnerID, flow.RunCompleted)
	require.JSONEq(t, `"released"`, string(run.Output))
	require.False(t, stepCtxCancelled.Load(), "a rolled-back cancel interrupted the step")
}

// cancelBlocker is a function whose step "block" blocks until its context
// is cancelled, then reports it.
type cancelBlocker struct {
	started chan string // the run's ID, once the step started
	ctxDone chan error  // the step context's error, once cancelled
	after   atomic.Int32
}

func newCancelBlocker(t *testing.T, c *flow.Client, opts flow.FunctionOpts, event string) *cancelBlocker {
	t.Helper()
	b := &cancelBlocker{started: make(chan string, 4), ctxDone: make(chan error, 4)}
	_, err := flow.CreateFunction(c, opts, flow.EventTrigger(event),
		func(ctx context.Context, in flow.Input[cancelData]) (any, error) {
			if _, err := flow.Step(ctx, "block", func(ctx context.Context) (string, error) {
				b.started <- in.RunID
				select {
				case <-ctx.Done():
					b.ctxDone <- ctx.Err()
				case <-time.After(30 * time.Second):
				}
				return "late result", nil
			}); err != nil {
				return nil, err
			}
			if _, err := flow.Step(ctx, "after", func(ctx context.Context) (int32, error) {
				return b.after.Add(1), nil
			}); err != nil {
				return nil, err
			}
			return "finished", nil
		})
	require.NoError(t, err)
	return b
}

func (b *cancelBlocker) awaitStarted(t *testing.T, runID string) {
	t.Helper()
	select {
	case id := <-b.started:
		require.Equal(t, runID, id)
	case <-time.After(20 * time.Second):
		t.Fatal("the step never started")
	}
}

// checkInterrupted checks that the blocked step saw its context cancelled,
// and that once its job returned nothing of the step or after it was stored.
func (b *cancelBlocker) checkInterrupted(t *testing.T, c *flow.Client, pool *pgxpool.Pool, runID string, jobID int64) *flow.Run {
	t.Helper()
	select {
	case err := <-b.ctxDone:
		require.Error(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("the executing step's context was not cancelled")
	}
	cancelAwait(t, c, runID, flow.RunCancelled)
	cancelAwaitJobLeftRunning(t, pool, jobID)

	status, ok := cancelStoredStep(t, pool, runID, "block")
	require.False(t, ok && status == "completed", "the interrupted step's result was stored")
	_, ok = cancelStoredStep(t, pool, runID, "after")
	require.False(t, ok, "a step after the interrupted one was stored")
	require.Equal(t, int32(0), b.after.Load(), "a step after the interrupted one ran")
	run, err := c.GetRun(testCtx(t), runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCancelled, run.Status)
	require.Empty(t, run.Output)
	require.Equal(t, 0, cancelLiveJobs(t, pool, runID))
	return run
}

func TestCancelRunDuringStep(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var b *cancelBlocker

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		b = newCancelBlocker(t, c, flow.FunctionOpts{ID: "cancel-blocker"}, "cancel/block")
	})

	runID := sendOne(t, c, flow.Event{Name: "cancel/block", Data: cancelData{ID: "b"}})[0]
	b.awaitStarted(t, runID)
	jobID := cancelJobID(t, pool, runID)
	ok, err := c.CancelRun(testCtx(t), runID)
	require.NoError(t, err)
	require.True(t, ok)
	b.checkInterrupted(t, c, pool, runID, jobID)
}

func TestCancelOnDuringStep(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var b *cancelBlocker

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		b = newCancelBlocker(t, c, flow.FunctionOpts{
			ID:       "cancel-on-blocker",
			CancelOn: []flow.CancelOn{{Event: "cancel/stop", Match: "data.id"}},
		}, "cancel/block")
	})

	runID := sendOne(t, c, flow.Event{Name: "cancel/block", Data: cancelData{ID: "b"}})[0]
	b.awaitStarted(t, runID)
	jobID := cancelJobID(t, pool, runID)
	stopID := cancelSend(t, c, flow.Event{Name: "cancel/stop", Data: cancelData{ID: "b"}})
	run := b.checkInterrupted(t, c, pool, runID, jobID)
	require.Contains(t, run.Error, stopID, "the run's error names the cancelling event")
	require.Equal(t, 0, cancelWaits(t, pool, runID))
}

// cancelSend sends one event and returns its stored ID.
func cancelSend(t *testing.T, c *flow.Client, ev flow.Event) string {
	t.Helper()
	ids, err := c.Send(testCtx(t), ev)
	require.NoError(t, err)
	require.Len(t, ids, 1)
	return ids[0]
}

func TestCancelOnMatch(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var before, after counter

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		cancelSleeper(t, c, flow.FunctionOpts{
			ID:       "cancel-on-match",
			CancelOn: []flow.CancelOn{{Event: "cancel/stop", Match: "data.id"}},
		}, "cancel/sleep", time.Minute, &before, &after)
	})

	runA := sendOne(t, c, flow.Event{Name: "cancel/sleep", Data: cancelData{ID: "a"}})[0]
	runB := sendOne(t, c, flow.Event{Name: "cancel/sleep", Data: cancelData{ID: "b"}})[0]
	cancelUntilStatus(t, c, runA, flow.RunSleeping)
	cancelUntilStatus(t, c, runB, flow.RunSleeping)

	// Other values, a missing value, and other event names do nothing.
	cancelSend(t, c, flow.Event{Name: "cancel/stop", Data: cancelData{ID: "zzz"}})
	cancelSend(t, c, flow.Event{Name: "cancel/stop", Data: cancelData{}})
	cancelSend(t, c, flow.Event{Name: "cancel/other", Data: cancelData{ID: "a"}})
	require.Equal(t, flow.RunSleeping, cancelStatus(t, c, runA))
	require.Equal(t, flow.RunSleeping, cancelStatus(t, c, runB))

	// Matched in the sender's transaction: rolled back, it cancels nothing;
	// committed, the run is cancelled when Send returns.
	ctx := testCtx(t)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = c.SendTx(ctx, tx, flow.Event{Name: "cancel/stop", Data: cancelData{ID: "a"}})
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))
	require.Equal(t, flow.RunSleeping, cancelStatus(t, c, runA))

	stopID := cancelSend(t, c, flow.Event{Name: "cancel/stop", Data: cancelData{ID: "a"}})
	require.Equal(t, flow.RunCancelled, cancelStatus(t, c, runA))
	run := cancelAwait(t, c, runA, flow.RunCancelled)
	require.Contains(t, run.Error, stopID)
	require.Equal(t, flow.RunSleeping, cancelStatus(t, c, runB))
	require.Equal(t, 0, cancelWaits(t, pool, runA))
	require.Equal(t, 1, cancelWaits(t, pool, runB))
}

// A CancelOn whose Match path has no value in the triggering event could
// only match events that also lack it: it is not registered (a warning is
// logged), and the run goes on.
func TestCancelOnMatchMissingIsNotRegistered(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	cfg, logs := loggedConfig()
	var before, after counter

	c := flowtest.ClientOn(t, pool, cfg, func(c *flow.Client) {
		cancelSleeper(t, c, flow.FunctionOpts{
			ID:       "cancel-on-missing",
			CancelOn: []flow.CancelOn{{Event: "cancel/stop", Match: "data.reason"}},
		}, "cancel/sleep", time.Minute, &before, &after)
	})

	runID := sendOne(t, c, flow.Event{Name: "cancel/sleep", Data: cancelData{ID: "a"}})[0]
	cancelUntilStatus(t, c, runID, flow.RunSleeping)
	require.Equal(t, 0, cancelWaits(t, pool, runID))
	require.Contains(t, logs.String(), "CancelOn not registered")
	require.Contains(t, logs.String(), "data.reason")

	cancelSend(t, c, flow.Event{Name: "cancel/stop", Data: cancelData{ID: "b"}}) // reason missing too
	require.Equal(t, flow.RunSleeping, cancelStatus(t, c, runID))
}

func TestCancelOnIf(t *testing.T) {
	t.Parallel()
	var before, after counter

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		cancelSleeper(t, c, flow.FunctionOpts{
			ID: "cancel-on-if",
			CancelOn: []flow.CancelOn{{
				Event: "cancel/stop",
				If:    `async.data.reason == "fraud" && async.data.id == event.data.id`,
			}},
		}, "cancel/sleep", time.Minute, &before, &after)
	})

	runA := sendOne(t, c, flow.Event{Name: "cancel/sleep", Data: cancelData{ID: "a"}})[0]
	runB := sendOne(t, c, flow.Event{Name: "cancel/sleep", Data: cancelData{ID: "b"}})[0]
	cancelUntilStatus(t, c, runA, flow.RunSleeping)
	cancelUntilStatus(t, c, runB, flow.RunSleeping)

	cancelSend(t, c, flow.Event{Name: "cancel/stop", Data: cancelData{ID: "a", Reason: "mistake"}})
	cancelSend(t, c, flow.Event{Name: "cancel/stop", Data: cancelData{ID: "a"}}) // reason missing: null
	require.Equal(t, flow.RunSleeping, cancelStatus(t, c, runA))
	require.Equal(t, flow.RunSleeping, cancelStatus(t, c, runB))

	stopID := cancelSend(t, c, flow.Event{Name: "cancel/stop", Data: cancelData{ID: "a", Reason: "fraud"}})
	run := cancelAwait(t, c, runA, flow.RunCancelled)
	require.Contains(t, run.Error, stopID)
	require.Equal(t, flow.RunSleeping, cancelStatus(t, c, runB))
}

func TestCancelOnTimeout(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		// Both functions wait for "cancel/proceed"; "cancel/stop" cancels them
		// within their CancelOn timeout: 300ms for one, a minute for the other.
		for _, f := range []struct {
			id      string
			timeout time.Duration
		}{{"cancel-on-short", 300 * time.Millisecond}, {"cancel-on-long", time.Minute}} {
			_, err := flow.CreateFunction(c, flow.FunctionOpts{
				ID:       f.id,
				CancelOn: []flow.CancelOn{{Event: "cancel/stop", Timeout: f.timeout}},
			}, flow.EventTrigger("cancel/go"),
				func(ctx context.Context, in flow.Input[cancelData]) (any, error) {
					if _, err := flow.WaitForEvent[cancelData](ctx, "proceed", flow.WaitOpts{Event: "cancel/proceed", Timeout: time.Minute}); err != nil {
						return nil, err
					}
					return "done", nil
				})
			require.NoError(t, err)
		}
	})
	ctx := testCtx(t)

	evID := cancelSend(t, c, flow.Event{Name: "cancel/go"})
	var short, long string
	for _, id := range cancelRunsOf(t, c, evID) {
		r, err := c.GetRun(ctx, id)
		require.NoError(t, err)
		switch r.FunctionID {
		case "cancel-on-short":
			short = id
		case "cancel-on-long":
			long = id
		}
	}
	require.NotEmpty(t, short)
	require.NotEmpty(t, long)
	cancelUntilStatus(t, c, short, flow.RunWaiting)
	cancelUntilStatus(t, c, long, flow.RunWaiting)

	// Let the short CancelOn timeout pass (by the database's clock, from the
	// run's start).
	require.Eventually(t, func() bool {
		var past bool
		require.NoError(t, pool.QueryRow(ctx, `SELECT now() > started_at + interval '300 milliseconds' FROM flow_run WHERE id = $1`, short).Scan(&past))
		return past
	}, 20*time.Second, 10*time.Millisecond)

	cancelSend(t, c, flow.Event{Name: "cancel/stop"})
	cancelAwait(t, c, long, flow.RunCancelled)
	require.Equal(t, flow.RunWaiting, cancelStatus(t, c, short), "an event after the CancelOn timeout cancelled the run")

	cancelSend(t, c, flow.Event{Name: "cancel/proceed"})
	run := cancelAwait(t, c, short, flow.RunCompleted)
	require.JSONEq(t, `"done"`, string(run.Output))
}

// cancelRegister registers the functions that define creates in the
// database, with a client that starts and stops at once, so that events sent
// afterwards start runs that no client executes yet.
func cancelRegister(t *testing.T, pool *pgxpool.Pool, define func(c *flow.Client)) {
	t.Helper()
	c := newClient(t, pool, nil)
	define(c)
	require.NoError(t, c.Start(testCtx(t)))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.Stop(ctx))
}

func TestCancelOnEventBeforeFirstExecution(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var executions counter
	define := func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{
			ID:       "cancel-on-early",
			CancelOn: []flow.CancelOn{{Event: "cancel/stop", Match: "data.id"}},
		}, flow.EventTrigger("cancel/start"),
			func(ctx context.Context, in flow.Input[cancelData]) (any, error) {
				executions.add(in.Event.Data.ID)
				return "ran", nil
			})
		require.NoError(t, err)
	}
	cancelRegister(t, pool, define)
	c := newClient(t, pool, nil)
	define(c)
	ctx := testCtx(t)

	// Before any client executes runs: the trigger and its cancel in one
	// transaction, in two transactions, and a trigger with no cancel.
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	ids, err := c.SendTx(ctx, tx,
		flow.Event{Name: "cancel/start", Data: cancelData{ID: "same-tx"}},
		flow.Event{Name: "cancel/stop", Data: cancelData{ID: "same-tx"}})
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	sameTx := cancelRunsOf(t, c, ids[0])
	require.Len(t, sameTx, 1)

	later := sendOne(t, c, flow.Event{Name: "cancel/start", Data: cancelData{ID: "later"}})
	cancelSend(t, c, flow.Event{Name: "cancel/stop", Data: cancelData{ID: "later"}})
	control := sendOne(t, c, flow.Event{Name: "cancel/start", Data: cancelData{ID: "control"}})
	for _, id := range []string{sameTx[0], later[0], control[0]} {
		require.Equal(t, flow.RunQueued, cancelStatus(t, c, id))
	}

	start(t, c)
	run := cancelAwait(t, c, sameTx[0], flow.RunCancelled)
	require.Contains(t, run.Error, ids[1])
	cancelAwait(t, c, later[0], flow.RunCancelled)
	cancelAwait(t, c, control[0], flow.RunCompleted)
	require.Equal(t, 0, executions.get("same-tx"), "a run cancelled before it started executed")
	require.Equal(t, 0, executions.get("later"), "a run cancelled before it started executed")
	require.Equal(t, 1, executions.get("control"))
	for _, id := range []string{sameTx[0], later[0], control[0]} {
		require.Equal(t, 0, cancelWaits(t, pool, id))
	}
}

func TestCancelOnInvalid(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := newClient(t, pool, nil)
	handler := func(ctx context.Context, in flow.Input[cancelData]) (any, error) { return nil, nil }
	six := make([]flow.CancelOn, 6)
	for i := range six {
		six[i] = flow.CancelOn{Event: fmt.Sprintf("cancel/stop-%d", i)}
	}
	for _, tc := range []struct {
		name     string
		cancelOn []flow.CancelOn
		contains []string
	}{
		{"empty event", []flow.CancelOn{{Event: ""}}, []string{"CancelOn[0]"}},
		{"event with a space", []flow.CancelOn{{Event: "cancel/ok"}, {Event: "bad name"}}, []string{"CancelOn[1]", "bad name"}},
		{"wildcard event", []flow.CancelOn{{Event: "cancel/*"}}, []string{"CancelOn[0]"}},
		{"bad match", []flow.CancelOn{{Event: "cancel/stop", Match: "data..id"}}, []string{"CancelOn[0]", "data..id"}},
		{"bad if", []flow.CancelOn{{Event: "cancel/stop", If: `async.data.reason ==`}}, []string{"CancelOn[0]", "1:21"}},
		{"negative timeout", []flow.CancelOn{{Event: "cancel/stop", Timeout: -time.Second}}, []string{"CancelOn[0]"}},
		{"too many", six, []string{"5"}},
	} {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "cancel-invalid", CancelOn: tc.cancelOn}, flow.EventTrigger("cancel/start"), handler)
		require.ErrorIs(t, err, flow.ErrInvalidFunction, tc.name)
		for _, s := range tc.contains {
			require.Contains(t, err.Error(), s, tc.name)
		}
	}
	// None of them was created; five conditions are fine.
	_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "cancel-invalid", CancelOn: six[:5]}, flow.EventTrigger("cancel/start"), handler)
	require.NoError(t, err)
}

func TestCancelRunsByFunctionAndTime(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var before, after counter

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		cancelSleeper(t, c, flow.FunctionOpts{ID: "cancel-bulk"}, "cancel/bulk", time.Minute, &before, &after)
		cancelSleeper(t, c, flow.FunctionOpts{ID: "cancel-bulk-other"}, "cancel/bulk-other", time.Minute, &before, &after)
	})
	ctx := testCtx(t)
	dbNow := func() time.Time {
		t.Helper()
		var now time.Time
		require.NoError(t, pool.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&now))
		return now
	}
	send := func(name string, d cancelData) string {
		t.Helper()
		return sendOne(t, c, flow.Event{Name: name, Data: d})[0]
	}

	early1 := send("cancel/bulk", cancelData{ID: "early1"})
	early2 := send("cancel/bulk", cancelData{ID: "early2"})
	t1 := dbNow()
	in1 := send("cancel/bulk", cancelData{ID: "in1"})
	in2 := send("cancel/bulk", cancelData{ID: "in2"})
	inDone := send("cancel/bulk", cancelData{ID: "in-done", Quick: true})
	other := send("cancel/bulk-other", cancelData{ID: "other"})
	t2 := dbNow()
	late := send("cancel/bulk", cancelData{ID: "late"})
	cancelAwait(t, c, inDone, flow.RunCompleted)
	for _, id := range []string{early1, early2, in1, in2, other, late} {
		cancelUntilStatus(t, c, id, flow.RunSleeping)
	}

	_, err := c.CancelRuns(ctx, flow.BulkFilter{}, nil)
	require.Error(t, err, "CancelRuns needs a filter")

	res, err := c.CancelRuns(ctx, flow.BulkFilter{FunctionID: "cancel-bulk", CreatedAfter: t1, CreatedBefore: t2}, nil)
	require.NoError(t, err)
	require.Equal(t, 2, res.Done)
	cancelAwait(t, c, in1, flow.RunCancelled)
	cancelAwait(t, c, in2, flow.RunCancelled)
	require.Equal(t, flow.RunCompleted, cancelStatus(t, c, inDone))
	for _, id := range []string{early1, early2, other, late} {
		require.Equal(t, flow.RunSleeping, cancelStatus(t, c, id))
	}

	// Again: nothing left in the range.
	res, err = c.CancelRuns(ctx, flow.BulkFilter{FunctionID: "cancel-bulk", CreatedAfter: t1, CreatedBefore: t2}, nil)
	require.NoError(t, err)
	require.Equal(t, flow.BulkResult{}, res)

	// No CreatedBefore: up to now.
	res, err = c.CancelRuns(ctx, flow.BulkFilter{FunctionID: "cancel-bulk", CreatedAfter: t2}, nil)
	require.NoError(t, err)
	require.Equal(t, 1, res.Done)
	cancelAwait(t, c, late, flow.RunCancelled)
	for _, id := range []string{early1, early2, other} {
		require.Equal(t, flow.RunSleeping, cancelStatus(t, c, id))
	}
}

// TestCancelRaceWithWake sends a run's awaited event and cancels the run at
// the same time: the run ends either cancelled or completed with the event
// (never with an output once cancelled), and the step after the wait runs at
// most once, and not at all if the cancel came before the event. (If the
// event came first, the resumed run may get as far as that step before the
// cancel lands: that is not a resume after the cancel.)
func TestCancelRaceWithWake(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var after counter

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		cancelWaiter(t, c, flow.FunctionOpts{ID: "cancel-race"}, "cancel/race", &after)
	})
	ctx := testCtx(t)

	outcomes := map[string]int{}
	for i := range 10 {
		key := fmt.Sprintf("race-%d", i)
		runID := sendOne(t, c, flow.Event{Name: "cancel/race", Data: cancelData{ID: key}})[0]
		cancelUntilStatus(t, c, runID, flow.RunWaiting)

		var wg sync.WaitGroup
		var cancelled bool
		var cancelErr, sendErr error
		var paidID string
		go1 := make(chan struct{})
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-go1
			// Stagger the cancel a little from one iteration to the next,
			// so that the event wins in some and the cancel in others.
			time.Sleep(time.Duration(i) * 2 * time.Millisecond)
			cancelled, cancelErr = c.CancelRun(ctx, runID)
		}()
		go func() {
			defer wg.Done()
			<-go1
			var ids []string
			ids, sendErr = c.Send(ctx, flow.Event{Name: "cancel/paid", Data: cancelData{ID: key}})
			if len(ids) == 1 {
				paidID = ids[0]
			}
		}()
		close(go1)
		wg.Wait()
		require.NoError(t, cancelErr)
		require.NoError(t, sendErr)

		_, err := c.AwaitRun(ctx, runID)
		require.NoError(t, err)
		cancelAwaitNoRunningJobs(t, pool, runID)
		run, err := c.GetRun(ctx, runID)
		require.NoError(t, err)
		wait, ok := cancelFindStep(run, "wait-paid")
		require.True(t, ok)
		outcomes[string(run.Status)+"/wait "+wait.Status]++
		afterStep, afterStored := cancelFindStep(run, "after")
		require.LessOrEqual(t, after.get(key), 1, "iteration %d: the step after the wait ran more than once", i)
		switch run.Status {
		case flow.RunCompleted:
			require.False(t, cancelled, "iteration %d: CancelRun reported cancelling a run that completed", i)
			require.JSONEq(t, fmt.Sprintf("%q", paidID), string(run.Output))
			require.Equal(t, "completed", wait.Status)
			require.True(t, afterStored)
			require.Equal(t, "completed", afterStep.Status)
			require.Equal(t, 1, after.get(key))
		case flow.RunCancelled:
			require.True(t, cancelled, "iteration %d: the run was cancelled but CancelRun said it was not", i)
			require.Empty(t, run.Output)
			if afterStored && afterStep.Status == "completed" {
				// The event won, and the step finished before the cancel.
				require.Equal(t, "completed", wait.Status)
				require.Equal(t, 1, after.get(key))
			}
			if wait.Status != "completed" {
				// The cancel came first: the event resumed nothing.
				require.Equal(t, 0, after.get(key), "iteration %d: the step after the wait ran though the cancel came first", i)
			}
		default:
			t.Fatalf("iteration %d: run ended as %s: %s", i, run.Status, run.Error)
		}
		require.Equal(t, 0, cancelWaits(t, pool, runID))
		require.Equal(t, 0, cancelLiveJobs(t, pool, runID))
	}
	t.Logf("outcomes: %v", outcomes)
}
