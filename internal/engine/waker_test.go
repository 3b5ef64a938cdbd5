package engine_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A started engine's waker makes a run whose wake time has passed runnable
// (queued, wake time cleared, its job available) and leaves alone one not
// yet due. River is not started: nothing else can move the job.
func TestWakerWakesDueRunsOnly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	past, future := time.Now().Add(-time.Second), time.Now().Add(time.Hour)
	due := b.insertRun(t, "wake/fn", `status = 'sleeping', gen = 1, wake_at = $2`, past)
	dueJob := b.insertJob(t, due, 1, "wake/fn", future)
	_, err := b.pool.Exec(b.ctx, `UPDATE flow_run SET job_id = $2 WHERE id = $1`, due, dueJob)
	require.NoError(t, err)
	later := b.insertRun(t, "wake/fn", `status = 'sleeping', gen = 1, wake_at = $2`, future)
	laterJob := b.insertJob(t, later, 1, "wake/fn", future)
	_, err = b.pool.Exec(b.ctx, `UPDATE flow_run SET job_id = $2 WHERE id = $1`, later, laterJob)
	require.NoError(t, err)

	b.start(t, b.newEngine(t, testConfig("waker"), false))

	eventually(t, 5*time.Second, func() bool { return b.run(t, due).Status == "queued" }, "the due run is woken")
	r := b.run(t, due)
	require.Nil(t, r.WakeAt, "its wake time is cleared")
	require.Equal(t, int32(1), r.Gen, "a wake keeps the run's gen: its job goes on")
	require.Equal(t, "available", b.jobState(t, dueJob))

	// The statement that woke the due run saw the other one and left it.
	r = b.run(t, later)
	require.Equal(t, "sleeping", r.Status)
	require.NotNil(t, r.WakeAt)
	require.Equal(t, "scheduled", b.jobState(t, laterJob))
}
