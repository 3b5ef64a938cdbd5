package faults

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
)

// TestPauseWorkerKilled pauses the function while a worker process executes
// its runs, then kills that worker with SIGKILL and starts another. The runs
// the kill cut off (executing, or stopped at a step boundary by the pause
// with their continuation fetched by the dead worker) are handed over by
// the lease sweeper, and the handover's claim holds them like every other
// run of the paused function. Once every run that has not ended is held,
// the function is resumed: every run then completes exactly once, with no
// stored step executed again and StepTx b committed once per run.
func TestPauseWorkerKilled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), scale(2*time.Minute, 5*time.Minute))
	defer cancel()
	f := newFixture(t, sharedServer(t))

	c, err := flow.NewClient(f.pool(t, "faults-sender", 5), clientConfig("sender", workerLease, nil))
	require.NoError(t, err)
	require.NoError(t, defineFunction(c, nil, workerShape))
	w := startWorker(t, f.url, "worker-0", workerKill, nil)
	require.Eventually(t, func() bool { // the worker registered the function
		var n int
		err := f.admin.QueryRow(ctx, `SELECT count(*) FROM flow_trigger WHERE function_id = $1`, functionID).Scan(&n)
		return err == nil && n > 0
	}, time.Minute, 20*time.Millisecond, "the worker did not start")

	s := &sender{c: c}
	s.send(ctx, scale(40, 200), 4, 20*time.Millisecond)
	require.Eventually(t, func() bool { // the worker is executing runs
		var n int
		err := f.admin.QueryRow(ctx, `SELECT count(*) FROM flow_run WHERE status = 'running' AND lease_owner = $1`, w.id).Scan(&n)
		return err == nil && n > 0
	}, time.Minute, 5*time.Millisecond, "the worker never executed a run")

	require.NoError(t, c.PauseFunction(ctx, functionID))
	w.kill()
	var cutOff int
	require.NoError(t, f.admin.QueryRow(ctx, `
		SELECT count(*) FROM flow_run r
		WHERE (r.status = 'running' AND r.lease_owner = $1)
		   OR (r.ended_at IS NULL AND EXISTS (
		       SELECT 1 FROM river_job j WHERE j.id = r.job_id AND j.state = 'running' AND $1 = ANY(j.attempted_by)))`,
		w.id).Scan(&cutOff))
	startWorker(t, f.url, "worker-1", workerKill, nil)

	// Every run that has not ended is held, those the kill cut off included
	// (after their lease lapsed).
	var held, ended, open int
	require.Eventually(t, func() bool {
		err := f.admin.QueryRow(ctx, `
			SELECT count(*) FILTER (WHERE ended_at IS NULL AND paused_at IS NOT NULL),
			       count(*) FILTER (WHERE ended_at IS NOT NULL),
			       count(*) FILTER (WHERE ended_at IS NULL AND paused_at IS NULL)
			FROM flow_run`).Scan(&held, &ended, &open)
		return err == nil && open == 0
	}, time.Minute, 20*time.Millisecond, "runs of the paused function not held")
	require.Positive(t, held, "no run was held: the test tests nothing")

	require.NoError(t, c.ResumeFunction(ctx, functionID))
	ids, _ := s.sent()
	awaitEnded(t, f.admin, len(ids), 2*time.Minute)
	tl := verify(t, f.admin, s)
	t.Logf("runs %d: %d ended before the pause took hold, %d held (%d cut off by the kill), all completed once after the resume; "+
		"stored steps executed again %d, bodies executed again after the kill cut them off %d",
		tl.Runs, ended, held, cutOff, tl.Reexecuted, tl.Repeats)
}
