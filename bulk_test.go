package flow_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// bulkDBNow reads the database's clock: run and event times are its own.
func bulkDBNow(t *testing.T, pool *pgxpool.Pool) time.Time {
	t.Helper()
	var now time.Time
	require.NoError(t, pool.QueryRow(testCtx(t), `SELECT clock_timestamp()`).Scan(&now))
	return now
}

// bulkStatusCount counts a function's runs in a status.
func bulkStatusCount(t *testing.T, pool *pgxpool.Pool, fnID string, status flow.RunStatus) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(testCtx(t),
		`SELECT count(*) FROM flow_run WHERE function_id = $1 AND status = $2`, fnID, string(status)).Scan(&n))
	return n
}

// bulkWaiter creates a function that waits a day for an event no test sends.
func bulkWaiter(t *testing.T, c *flow.Client, id string, trigger flow.Trigger) {
	t.Helper()
	_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: id}, trigger,
		func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
			_, err := flow.WaitForEvent[map[string]any](ctx, "never", flow.WaitOpts{Event: "bulk/never", Timeout: 24 * time.Hour})
			return nil, err
		})
	require.NoError(t, err)
}

// Cancelling 2,000 queued runs of a function goes in batches of the given
// size, each its own transaction, reports progress after each, cancels
// every run and its River job, leaves another function's runs alone, and
// repeated, finds nothing left to do.
func TestCancelRunsThousandsWithProgress(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	ctx := testCtx(t)
	// A process registers the functions and stops: their runs stay queued,
	// as a backlog would.
	worker := newClient(t, pool, nil)
	bulkWaiter(t, worker, "bulk-many", flow.EventTrigger("bulk/many"))
	bulkWaiter(t, worker, "bulk-many-other", flow.EventTrigger("bulk/many-other"))
	require.NoError(t, worker.Start(ctx))
	require.NoError(t, worker.Stop(ctx))
	c := newClient(t, pool, nil)
	const n = 2000
	events := make([]flow.Event, n)
	for i := range events {
		events[i] = flow.Event{Name: "bulk/many", Data: map[string]int{"i": i}}
	}
	for i := 0; i < n; i += 500 {
		_, err := c.Send(ctx, events[i:i+500]...)
		require.NoError(t, err)
	}
	_, err := c.Send(ctx, flow.Event{Name: "bulk/many-other", Data: map[string]int{}})
	require.NoError(t, err)

	dry, err := c.CancelRuns(ctx, flow.BulkFilter{FunctionID: "bulk-many"}, &flow.BulkOpts{DryRun: true})
	require.NoError(t, err)
	require.Equal(t, flow.BulkResult{Total: n}, dry, "a dry run counts and changes nothing")
	require.Equal(t, n, bulkStatusCount(t, pool, "bulk-many", flow.RunQueued))

	var progress []flow.BulkProgress
	began := time.Now()
	res, err := c.CancelRuns(ctx, flow.BulkFilter{FunctionID: "bulk-many"}, &flow.BulkOpts{
		BatchSize: 300,
		Progress:  func(p flow.BulkProgress) { progress = append(progress, p) },
	})
	require.NoError(t, err)
	t.Logf("CancelRuns: %d runs in %s", n, time.Since(began))
	require.Equal(t, n, res.Total)
	require.Equal(t, n, res.Done)
	require.Zero(t, res.Skipped)
	require.Nil(t, res.RunIDs)
	// Once counted, then after each of the 7 batches (6 of 300, one of 200).
	require.Len(t, progress, 8)
	require.Equal(t, flow.BulkProgress{Total: n}, progress[0])
	for i := 1; i < len(progress); i++ {
		require.Equal(t, min(i*300, n), progress[i].Done, "progress after batch %d", i)
		require.Equal(t, n, progress[i].Total)
	}
	require.Equal(t, n, bulkStatusCount(t, pool, "bulk-many", flow.RunCancelled))
	require.Equal(t, 1, bulkStatusCount(t, pool, "bulk-many-other", flow.RunQueued))
	var liveJobs int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM river_job j JOIN flow_run r ON r.job_id = j.id
		WHERE r.function_id = 'bulk-many' AND j.state NOT IN ('cancelled', 'completed', 'discarded')`).Scan(&liveJobs))
	require.Zero(t, liveJobs, "each run's River job is cancelled with it")

	again, err := c.CancelRuns(ctx, flow.BulkFilter{FunctionID: "bulk-many"}, nil)
	require.NoError(t, err)
	require.Equal(t, flow.BulkResult{}, again, "repeated: nothing left to cancel")
}

// Each field of BulkFilter narrows the selection: function, status, event
// name, creation time range and run IDs; an empty filter is refused.
func TestBulkFilterFields(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	ctx := testCtx(t)
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		bulkWaiter(t, c, "bulk-f-wait", flow.EventTrigger("bulkf/*"))
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "bulk-f-quick"}, flow.EventTrigger("bulkq/go"),
			func(ctx context.Context, in flow.Input[map[string]any]) (any, error) { return "done", nil })
		require.NoError(t, err)
	})
	send := func(name string) string {
		t.Helper()
		runs := sendOne(t, c, flow.Event{Name: name, Data: map[string]any{}})
		require.Len(t, runs, 1)
		return runs[0]
	}
	early := send("bulkf/x")
	t1 := bulkDBNow(t, pool)
	inX := send("bulkf/x")
	inY := send("bulkf/y")
	t2 := bulkDBNow(t, pool)
	late := send("bulkf/x")
	quick1, quick2 := send("bulkq/go"), send("bulkq/go")
	for _, id := range []string{early, inX, inY, late} {
		flowtest.AwaitStatus(t, c, id, flow.RunWaiting)
	}
	for _, id := range []string{quick1, quick2} {
		flowtest.AwaitStatus(t, c, id, flow.RunCompleted)
	}
	count := func(f flow.BulkFilter) int {
		t.Helper()
		res, err := c.RerunRuns(ctx, f, "", &flow.BulkOpts{DryRun: true})
		require.NoError(t, err)
		return res.Total
	}
	require.Equal(t, 4, count(flow.BulkFilter{FunctionID: "bulk-f-wait"}))
	require.Equal(t, 2, count(flow.BulkFilter{FunctionID: "bulk-f-quick"}))
	require.Equal(t, 2, count(flow.BulkFilter{Status: []flow.RunStatus{flow.RunCompleted}}))
	require.Equal(t, 6, count(flow.BulkFilter{Status: []flow.RunStatus{flow.RunCompleted, flow.RunWaiting}}))
	require.Equal(t, 0, count(flow.BulkFilter{FunctionID: "bulk-f-quick", Status: []flow.RunStatus{flow.RunWaiting}}))
	require.Equal(t, 3, count(flow.BulkFilter{EventName: "bulkf/x"}))
	require.Equal(t, 2, count(flow.BulkFilter{CreatedAfter: t1, CreatedBefore: t2}))
	require.Equal(t, 5, count(flow.BulkFilter{CreatedAfter: t1}))
	require.Equal(t, 1, count(flow.BulkFilter{CreatedBefore: t1}))
	require.Equal(t, 2, count(flow.BulkFilter{RunIDs: []string{early, quick1}}))
	// Cancelling counts only runs that have not ended.
	dry, err := c.CancelRuns(ctx, flow.BulkFilter{RunIDs: []string{early, quick1}}, &flow.BulkOpts{DryRun: true})
	require.NoError(t, err)
	require.Equal(t, 1, dry.Total)

	_, err = c.CancelRuns(ctx, flow.BulkFilter{}, nil)
	require.ErrorContains(t, err, "flow: CancelRuns: empty filter")
	_, err = c.RerunRuns(ctx, flow.BulkFilter{RunIDs: []string{"nope"}}, "", nil)
	require.ErrorContains(t, err, "not a run ID")

	// The event name and the time range together: only inY.
	res, err := c.CancelRuns(ctx, flow.BulkFilter{EventName: "bulkf/y", CreatedAfter: t1, CreatedBefore: t2}, nil)
	require.NoError(t, err)
	require.Equal(t, 1, res.Done)
	flowtest.AwaitStatus(t, c, inY, flow.RunCancelled)
	// Run IDs: early only (quick1 has ended: not selected).
	res, err = c.CancelRuns(ctx, flow.BulkFilter{RunIDs: []string{early, quick1}}, nil)
	require.NoError(t, err)
	require.Equal(t, 1, res.Done)
	flowtest.AwaitStatus(t, c, early, flow.RunCancelled)
	// Status: the waiting runs of the function, inX and late.
	res, err = c.CancelRuns(ctx, flow.BulkFilter{FunctionID: "bulk-f-wait", Status: []flow.RunStatus{flow.RunWaiting}}, nil)
	require.NoError(t, err)
	require.Equal(t, 2, res.Done)
	for _, id := range []string{inX, late} {
		flowtest.AwaitStatus(t, c, id, flow.RunCancelled)
	}
	for _, id := range []string{quick1, quick2} {
		run, err := c.GetRun(ctx, id)
		require.NoError(t, err)
		require.Equal(t, flow.RunCompleted, run.Status)
	}
}

// RerunRuns from a step reruns every failed run of a function: the steps
// before it keep their stored results (not executed again), the step and
// those after it execute; repeating the call reruns nothing twice, and a
// run without the step is skipped.
func TestRerunRunsFromStep(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	ctx := testCtx(t)
	var first counter
	var broken atomic.Bool
	broken.Store(true)
	zero := 0
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "bulk-rerun", Retries: &zero}, flow.EventTrigger("bulk/rerun"),
			func(ctx context.Context, in flow.Input[map[string]string]) (any, error) {
				a, err := flow.Step(ctx, "first", func(ctx context.Context) (int, error) {
					return first.add(in.Event.Data["id"]), nil
				})
				if err != nil {
					return nil, err
				}
				if in.Event.Data["id"] == "early-fail" {
					return nil, errors.New("fails before the second step")
				}
				return flow.Step(ctx, "second", func(ctx context.Context) (string, error) {
					if broken.Load() {
						return "", errors.New("second is broken")
					}
					return fmt.Sprintf("first ran %d time(s)", a), nil
				})
			})
		require.NoError(t, err)
	})
	var orig []string
	for i := range 5 {
		orig = append(orig, sendOne(t, c, flow.Event{Name: "bulk/rerun", Data: map[string]string{"id": fmt.Sprint(i)}})...)
	}
	earlyFail := sendOne(t, c, flow.Event{Name: "bulk/rerun", Data: map[string]string{"id": "early-fail"}})[0]
	for _, id := range append(orig, earlyFail) {
		flowtest.AwaitStatus(t, c, id, flow.RunFailed)
	}
	broken.Store(false)

	filter := flow.BulkFilter{FunctionID: "bulk-rerun", Status: []flow.RunStatus{flow.RunFailed}}
	res, err := c.RerunRuns(ctx, filter, "second", &flow.BulkOpts{BatchSize: 2})
	require.NoError(t, err)
	require.Equal(t, 6, res.Total)
	require.Equal(t, 5, res.Done)
	require.Equal(t, 1, res.Skipped, "the run that never reached the step")
	require.Len(t, res.RunIDs, 5)
	for _, id := range res.RunIDs {
		run, err := c.AwaitRun(ctx, id)
		require.NoError(t, err)
		require.Equal(t, flow.RunCompleted, run.Status)
		require.JSONEq(t, `"first ran 1 time(s)"`, string(run.Output))
	}
	for i := range 5 {
		require.Equal(t, 1, first.get(fmt.Sprint(i)), "the first step is not executed again")
	}

	again, err := c.RerunRuns(ctx, filter, "second", nil)
	require.NoError(t, err)
	require.Equal(t, 6, again.Total)
	require.Zero(t, again.Done, "repeated: every failed run has a rerun already")
	require.Equal(t, 6, again.Skipped)

	// From the top: the early failure (not rerun yet) starts again.
	broken.Store(true)
	top, err := c.RerunRuns(ctx, flow.BulkFilter{RunIDs: []string{earlyFail}}, "", nil)
	require.NoError(t, err)
	require.Len(t, top.RunIDs, 1)
	flowtest.AwaitStatus(t, c, top.RunIDs[0], flow.RunFailed)
	require.Equal(t, 2, first.get("early-fail"), "from the top, the first step executes again")
}

// Replay starts a function for the past events that match its trigger, by
// name and If, in a time range: events sent before any process had defined
// it (the deploy hazard) start their runs; events out of the range or of
// another name, or failing If, do not; a second Replay skips the events
// that already started a run unless IncludeStarted.
func TestReplayTimeRange(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	ctx := testCtx(t)
	// An old deploy: the events are sent before any process defines the
	// function, and start nothing.
	sender := newClient(t, pool, nil)
	sendAll := func(evs ...flow.Event) []string {
		t.Helper()
		ids, err := sender.Send(ctx, evs...)
		require.NoError(t, err)
		return ids
	}
	sendAll(flow.Event{Name: "replay/order", Data: map[string]int{"n": 100}})
	from := bulkDBNow(t, pool)
	sendAll(
		flow.Event{Name: "replay/order", Data: map[string]int{"n": 1}},
		flow.Event{Name: "replay/order", Data: map[string]int{"n": 2}},
		flow.Event{Name: "replay/order", Data: map[string]int{"n": 3}},
		flow.Event{Name: "replay/other", Data: map[string]int{"n": 4}},
	)
	to := bulkDBNow(t, pool)
	sendAll(flow.Event{Name: "replay/order", Data: map[string]int{"n": 200}})

	_, err := sender.Replay(ctx, "replay-fn", from, to, nil)
	require.ErrorIs(t, err, flow.ErrNotFound, "an unregistered function")

	var seen counter
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "replay-fn"}, flow.EventTrigger("replay/order").If("event.data.n > 1"),
			func(ctx context.Context, in flow.Input[map[string]int]) (any, error) {
				seen.add(fmt.Sprint(in.Event.Data["n"]))
				return in.Event.Data["n"], nil
			})
		require.NoError(t, err)
	})
	runs, err := c.ListRuns(ctx, flow.RunFilter{FunctionID: "replay-fn"})
	require.NoError(t, err)
	require.Empty(t, runs, "events sent before the function existed started nothing")

	// The sender defines no function: it replays from the registry.
	res, err := sender.Replay(ctx, "replay-fn", from, to, nil)
	require.NoError(t, err)
	require.Equal(t, 3, res.Total, "the three replay/order events in the range")
	require.Equal(t, 2, res.Done, "n=2 and n=3 pass the trigger's If")
	require.Equal(t, 1, res.Skipped)
	for _, id := range res.RunIDs {
		run, err := c.AwaitRun(ctx, id)
		require.NoError(t, err)
		require.Equal(t, flow.RunCompleted, run.Status)
	}
	require.Equal(t, 1, seen.get("2"))
	require.Equal(t, 1, seen.get("3"))
	require.Equal(t, 2, seen.total())

	again, err := c.Replay(ctx, "replay-fn", from, to, nil)
	require.NoError(t, err)
	require.Equal(t, 1, again.Total, "only n=1, whose If failed, started no run")
	require.Zero(t, again.Done)

	all, err := c.Replay(ctx, "replay-fn", from, to, &flow.ReplayOpts{IncludeStarted: true})
	require.NoError(t, err)
	require.Equal(t, 2, all.Done)
	for _, id := range all.RunIDs {
		_, err := c.AwaitRun(ctx, id)
		require.NoError(t, err)
	}
	require.Equal(t, 2, seen.get("2"))

	_, err = c.Replay(ctx, "replay-fn", to, from, nil)
	require.ErrorContains(t, err, "is not before")
}

// Flow control applies to replayed runs as to sent ones: an idempotency key
// lets one run start per key, the others are recorded as skipped.
func TestReplayFlowControl(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	ctx := testCtx(t)
	sender := newClient(t, pool, nil)
	from := bulkDBNow(t, pool)
	_, err := sender.Send(ctx,
		flow.Event{Name: "replay/keyed", Data: map[string]string{"k": "a"}},
		flow.Event{Name: "replay/keyed", Data: map[string]string{"k": "a"}},
		flow.Event{Name: "replay/keyed", Data: map[string]string{"k": "b"}},
	)
	require.NoError(t, err)
	to := bulkDBNow(t, pool)
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "replay-keyed", Idempotency: "event.data.k"}, flow.EventTrigger("replay/keyed"),
			func(ctx context.Context, in flow.Input[map[string]string]) (any, error) {
				return in.Event.Data["k"], nil
			})
		require.NoError(t, err)
	})
	res, err := c.Replay(ctx, "replay-keyed", from, to, nil)
	require.NoError(t, err)
	require.Equal(t, 3, res.Total)
	require.Len(t, res.RunIDs, 3)
	statuses := map[flow.RunStatus]int{}
	for _, id := range res.RunIDs {
		run, err := c.AwaitRun(ctx, id)
		require.NoError(t, err)
		statuses[run.Status]++
	}
	require.Equal(t, map[flow.RunStatus]int{flow.RunCompleted: 2, flow.RunSkipped: 1}, statuses)
}

// Each run CancelRuns cancels sends flow/function.cancelled, which starts
// the functions listening for it (upstream's TestEventCancellation: a
// handler of inngest/function.cancelled filtered by function_id sees each
// cancelled run once); EventID selects the runs of one event.
func TestCancelRunsSendsCancelledEvents(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	var heard counter
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		bulkWaiter(t, c, "bulk-sys", flow.EventTrigger("bulk/sys"))
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "bulk-sys-handler"},
			flow.EventTrigger(flow.EventFunctionCancelled).If("event.data.function_id == 'bulk-sys'"),
			func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
				heard.add(fmt.Sprint(in.Event.Data["run_id"]))
				return nil, nil
			})
		require.NoError(t, err)
	})
	var runs []string
	var firstEvent string
	for i := range 3 {
		ids, err := c.Send(ctx, flow.Event{Name: "bulk/sys", Data: map[string]int{"i": i}})
		require.NoError(t, err)
		if i == 0 {
			firstEvent = ids[0]
		}
		list, err := c.ListRuns(ctx, flow.RunFilter{EventID: ids[0]})
		require.NoError(t, err)
		require.Len(t, list, 1)
		runs = append(runs, list[0].ID)
	}
	for _, id := range runs {
		flowtest.AwaitStatus(t, c, id, flow.RunWaiting)
	}
	one, err := c.CancelRuns(ctx, flow.BulkFilter{EventID: firstEvent}, nil)
	require.NoError(t, err)
	require.Equal(t, 1, one.Done, "EventID: the first event's run only")
	rest, err := c.CancelRuns(ctx, flow.BulkFilter{FunctionID: "bulk-sys"}, nil)
	require.NoError(t, err)
	require.Equal(t, 2, rest.Done)
	require.Eventually(t, func() bool { return heard.total() == 3 }, 15*time.Second, 10*time.Millisecond)
	for _, id := range runs {
		require.Equal(t, 1, heard.get(id), "one flow/function.cancelled per run")
	}
	_, err = c.CancelRuns(ctx, flow.BulkFilter{EventID: "nope"}, nil)
	require.ErrorContains(t, err, "not an event ID")
}
