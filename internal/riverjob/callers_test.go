package riverjob_test

// The statements that write many jobs through the array writers
// (flow_jobs_insert, flow_jobs_wake) call them from a SELECT CTE, which
// Postgres runs only when something reads it: these tests check that every
// job is written whatever the statement's other parameters say.

import (
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/flowtest"
	"github.com/riverflow/flow/internal/dbsqlc"
	"github.com/riverflow/flow/internal/riverjob"
)

// An event that triggers several functions starts a run of each, with its
// first job inserted (available now, or scheduled at the event's future
// ts), whether or not the sender asks for the notification; it notifies
// only when asked and a job is available.
func TestEventInsertAndStartRunsInsertsEveryJob(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	ctx := testCtx(t)
	_, err := pool.Exec(ctx, `INSERT INTO flow_trigger (function_id, event_name) VALUES ('a', 'e'), ('b', 'e'), ('c', 'e')`)
	require.NoError(t, err)
	future := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	for i, tc := range []struct {
		notify       bool
		startAt      *time.Time
		wantNotified int32
	}{
		{notify: false},
		{notify: true, wantNotified: 1},
		{notify: true, startAt: &future},
	} {
		row, err := dbsqlc.New().EventInsertAndStartRuns(ctx, pool, &dbsqlc.EventInsertAndStartRunsParams{
			Name: "e", ID: newUUID(), Data: []byte(`{}`), Ts: time.Now(),
			StartAt: tc.startAt, Queue: assumeQueue, Notify: tc.notify,
		})
		require.NoError(t, err, i)
		require.Equal(t, []string{"a", "b", "c"}, row.FunctionIds, i)
		require.Len(t, row.RunIds, 3, i)
		require.Equal(t, tc.wantNotified, row.Notified, i)
		for j, runID := range row.RunIds {
			var jobID int64
			require.NoError(t, pool.QueryRow(ctx, "SELECT job_id FROM flow_run WHERE id = $1", runID).Scan(&jobID))
			job := jobRow(t, pool, jobID)
			require.Equal(t, riverjob.Kind, job.Kind, i)
			require.Equal(t, assumeQueue, job.Queue, i)
			require.JSONEq(t, `{"run_id": "`+runID+`", "gen": 0, "fn": "`+row.FunctionIds[j]+`"}`, string(job.EncodedArgs), i)
			if tc.startAt == nil {
				require.Equal(t, "available", string(job.State), i)
			} else {
				require.Equal(t, "scheduled", string(job.State), i)
				require.True(t, job.ScheduledAt.Equal(future), i)
			}
		}
	}
}

// RunWakeDue wakes every due run's job in one statement, and notifies once
// per queue; a run not due yet, and a due run's job River owns (running),
// are left alone.
func TestRunWakeDueWakesEveryDueJob(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	ctx := testCtx(t)
	later := time.Now().Add(time.Hour)
	sleeping := func(state string, wakeAt time.Time) int64 {
		id := insertJobAsWeDo(t, pool, state, later)
		_, err := pool.Exec(ctx, `INSERT INTO flow_run (id, function_id, event_id, status, job_id, wake_at)
			VALUES ($1, 'f', $2, 'sleeping', $3, $4)`, newUUID(), newUUID(), id, wakeAt)
		require.NoError(t, err)
		return id
	}
	due := []int64{
		sleeping("scheduled", time.Now().Add(-time.Minute)),
		sleeping("scheduled", time.Now().Add(-time.Second)),
		sleeping("available", time.Now().Add(-time.Second)),
	}
	owned := sleeping("running", time.Now().Add(-time.Second))
	notDue := sleeping("scheduled", later)

	row, err := dbsqlc.New().RunWakeDue(ctx, pool, 100)
	require.NoError(t, err)
	require.Equal(t, int32(4), row.Woken)
	require.Equal(t, int32(1), row.Notified)
	for _, id := range due {
		job := jobRow(t, pool, id)
		require.Equal(t, "available", string(job.State))
		require.True(t, job.ScheduledAt.Before(time.Now()))
	}
	require.Equal(t, "running", string(jobRow(t, pool, owned).State))
	require.Equal(t, "scheduled", string(jobRow(t, pool, notDue).State))

	row, err = dbsqlc.New().RunWakeDue(ctx, pool, 100)
	require.NoError(t, err)
	require.Equal(t, int32(0), row.Woken)
	require.Equal(t, int32(0), row.Notified)
}

// newUUID is a random UUID (version 4).
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
