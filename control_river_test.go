package flow_test

// Debounce, batch, throttle and concurrency slots against what River's
// scheduler and fetch do to a run's job (internal/riverjob/doc.go, assumptions 3 and 4):
// each test forces River's behaviour deterministically, with River's own
// scheduler statement or the row it leaves, rather than waiting for River's
// leader to get there.

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// runJob returns the River job that currently owns a run.
func runJob(t *testing.T, pool *pgxpool.Pool, runID string) int64 {
	t.Helper()
	var id int64
	require.NoError(t, pool.QueryRow(testCtx(t), "SELECT job_id FROM flow_run WHERE id = $1", runID).Scan(&id))
	return id
}

// receivedAt returns when the database received an event.
func receivedAt(t *testing.T, pool *pgxpool.Pool, eventID string) time.Time {
	t.Helper()
	var at time.Time
	require.NoError(t, pool.QueryRow(testCtx(t), "SELECT received_at FROM flow_event WHERE id = $1", eventID).Scan(&at))
	return at
}

// awaitWithin waits for a run to end, at most d.
func awaitWithin(t *testing.T, c *flow.Client, runID string, d time.Duration) *flow.Run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	run, err := c.AwaitRun(ctx, runID)
	require.NoError(t, err, "run %s did not end within %s", runID, d)
	return run
}

// River's scheduler made the debounced run's job available (it does so up
// to 5 s before its scheduled_at); a later event must still push the start.
func TestDebounceAfterRiverSchedulerPromotedJob(t *testing.T) {
	t.Parallel()
	const period = 2 * time.Second
	pool := flowtest.Pool(t)
	c := newClient(t, pool, nil)
	echoData(t, c, flow.FunctionOpts{ID: "debounced", Debounce: &flow.Debounce{Period: period}}, "doc/edited")
	start(t, c)

	sendData(t, c, "doc/edited", map[string]any{"v": 1})
	runID := runsOf(t, c, "debounced")[0].ID
	// The row River's scheduler leaves for a job due soon: available, its
	// scheduled_at ahead.
	_, err := pool.Exec(testCtx(t), "UPDATE river_job SET state = 'available', scheduled_at = now() + interval '300 ms' WHERE id = $1", runJob(t, pool, runID))
	require.NoError(t, err)
	last := sendData(t, c, "doc/edited", map[string]any{"v": 2})
	var wakeAt, scheduledAt time.Time
	require.NoError(t, pool.QueryRow(testCtx(t), `
		SELECT r.wake_at, j.scheduled_at FROM flow_run r JOIN river_job j ON j.id = r.job_id WHERE r.id = $1`, runID).Scan(&wakeAt, &scheduledAt))
	require.True(t, scheduledAt.Equal(wakeAt), "the event moved the job to the run's new wake time")

	run := awaitWithin(t, c, runID, 30*time.Second)
	require.Equal(t, []map[string]any{{"v": float64(2)}}, outputOf(t, run))
	require.Len(t, runsOf(t, c, "debounced"), 1)
	_, started := runTimes(t, pool, runID)
	require.False(t, started.Before(receivedAt(t, pool, last).Add(period)),
		"started %s after the last event, before the Period %s", started.Sub(receivedAt(t, pool, last)), period)
}

// River fetched the debounced run's job (running) before an event postponed
// the run: the run still waits a Period after that event.
func TestDebounceAfterRiverFetchedJob(t *testing.T) {
	t.Parallel()
	debounceAfterRiverFetchedJob(t, flow.FunctionOpts{})
}

// The same with a concurrency limit, whose runs claim a slot or wait for
// one: the run neither starts nor waits for a slot before it is due.
func TestDebounceWithConcurrencyAfterRiverFetchedJob(t *testing.T) {
	t.Parallel()
	debounceAfterRiverFetchedJob(t, flow.FunctionOpts{Concurrency: []flow.Concurrency{{Limit: 1}}})
}

func debounceAfterRiverFetchedJob(t *testing.T, opts flow.FunctionOpts) {
	const period = 2 * time.Second
	pool := flowtest.Pool(t)
	c := newClient(t, pool, nil)
	opts.ID, opts.Debounce = "debounced", &flow.Debounce{Period: period}
	echoData(t, c, opts, "doc/edited")
	start(t, c)
	ctx := testCtx(t)

	sendData(t, c, "doc/edited", map[string]any{"v": 1})
	runID := runsOf(t, c, "debounced")[0].ID
	jobID := runJob(t, pool, runID)

	// Hold the run's row, so that the segment's claim waits for the push
	// below, then let River fetch the job at once.
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(context.Background()) }()
	_, err = tx.Exec(ctx, "SELECT 1 FROM flow_run WHERE id = $1 FOR UPDATE", runID)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE river_job SET state = 'available', scheduled_at = now() WHERE id = $1;`, jobID)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `SELECT pg_notify(current_schema() || '.river_insert', json_build_object('queue', 'flow')::text)`)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var state string
		require.NoError(t, pool.QueryRow(ctx, "SELECT state FROM river_job WHERE id = $1", jobID).Scan(&state))
		return state == "running"
	}, 20*time.Second, 10*time.Millisecond, "River fetches the job")

	ids, err := c.SendTx(ctx, tx, flow.Event{Name: "doc/edited", Data: map[string]any{"v": 2}})
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))

	run := awaitWithin(t, c, runID, 30*time.Second)
	require.Equal(t, []map[string]any{{"v": float64(2)}}, outputOf(t, run))
	require.Len(t, runsOf(t, c, "debounced"), 1)
	_, started := runTimes(t, pool, runID)
	require.False(t, started.Before(receivedAt(t, pool, ids[0]).Add(period)),
		"started %s after the last event, before the Period %s", started.Sub(receivedAt(t, pool, ids[0])), period)
}

// The burst: 13 events 450 ms apart with a 1 s debounce start one
// run, after the last event. River's scheduler runs after every event (in
// production it runs every 5 s, so it touches the job at some point of any
// such burst).
func TestDebounceBurstStartsOneRunAfterLastEvent(t *testing.T) {
	t.Parallel()
	const period = time.Second
	pool := flowtest.Pool(t)
	c := newClient(t, pool, nil)
	echoData(t, c, flow.FunctionOpts{ID: "debounced", Debounce: &flow.Debounce{Period: period}}, "doc/edited")
	start(t, c)

	var last string
	for i := range 13 {
		if i > 0 {
			time.Sleep(450 * time.Millisecond) // the burst's spacing, not a synchronisation
		}
		last = sendData(t, c, "doc/edited", map[string]any{"v": i})
		riverSchedule(t, pool)
	}
	runs := awaitAll(t, c, "debounced")
	require.Len(t, runs, 1, "one run for the whole burst")
	require.Equal(t, last, runs[0].EventID)
	_, started := runTimes(t, pool, runs[0].ID)
	require.False(t, started.Before(receivedAt(t, pool, last).Add(period)),
		"started %s after the last event, before the Period %s", started.Sub(receivedAt(t, pool, last)), period)
}

// River's scheduler made an open batch's job available for its timeout: the
// event that fills the batch still starts it at once.
func TestBatchFullAfterRiverSchedulerPromotedJob(t *testing.T) {
	t.Parallel()
	const timeout = time.Minute
	pool := flowtest.Pool(t)
	c := newClient(t, pool, nil)
	echoData(t, c, flow.FunctionOpts{ID: "batched", Batch: &flow.Batch{MaxSize: 3, Timeout: timeout}}, "row/added")
	start(t, c)

	sendData(t, c, "row/added", map[string]any{"n": 0})
	runID := runsOf(t, c, "batched")[0].ID
	// River's scheduler, as it runs within 5 s of the timeout.
	require.Equal(t, []int64{runJob(t, pool, runID)}, riverScheduleAt(t, pool, time.Now().Add(timeout+time.Second)))
	sendData(t, c, "row/added", map[string]any{"n": 1})
	filled := time.Now()
	sendData(t, c, "row/added", map[string]any{"n": 2})

	run := awaitWithin(t, c, runID, 20*time.Second) // generous; the timeout is a minute
	require.Len(t, outputOf(t, run), 3)
	t.Logf("the full batch ended %s after its last event", time.Since(filled).Round(time.Millisecond))
}

// A throttled run moved ahead in the queue by a priority is not started
// before its throttle allows, once River's scheduler touched its job.
func TestThrottleWithPriorityAfterRiverScheduler(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := newClient(t, pool, nil)
	echoData(t, c, flow.FunctionOpts{ID: "throttled", Throttle: &flow.Throttle{Limit: 1, Period: 2 * time.Second}, Priority: &flow.Priority{Run: "60"}}, "row/added")
	start(t, c)

	sendData(t, c, "row/added", map[string]any{"n": 0})
	sendData(t, c, "row/added", map[string]any{"n": 1})
	runs := runsOf(t, c, "throttled")
	require.Len(t, runs, 2)
	second := runs[1].ID
	var wakeAt *time.Time
	var scheduledAt time.Time
	require.NoError(t, pool.QueryRow(testCtx(t), `
		SELECT r.wake_at, j.scheduled_at FROM flow_run r JOIN river_job j ON j.id = r.job_id WHERE r.id = $1`, second).Scan(&wakeAt, &scheduledAt))
	require.NotNil(t, wakeAt, "the throttle delays the second run")
	require.False(t, scheduledAt.Before(*wakeAt), "its job is not scheduled before the run's wake time")
	riverSchedule(t, pool)

	run := awaitWithin(t, c, second, 30*time.Second)
	require.Equal(t, flow.RunCompleted, run.Status)
	_, started := runTimes(t, pool, second)
	require.False(t, started.Before(*wakeAt), "started %s before the throttle allowed", wakeAt.Sub(started))
}

// A run waiting for a concurrency slot whose job River's scheduler made
// available (ahead of its recheck) starts as soon as a slot frees.
func TestSlotWaiterAfterRiverSchedulerPromotedJob(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := newClient(t, pool, nil)
	release := make(chan struct{})
	_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "limited", Concurrency: []flow.Concurrency{{Limit: 1}}}, flow.EventTrigger("row/added"),
		func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
			return flow.Step(ctx, "work", func(ctx context.Context) (any, error) {
				if in.Event.Data["hold"] == true {
					select {
					case <-release:
					case <-ctx.Done():
						return nil, ctx.Err()
					}
				}
				return in.Event.Data, nil
			})
		})
	require.NoError(t, err)
	start(t, c)
	ctx := testCtx(t)

	sendData(t, c, "row/added", map[string]any{"hold": true})
	first := runsOf(t, c, "limited")[0].ID
	require.Eventually(t, func() bool { return runStatus(t, c, first) == flow.RunRunning }, 20*time.Second, 10*time.Millisecond)
	sendData(t, c, "row/added", map[string]any{"hold": false})
	second := runsOf(t, c, "limited")[1].ID
	require.Eventually(t, func() bool {
		var parked bool
		require.NoError(t, pool.QueryRow(ctx, "SELECT slot_wait IS NOT NULL FROM flow_run WHERE id = $1", second).Scan(&parked))
		return parked
	}, 20*time.Second, 10*time.Millisecond, "the second run waits for the slot")
	// River's scheduler, as it runs within 5 s of the waiter's recheck.
	var parkedJob int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT job_id FROM flow_run WHERE id = $1", second).Scan(&parkedJob))
	require.Contains(t, riverScheduleAt(t, pool, time.Now().Add(2*time.Minute)), parkedJob)

	close(release)
	freed := time.Now()
	awaitWithin(t, c, first, 20*time.Second)
	run := awaitWithin(t, c, second, 20*time.Second) // generous; the recheck is a minute away
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	t.Logf("the waiting run ended %s after the slot freed", time.Since(freed).Round(time.Millisecond))
}
