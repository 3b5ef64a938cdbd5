package flow_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// SendTx of one event takes no savepoint: when it fails after its insert (a
// trigger If or a flow-control key over Config.MaxExpressionCost), it undoes
// the insert itself. Nothing of the call may remain, not its event, its
// runs, their River jobs or its dedupe claim, and the caller's transaction
// goes on with its own writes.
func TestSendTxOneEventFailureUndoesItsInsert(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		exprEchoFunction(t, c, "undo-plain", flow.EventTrigger("undo/*"))
		exprEchoFunction(t, c, "undo-if", flow.EventTrigger("undo/if").If(quadratic))
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "undo-key", Concurrency: []flow.Concurrency{{Limit: 1, Key: `string(` + quadratic + `)`}}},
			flow.EventTrigger("undo/key"), func(ctx context.Context, in flow.Input[any]) (any, error) { return nil, nil })
		require.NoError(t, err)
	})
	ctx := testCtx(t)
	_, err := pool.Exec(ctx, `CREATE TABLE app_row (id int)`)
	require.NoError(t, err)

	for _, name := range []string{"undo/if", "undo/key"} {
		dedupeID := "dedupe-" + name
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
		_, err = tx.Exec(ctx, `INSERT INTO app_row VALUES (1)`)
		require.NoError(t, err)
		count := func(query string, args ...any) int {
			t.Helper()
			var n int
			require.NoError(t, tx.QueryRow(ctx, query, args...).Scan(&n), "%s: the caller's transaction is unusable", name)
			return n
		}
		const plainRuns = `SELECT count(*) FROM flow_run WHERE function_id = 'undo-plain'`
		before := count(plainRuns)

		_, err = c.SendTx(ctx, tx, flow.Event{ID: dedupeID, Name: name, Data: costList(3000)})
		require.ErrorIs(t, err, flow.ErrExpressionCost, name)
		require.Zero(t, count(`SELECT count(*) FROM flow_event WHERE name = $1`, name), "%s: the event is left", name)
		require.Equal(t, before, count(plainRuns), "%s: the unconditional function's run is left", name)
		require.Zero(t, count(`SELECT count(*) FROM flow_run r WHERE NOT EXISTS (SELECT 1 FROM flow_event e WHERE e.id = r.event_id)`),
			"%s: a run of no event is left", name)
		require.Zero(t, count(`SELECT count(*) FROM river_job j WHERE kind = 'flow_run'
			AND NOT EXISTS (SELECT 1 FROM flow_run r WHERE r.id::text = j.args->>'run_id')`), "%s: a River job of no run is left", name)
		require.Zero(t, count(`SELECT count(*) FROM flow_event_dedupe WHERE dedupe_id = $1`, dedupeID), "%s: the dedupe claim is left", name)

		// The same dedupe ID, sent again in the same transaction, is new.
		ids, err := c.SendTx(ctx, tx, flow.Event{ID: dedupeID, Name: name, Data: costList(3)})
		require.NoError(t, err, name)
		require.NoError(t, tx.Commit(ctx))
		require.Equal(t, 1, costEvents(t, pool, name), name)
		runs, err := c.ListRuns(ctx, flow.RunFilter{EventID: ids[0]})
		require.NoError(t, err)
		require.Len(t, runs, 2, "%s: the resent event starts undo-plain and its own function", name)
	}
	var rows int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM app_row`).Scan(&rows))
	require.Equal(t, 2, rows, "the caller's own writes")
}

// TestSystemEventListenerOverCostIsSkipped: a function listening on a system
// event whose If goes over Config.MaxExpressionCost is left out, with a
// warning; it neither fails the send whose event cancelled a run nor keeps a
// failing run from ending.
func TestSystemEventListenerOverCostIsSkipped(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	cfg, logs := loggedConfig()
	quadratic := `event.data.event.data.l.all(x, event.data.event.data.l.all(y, x + y >= 0))`

	c := flowtest.ClientOn(t, pool, cfg, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "undo-sleeper", CancelOn: []flow.CancelOn{{Event: "undo/stop"}}},
			flow.EventTrigger("undo/sleep"), func(ctx context.Context, in flow.Input[any]) (any, error) {
				return nil, flow.Sleep(ctx, "nap", time.Hour)
			})
		require.NoError(t, err)
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "undo-fails", Retries: flow.Ptr(0)},
			flow.EventTrigger("undo/fail"), func(ctx context.Context, in flow.Input[any]) (any, error) {
				return nil, flow.NonRetriable(errors.New("boom"))
			})
		require.NoError(t, err)
		exprEchoFunction(t, c, "undo-on-cancel", flow.EventTrigger(flow.EventFunctionCancelled).If(quadratic))
		exprEchoFunction(t, c, "undo-on-failure", flow.EventTrigger(flow.EventFunctionFailed).If(quadratic))
	})
	ctx := testCtx(t)

	// A user's SendTx whose event cancels a run.
	runIDs := sendOne(t, c, flow.Event{Name: "undo/sleep", Data: costList(3000)})
	require.Len(t, runIDs, 1)
	cancelUntilStatus(t, c, runIDs[0], flow.RunSleeping)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	_, err = c.SendTx(ctx, tx, flow.Event{Name: "undo/stop"})
	require.NoError(t, err, "a system event's listener failed the user's send")
	require.NoError(t, tx.Commit(ctx))
	require.Equal(t, flow.RunCancelled, cancelStatus(t, c, runIDs[0]))

	// The engine ending a failed run.
	failed := sendOne(t, c, flow.Event{Name: "undo/fail", Data: costList(3000)})
	require.Len(t, failed, 1)
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	run, err := c.AwaitRun(actx, failed[0])
	require.NoError(t, err, "the failing run never ended")
	require.Equal(t, flow.RunFailed, run.Status)

	for _, fn := range []string{"undo-on-cancel", "undo-on-failure"} {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM flow_run WHERE function_id = $1`, fn).Scan(&n))
		require.Zero(t, n, "%s started though its If is over the cost limit", fn)
	}
	require.Eventually(t, func() bool {
		return strings.Count(logs.String(), "function not started for a system event") >= 2
	}, 10*time.Second, 20*time.Millisecond, "no warnings: %s", logs.String())
}
