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
