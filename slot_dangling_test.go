package flow_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// TestDanglingSlotFreedWakesParkedRun parks a run behind the one slot of a
// concurrency key, then hands that slot (by SQL) to a run that has already
// completed, as a claim whose run changed under it leaves it: the lease
// sweeper frees such a slot, and must wake the parked run then, not leave it
// to its one-minute recheck.
func TestDanglingSlotFreedWakesParkedRun(t *testing.T) {
	t.Parallel()
	g := newGate()
	pool := flowtest.Pool(t)
	cfg := testConfig()
	cfg.LeaseTTL = 2 * time.Second // the sweeper frees dangling slots every LeaseTTL/2
	c := flowtest.ClientOn(t, pool, cfg, func(c *flow.Client) {
		gatedFunction(c, g, flow.FunctionOpts{ID: "dangling-slot", Concurrency: []flow.Concurrency{{Limit: 1}}})
	})
	release := sync.OnceFunc(func() { g.open("holder"); g.open("parked") })
	t.Cleanup(release) // before Stop, even when the test fails
	ctx := testCtx(t)

	g.open("done")
	done := sendKeyed(t, c, "done", "")
	run, err := c.AwaitRun(ctx, done)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)

	holder := sendKeyed(t, c, "holder", "")
	g.waitEntered(t, 2)
	parked := sendKeyed(t, c, "parked", "")
	waitParked(t, pool, 1)

	// The slot now names a run that is not running: nothing but the
	// sweeper frees it, and no run's release wakes the parked run.
	tag, err := pool.Exec(ctx, `UPDATE flow_concurrency_slot SET run_id = $1 WHERE run_id = $2`, done, holder)
	require.NoError(t, err)
	require.EqualValues(t, 1, tag.RowsAffected())

	// Well within the parked run's one-minute recheck.
	freed := time.Now()
	require.Eventually(t, func() bool {
		_, entered, _ := g.snapshot()
		return len(entered) == 3
	}, 20*time.Second, 5*time.Millisecond, "the parked run did not start when the dangling slot was freed")
	_, entered, _ := g.snapshot()
	require.Equal(t, "parked", entered[2])
	t.Logf("the parked run started %s after its slot dangled", time.Since(freed).Round(time.Millisecond))

	release()
	for _, id := range []string{holder, parked} {
		run, err := c.AwaitRun(ctx, id)
		require.NoError(t, err)
		require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	}
}
