package flow_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// The group step store never puts two saves of one step of one run in one
// statement (a segment that lost its run and the one that took it over, in
// one process): the second waits for the next batch, and the rest keep
// their order.
func TestStepBatchNeverHoldsOneStepTwice(t *testing.T) {
	t.Parallel()
	batch, rest := flow.TakeStepBatch([][2]string{
		{"r1", "a"}, {"r2", "a"}, {"r1", "a"}, {"r1", "b"}, {"r2", "a"}, {"r3", "a"},
	})
	require.Equal(t, [][2]string{{"r1", "a"}, {"r2", "a"}, {"r1", "b"}, {"r3", "a"}}, batch)
	require.Equal(t, [][2]string{{"r1", "a"}, {"r2", "a"}}, rest)

	var queue [][2]string
	for i := range flow.MaxStepBatch + 3 {
		queue = append(queue, [2]string{fmt.Sprint("r", i), "a"})
	}
	batch, rest = flow.TakeStepBatch(queue)
	require.Equal(t, queue[:flow.MaxStepBatch], batch)
	require.Equal(t, queue[flow.MaxStepBatch:], rest)
}

// A segment that lost its run stores nothing, even when its save shares a
// statement with a save of the segment that took the run over: the group
// step store fences each step by its segment's gen, not by its run alone.
func TestStepBatchStoresOnlyTheCurrentGen(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "batch/gen"}, flow.EventTrigger("batch/gen"),
			func(ctx context.Context, in flow.Input[struct{}]) (any, error) {
				if _, err := flow.Step(ctx, "a", func(ctx context.Context) (int, error) { return 1, nil }); err != nil {
					return nil, err
				}
				return nil, flow.Sleep(ctx, "nap", time.Hour)
			})
		require.NoError(t, err)
	})
	var err error
	ctx := testCtx(t)
	runID := sendOne(t, c, flow.Event{Name: "batch/gen"})[0]
	require.Eventually(t, func() bool {
		run, err := c.GetRun(ctx, runID)
		return err == nil && run.Status == flow.RunSleeping
	}, 10*time.Second, 10*time.Millisecond)

	// A segment at the run's gen owns it now.
	var gen int32
	require.NoError(t, pool.QueryRow(ctx, `UPDATE flow_run SET status = 'running', lease_owner = 'elsewhere',
		lease_expires_at = now() + interval '1 hour' WHERE id = $1 RETURNING gen`, runID).Scan(&gen))
	require.Positive(t, gen)

	got, err := c.StoreCompletedSteps(ctx, runID, []int32{gen - 1, gen, gen - 1, gen}, []string{"x", "y", "z", "z"})
	require.NoError(t, err, "one statement with a step of two segments of a run")
	require.ElementsMatch(t, []flow.StoredStep{
		{Gen: gen - 1, ID: "x", Owned: false, Saved: false},
		{Gen: gen, ID: "y", Owned: true, Saved: true},
		{Gen: gen - 1, ID: "z", Owned: false, Saved: false},
		{Gen: gen, ID: "z", Owned: true, Saved: true},
	}, got)

	var stored []string
	rows, err := pool.Query(ctx, `SELECT id FROM flow_step WHERE run_id = $1 ORDER BY id`, runID)
	require.NoError(t, err)
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		stored = append(stored, id)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"a", "nap", "y", "z"}, stored, "the stale segment's step x is not stored")
}
