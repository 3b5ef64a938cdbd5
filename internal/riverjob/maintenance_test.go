package riverjob_test

// River's maintenance services as River's leader runs them, on a real River
// client (short settings, TestOnly), over rows written as our statements
// write them: assumptions 3 (scheduler), 6 (rescuer) and 7 (cleaner) of
// doc.go. The client works no queue our rows are on, so that only its
// maintenance services touch them.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
	"github.com/riverflow/flow/riverext"
)

// startLeader starts a River client on pool that becomes the leader and runs
// the maintenance services (each once at start, then on its interval), with
// the flow client's job workers registered as an app's client has them
// (riverext). cfg's maintenance settings are used; its queues and workers
// are set here.
func startLeader(t *testing.T, pool *pgxpool.Pool, cfg river.Config) {
	t.Helper()
	fc, err := flow.NewClient(pool, &flow.Config{ExternalRiver: true})
	require.NoError(t, err)
	workers := river.NewWorkers()
	require.NoError(t, riverext.AddWorkers(workers, fc))
	river.AddWorker(workers, river.WorkFunc(func(context.Context, *river.Job[assumeArgs]) error { return nil }))
	cfg.Queues = map[string]river.QueueConfig{assumeQueue: {MaxWorkers: 1}}
	cfg.Workers = workers
	cfg.TestOnly = true
	rc, err := river.NewClient(riverpgxv5.New(pool), &cfg)
	require.NoError(t, err)
	require.NoError(t, rc.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, rc.Stop(ctx))
	})
}

// idleQueue holds the rows under test: no client works it.
const idleQueue = "assume_idle"

// insertIdle inserts a job as our statements do, on idleQueue, of kind.
func insertIdle(t *testing.T, pool *pgxpool.Pool, kind, state string, scheduledAt time.Time) int64 {
	t.Helper()
	id := insertJobAsWeDo(t, pool, state, scheduledAt)
	_, err := pool.Exec(testCtx(t), "UPDATE river_job SET queue = $2, kind = $3 WHERE id = $1", id, idleQueue, kind)
	require.NoError(t, err)
	return id
}

// waitState polls job id until River's services give it state, or fails at
// the deadline. A deleted job has the state "".
func waitState(t *testing.T, pool *pgxpool.Pool, id int64, state rivertype.JobState, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var got rivertype.JobState
	for time.Now().Before(deadline) {
		got = ""
		err := pool.QueryRow(testCtx(t), "SELECT state::text FROM river_job WHERE id = $1", id).Scan(&got)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			require.NoError(t, err)
		}
		if got == state {
			return
		}
		time.Sleep(20 * time.Millisecond) // polling, with a deadline
	}
	t.Fatalf("job %d is %q after %s, want %q", id, got, within, state)
}

// Assumption 3, on River's running scheduler: a scheduled job of ours due
// within 5 s is made available early, keeping its scheduled_at; one due
// later stays scheduled.
func TestRiverJobSchedulerServiceMovesOursEarly(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	soon := insertIdle(t, pool, "flow_run", "scheduled", time.Now().Add(4*time.Second))
	later := insertIdle(t, pool, "flow_run", "scheduled", time.Now().Add(time.Minute))
	before := jobRow(t, pool, soon).ScheduledAt
	startLeader(t, pool, river.Config{})

	waitState(t, pool, soon, rivertype.JobStateAvailable, 20*time.Second)
	job := jobRow(t, pool, soon)
	require.True(t, job.ScheduledAt.Equal(before), "made available early, keeping its scheduled_at")
	require.Equal(t, rivertype.JobStateScheduled, jobRow(t, pool, later).State)
}

// Assumption 6, on River's running rescuer: our run jobs are never rescued,
// however long they run, because the run worker has no timeout (Timeout
// -1, the rescuer's "ignore"); the lease sweeper, not River, hands their
// runs on. A stuck job of a kind the client has no worker for is discarded
// in the same pass (which shows the rescuer ran).
func TestRiverJobRescuerServiceLeavesOurRunningJobs(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	ours := insertIdle(t, pool, "flow_run", "running", time.Now().Add(-2*time.Hour))
	unknown := insertIdle(t, pool, "unknown_kind", "running", time.Now().Add(-2*time.Hour))
	_, err := pool.Exec(testCtx(t), "UPDATE river_job SET attempted_at = now() - interval '2 hours', attempt = 1 WHERE id = ANY($1)", []int64{ours, unknown})
	require.NoError(t, err)
	startLeader(t, pool, river.Config{RescueStuckJobsAfter: time.Minute, JobTimeout: -1})

	waitState(t, pool, unknown, rivertype.JobStateDiscarded, 20*time.Second)
	require.Equal(t, rivertype.JobStateRunning, jobRow(t, pool, ours).State, "stuck for 2 h, past RescueStuckJobsAfter")
}

// Assumption 7, on River's running cleaner: completed jobs finalized before
// their retention are deleted; a job completed within it stays, and so do
// our pending, scheduled and available jobs, however old.
func TestRiverJobCleanerServiceDeletesOnlyExpiredFinalized(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	ctx := testCtx(t)
	old := time.Now().Add(-48 * time.Hour)
	expired := insertIdle(t, pool, "flow_run", "running", old)
	recent := insertIdle(t, pool, "flow_run", "running", old)
	_, err := pool.Exec(ctx, "UPDATE river_job SET state = 'completed', finalized_at = now() - interval '2 hours' WHERE id = $1", expired)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "UPDATE river_job SET state = 'completed', finalized_at = now() WHERE id = $1", recent)
	require.NoError(t, err)
	var kept []int64
	for _, state := range []string{"pending", "scheduled", "available"} {
		kept = append(kept, insertIdle(t, pool, "flow_run", state, old))
	}
	startLeader(t, pool, river.Config{CompletedJobRetentionPeriod: time.Hour})

	waitState(t, pool, expired, "", 20*time.Second)
	require.Equal(t, rivertype.JobStateCompleted, jobRow(t, pool, recent).State, "within its retention")
	for _, id := range kept {
		require.NotNil(t, jobRow(t, pool, id))
	}
}
