package riverjob_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/flowtest"
	"github.com/riverflow/flow/internal/riverjob"
)

// The job args are defined twice, in Go (RunArgs) and in SQL
// (flow_job_args): the two must encode the same JSON. (Our SQL always has a
// function ID; Go omits an empty one.)
func TestJobArgsInSQLAreRunArgsInGo(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	for _, args := range []riverjob.RunArgs{
		{RunID: "019a0000-0000-7000-8000-000000000001", Gen: 0, FunctionID: "plain"},
		{RunID: "019a0000-0000-7000-8000-000000000002", Gen: 7, FunctionID: "slotted", Slots: true},
	} {
		want, err := json.Marshal(args)
		require.NoError(t, err)
		var got string
		require.NoError(t, pool.QueryRow(testCtx(t), "SELECT flow_job_args($1::uuid, $2, $3, $4)::text",
			args.RunID, args.Gen, args.FunctionID, args.Slots).Scan(&got))
		require.JSONEq(t, string(want), got)
	}
}

// flow_job_wake makes available only a job in one of the states it is given
// (so never one River owns, running); it returns the queue of a job it woke
// and NULL otherwise.
func TestJobWakeOnlyFromGivenStates(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	ctx := testCtx(t)
	later := time.Now().Add(time.Hour)
	for state, woken := range map[string]bool{
		"scheduled": true, "available": true, "pending": true, "retryable": false,
		"running": false,
	} {
		id := insertJobAsWeDo(t, pool, state, later)
		var queue *string
		require.NoError(t, pool.QueryRow(ctx, "SELECT flow_job_wake($1, now(), '{scheduled,available,pending}')", id).Scan(&queue))
		job := jobRow(t, pool, id)
		if woken {
			require.NotNil(t, queue, state)
			require.Equal(t, assumeQueue, *queue)
			require.Equal(t, "available", string(job.State), state)
			require.True(t, job.ScheduledAt.Before(time.Now()), "%s: due now", state)
		} else {
			require.Nil(t, queue, state)
			require.Equal(t, state, string(job.State))
		}
	}
}

// flow_jobs_wake is flow_job_wake for many jobs in one statement: each job
// in one of the given states becomes available at its own time, the others
// are left alone, and it returns one queue per job it woke. One job, and
// none, give the same answers.
func TestJobsWakeOnlyFromGivenStates(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	ctx := testCtx(t)
	later := time.Now().Add(time.Hour)
	states := []string{"scheduled", "available", "pending", "retryable", "running", "scheduled"}
	ids := make([]int64, len(states))
	at := make([]time.Time, len(states))
	for i, state := range states {
		ids[i] = insertJobAsWeDo(t, pool, state, later)
		at[i] = time.Now().Add(-time.Duration(i+1) * time.Minute).Truncate(time.Microsecond)
	}
	var queues []string
	require.NoError(t, pool.QueryRow(ctx, "SELECT flow_jobs_wake($1, $2, '{scheduled,available,pending}')", ids, at).Scan(&queues))
	require.Equal(t, []string{assumeQueue, assumeQueue, assumeQueue, assumeQueue}, queues)
	for i, state := range states {
		job := jobRow(t, pool, ids[i])
		if state == "scheduled" || state == "available" || state == "pending" {
			require.Equal(t, "available", string(job.State), "%d: %s", i, state)
			require.True(t, job.ScheduledAt.Equal(at[i]), "%d: %s: at its own time", i, state)
		} else {
			require.Equal(t, state, string(job.State), "%d", i)
			require.True(t, job.ScheduledAt.Equal(later.Truncate(time.Microsecond)), "%d: %s: untouched", i, state)
		}
	}

	one := insertJobAsWeDo(t, pool, "scheduled", later)
	require.NoError(t, pool.QueryRow(ctx, "SELECT flow_jobs_wake($1, ARRAY[now()], '{scheduled}')", []int64{one}).Scan(&queues))
	require.Equal(t, []string{assumeQueue}, queues)
	require.Equal(t, "available", string(jobRow(t, pool, one).State))
	running := insertJobAsWeDo(t, pool, "running", later)
	require.NoError(t, pool.QueryRow(ctx, "SELECT flow_jobs_wake($1, ARRAY[now()], '{scheduled}')", []int64{running}).Scan(&queues))
	require.Empty(t, queues)
	require.Equal(t, "running", string(jobRow(t, pool, running).State))
	for _, none := range []string{"'{}'::bigint[], '{}'::timestamptz[]", "NULL, NULL"} {
		require.NoError(t, pool.QueryRow(ctx, "SELECT flow_jobs_wake("+none+", '{scheduled}')").Scan(&queues))
		require.Empty(t, queues, none)
	}
}

// flow_jobs_insert writes, in one statement, the rows flow_job_insert
// writes one at a time: each job as River reads it (kind, queue, state,
// time, args, attempts, priority) is the same. It returns the states it
// inserted; one job, and none, give the same answers.
func TestJobsInsertWritesWhatJobInsertWrites(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	ctx := testCtx(t)
	at := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	for _, available := range []bool{true, false} {
		for _, n := range []int{3, 1} {
			var single int64
			require.NoError(t, pool.QueryRow(ctx, `
				SELECT id FROM (SELECT flow_job_next_id() AS id) j
				WHERE flow_job_insert(j.id, flow_job_args('019a0000-0000-7000-8000-000000000000', 0, 'f', false), $1, $2, $3) IS NOT NULL`,
				assumeQueue, at, available).Scan(&single))
			ids := make([]int64, n)
			args := make([]string, n)
			for i := range ids {
				require.NoError(t, pool.QueryRow(ctx, "SELECT flow_job_next_id()").Scan(&ids[i]))
				args[i] = `{"run_id": "019a0000-0000-7000-8000-000000000000", "gen": 0, "fn": "f"}`
			}
			var states []string
			require.NoError(t, pool.QueryRow(ctx, "SELECT flow_jobs_insert($1, $2::jsonb[], $3, $4, $5)::text[]",
				ids, args, assumeQueue, at, available).Scan(&states))
			want := "scheduled"
			if available {
				want = "available"
			}
			require.Len(t, states, n)
			for _, s := range states {
				require.Equal(t, want, s)
			}
			like := jobRow(t, pool, single)
			for _, id := range ids {
				job := jobRow(t, pool, id)
				require.Equal(t, like.Kind, job.Kind)
				require.Equal(t, like.Queue, job.Queue)
				require.Equal(t, like.State, job.State)
				require.Equal(t, string(want), string(job.State))
				require.True(t, job.ScheduledAt.Equal(at))
				require.JSONEq(t, string(like.EncodedArgs), string(job.EncodedArgs))
				require.Equal(t, like.MaxAttempts, job.MaxAttempts)
				require.Equal(t, like.Priority, job.Priority)
				require.Equal(t, like.Attempt, job.Attempt)
				require.JSONEq(t, string(like.Metadata), string(job.Metadata))
			}
		}
	}
	var states []string
	require.NoError(t, pool.QueryRow(ctx, "SELECT flow_jobs_insert(NULL, NULL, $1, now(), true)::text[]", assumeQueue).Scan(&states))
	require.Empty(t, states)
}
