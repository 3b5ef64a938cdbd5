package flow_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// TestOrphanedJobTakenOver: a client that dies between River's fetch of a
// run's job and its segment's claim leaves the run queued, with no lease to
// lapse and its job running in River (rescued after an hour). A live client
// takes the run over once the job has run longer than LeaseTTL, and the run
// completes. Found by the fault suite (internal/faults, TestWorkersKilled).
func TestOrphanedJobTakenOver(t *testing.T) {
	t.Parallel()
	pool := recoveryPool(t, flowtest.DatabaseURL(t))
	ctx := testCtx(t)
	var bodies counter
	define := func(id string) *flow.Client {
		c := newClient(t, pool, recoveryConfig(id, 500*time.Millisecond))
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "orphan/fn"}, flow.EventTrigger("orphan/go"),
			func(ctx context.Context, in flow.Input[struct{}]) (any, error) {
				return flow.Step(ctx, "only", func(context.Context) (string, error) {
					bodies.add(in.RunID)
					return "done", nil
				})
			})
		require.NoError(t, err)
		return c
	}
	// A client that starts and stops registers the function.
	registrar := define("orphan-registrar")
	require.NoError(t, registrar.Start(ctx))
	require.NoError(t, registrar.Stop(ctx))
	c := define("orphan-survivor")

	runIDs := sendOne(t, c, flow.Event{Name: "orphan/go"})
	require.Len(t, runIDs, 1)
	// What a client leaves behind when it dies right after River fetched
	// the run's job: the job running, attempted by it; the run still queued.
	tag, err := pool.Exec(ctx, `
		UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now(), attempted_by = ARRAY['dead-client']
		WHERE id = (SELECT job_id FROM flow_run WHERE id = $1) AND state = 'available'`, runIDs[0])
	require.NoError(t, err)
	require.EqualValues(t, 1, tag.RowsAffected())
	start(t, c)

	awaitCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	run, err := c.AwaitRun(awaitCtx, runIDs[0])
	require.NoError(t, err, "the orphaned run was not taken over")
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.Equal(t, 1, bodies.get(runIDs[0]))
	var gen int
	require.NoError(t, pool.QueryRow(ctx, `SELECT gen FROM flow_run WHERE id = $1`, runIDs[0]).Scan(&gen))
	require.Equal(t, 1, gen, "runs taken over once")
}
