package riverjob_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/flowtest"
	"github.com/riverflow/flow/internal/dbsqlc"
)

// RunShiftDueTimes (flowtest.Advance) moves every suspended run's job with
// its wake time: a job still scheduled keeps its state or goes to the new
// time; one River's scheduler made available early stays available; a job
// whose run executes (River has it) is left alone, as are the run, its steps
// and its waits. The steps' wake times and the waits' expiry move with it.
func TestRunShiftDueTimesMovesEveryJob(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	ctx := testCtx(t)
	now := time.Now().Truncate(time.Microsecond)
	run := func(status, jobState string, wake time.Time) (string, int64) {
		jobID := insertJobAsWeDo(t, pool, jobState, wake)
		id := newUUID()
		_, err := pool.Exec(ctx, `INSERT INTO flow_run (id, function_id, event_id, status, job_id, wake_at)
			VALUES ($1, 'f', $2, $3, $4, $5)`, id, newUUID(), status, jobID, wake)
		require.NoError(t, err)
		_, err = pool.Exec(ctx, `INSERT INTO flow_step (run_id, id, seq, kind, status, wake_at)
			VALUES ($1, 'w', 0, 'wait', 'waiting', $2)`, id, wake)
		require.NoError(t, err)
		_, err = pool.Exec(ctx, `INSERT INTO flow_wait (run_id, step_id, event_name, expires_at)
			VALUES ($1, 'w', 'e', $2)`, id, wake)
		require.NoError(t, err)
		return id, jobID
	}
	laterRun, laterJob := run("waiting", "scheduled", now.Add(2*time.Hour))
	earlyRun, earlyJob := run("waiting", "available", now.Add(3*time.Second))
	dueRun, dueJob := run("sleeping", "scheduled", now.Add(30*time.Minute))
	busyRun, busyJob := run("running", "running", now.Add(time.Minute))

	row, err := dbsqlc.New().RunShiftDueTimes(ctx, pool, time.Hour)
	require.NoError(t, err)
	require.Equal(t, &dbsqlc.RunShiftDueTimesRow{Runs: 3, Steps: 3, Waits: 3, Jobs: 3}, row)

	for _, tc := range []struct {
		run   string
		job   int64
		state string
		want  time.Time
	}{
		{laterRun, laterJob, "scheduled", now.Add(time.Hour)},
		{earlyRun, earlyJob, "available", now.Add(3*time.Second - time.Hour)},
		{dueRun, dueJob, "scheduled", now.Add(-30 * time.Minute)},
		{busyRun, busyJob, "running", now.Add(time.Minute)},
	} {
		job := jobRow(t, pool, tc.job)
		require.Equal(t, tc.state, string(job.State), tc.run)
		require.True(t, job.ScheduledAt.Equal(tc.want), "job of %s at %s, want %s", tc.run, job.ScheduledAt, tc.want)
		runWake, stepWake, waitExpiry := dueTimes(t, pool, tc.run)
		require.True(t, runWake.Equal(tc.want), tc.run)
		require.True(t, stepWake.Equal(tc.want), tc.run)
		require.True(t, waitExpiry.Equal(tc.want), tc.run)
	}

	// The due run is woken as the waker wakes any due run.
	woken, err := dbsqlc.New().RunWakeDue(ctx, pool, 100)
	require.NoError(t, err)
	require.Equal(t, int32(2), woken.Woken) // the due run, and the early one now past its time
	require.Equal(t, "available", string(jobRow(t, pool, dueJob).State))
}

func dueTimes(t *testing.T, pool *pgxpool.Pool, runID string) (run, step, wait time.Time) {
	t.Helper()
	require.NoError(t, pool.QueryRow(testCtx(t), `
		SELECT r.wake_at, s.wake_at, w.expires_at
		FROM flow_run r JOIN flow_step s ON s.run_id = r.id JOIN flow_wait w ON w.run_id = r.id
		WHERE r.id = $1`, runID).Scan(&run, &step, &wait))
	return run, step, wait
}
