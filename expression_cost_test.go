package flow_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// quadratic is the expression of issue 10: 3,000 items make 9 million inner
// steps, which took 1.5 s inside the sender's transaction.
const quadratic = `event.data.l.all(x, event.data.l.all(y, x + y >= 0))`

// costList is data whose "l" is a list of n zeros.
func costList(n int) map[string]any { return map[string]any{"l": make([]int, n)} }

// costEvents counts the stored events named name.
func costEvents(t *testing.T, pool *pgxpool.Pool, name string) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(testCtx(t), `SELECT count(*) FROM flow_event WHERE name = $1`, name).Scan(&n))
	return n
}

// costRuns counts the runs of a function.
func costRuns(t *testing.T, pool *pgxpool.Pool, fnID string) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(testCtx(t), `SELECT count(*) FROM flow_run WHERE function_id = $1`, fnID).Scan(&n))
	return n
}

// logBuffer is a slog handler's output, safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// loggedConfig is testConfig with warnings logged into the returned buffer.
func loggedConfig() (*flow.Config, *logBuffer) {
	cfg := testConfig()
	logs := &logBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return cfg, logs
}

func TestExpressionCostTriggerIfFailsSendAndStoresNothing(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		exprEchoFunction(t, c, "quadratic-if", flow.EventTrigger("cost/list").If(quadratic))
		exprEchoFunction(t, c, "plain", flow.EventTrigger("cost/list"))
	})
	ctx := testCtx(t)

	// Small lists pass.
	fns, _ := exprRunsOf(t, c, c, flow.Event{Name: "cost/list", Data: costList(10)})
	require.Equal(t, []string{"plain", "quadratic-if"}, fns)

	_, err := c.Send(ctx, flow.Event{Name: "cost/list", Data: costList(3000)})
	require.ErrorIs(t, err, flow.ErrExpressionCost)
	for _, want := range []string{`"quadratic-if"`, "trigger If", quadratic, "1000000", "Config.MaxExpressionCost"} {
		require.Contains(t, err.Error(), want)
	}
	require.Equal(t, 1, costEvents(t, pool, "cost/list"), "the failed send stored its event")
	require.Equal(t, 1, costRuns(t, pool, "plain"), "the failed send started a run")

	// Under SendTx, the caller's transaction stays usable and keeps its own
	// writes, without any of the failed call's.
	_, err = pool.Exec(ctx, `CREATE TABLE app_row (id int)`)
	require.NoError(t, err)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, `INSERT INTO app_row VALUES (1)`)
	require.NoError(t, err)
	_, err = c.SendTx(ctx, tx, flow.Event{Name: "cost/list", Data: map[string]any{"l": []int{1}}},
		flow.Event{Name: "cost/list", Data: costList(3000)})
	require.ErrorIs(t, err, flow.ErrExpressionCost)
	_, err = tx.Exec(ctx, `INSERT INTO app_row VALUES (2)`)
	require.NoError(t, err, "the caller's transaction is unusable after the error")
	ids, err := c.SendTx(ctx, tx, flow.Event{Name: "cost/list", Data: costList(5)})
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	var rows int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM app_row`).Scan(&rows))
	require.Equal(t, 2, rows)
	require.Equal(t, 2, costEvents(t, pool, "cost/list"), "only the later SendTx's event is stored")
	require.Equal(t, 2, costRuns(t, pool, "plain"))
	runs, err := c.ListRuns(ctx, flow.RunFilter{EventID: ids[0]})
	require.NoError(t, err)
	require.Len(t, runs, 2)
}

func TestExpressionCostLimitIsConfigurable(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	worker := flowtest.ClientOn(t, pool, testConfig(), func(worker *flow.Client) {
		exprEchoFunction(t, worker, "any-big", flow.EventTrigger("cost/any").If(`event.data.l.exists(x, x > 0)`))
	})

	// 200 items cost about 1,200: within the default, over a limit of 500.
	fns, _ := exprRunsOf(t, worker, worker, flow.Event{Name: "cost/any", Data: map[string]any{"l": append(make([]int, 199), 1)}})
	require.Equal(t, []string{"any-big"}, fns)

	cfg := testConfig()
	cfg.MaxExpressionCost = 500
	sender := newClient(t, pool, cfg)
	_, err := sender.Send(testCtx(t), flow.Event{Name: "cost/any", Data: map[string]any{"l": append(make([]int, 199), 1)}})
	require.ErrorIs(t, err, flow.ErrExpressionCost)
	require.Contains(t, err.Error(), "over the limit of 500")

	bad := testConfig()
	bad.MaxExpressionCost = -1
	_, err = flow.NewClient(pool, bad)
	require.ErrorContains(t, err, "MaxExpressionCost must be positive")
}

func TestExpressionCostFlowControlKeyFailsSend(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	key := `string(` + quadratic + `)`
	cases := []struct {
		place string
		opts  flow.FunctionOpts
	}{
		{"Concurrency[0].Key", flow.FunctionOpts{Concurrency: []flow.Concurrency{{Limit: 1, Key: key}}}},
		{"Concurrency[1].Key", flow.FunctionOpts{Concurrency: []flow.Concurrency{{Limit: 5}, {Limit: 1, Key: key}}}},
		{"Throttle.Key", flow.FunctionOpts{Throttle: &flow.Throttle{Limit: 1, Period: time.Second, Key: key}}},
		{"RateLimit.Key", flow.FunctionOpts{RateLimit: &flow.RateLimit{Limit: 1, Period: time.Second, Key: key}}},
		{"Debounce.Key", flow.FunctionOpts{Debounce: &flow.Debounce{Period: time.Second, Key: key}}},
		{"Batch.Key", flow.FunctionOpts{Batch: &flow.Batch{MaxSize: 2, Timeout: time.Second, Key: key}}},
		{"Priority.Run", flow.FunctionOpts{Priority: &flow.Priority{Run: `event.data.l.all(x, event.data.l.all(y, x + y >= 0)) ? 1 : 0`}}},
		{"Idempotency", flow.FunctionOpts{Idempotency: key}},
		{"Singleton.Key", flow.FunctionOpts{Singleton: &flow.Singleton{Key: key, Mode: flow.SingletonSkip}}},
	}

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		for i, tc := range cases {
			tc.opts.ID = fmt.Sprintf("key-%d", i)
			_, err := flow.CreateFunction(c, tc.opts, flow.EventTrigger(fmt.Sprintf("cost/key-%d", i)),
				func(ctx context.Context, in flow.Input[any]) (any, error) { return nil, nil })
			require.NoError(t, err, tc.place)
		}
	})
	for i, tc := range cases {
		name := fmt.Sprintf("cost/key-%d", i)
		_, err := c.Send(testCtx(t), flow.Event{Name: name, Data: costList(3000)})
		require.ErrorIs(t, err, flow.ErrExpressionCost, tc.place)
		require.Contains(t, err.Error(), fmt.Sprintf(`"key-%d"`, i), tc.place)
		require.Contains(t, err.Error(), tc.place+` "`, tc.place)
		require.Equal(t, 0, costEvents(t, pool, name), tc.place)
		require.Equal(t, 0, costRuns(t, pool, fmt.Sprintf("key-%d", i)), tc.place)
		// The same key over a small event is fine.
		_, err = c.Send(testCtx(t), flow.Event{Name: name, Data: costList(3)})
		require.NoError(t, err, tc.place)
	}
}

// A wait's If over the limit fails the wait (the run learns why, instead of
// waiting out its timeout); the sender's Send succeeds, and other waits
// still get the event.
func TestExpressionCostWaitIfFailsTheWaitNotTheSender(t *testing.T) {
	t.Parallel()
	cfg, logs := loggedConfig()
	c := flowtest.Client(t, cfg, func(c *flow.Client) {
		waiter := func(id, cond string) {
			_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: id}, flow.EventTrigger("cost/start"),
				func(ctx context.Context, in flow.Input[any]) (any, error) {
					_, err := flow.WaitForEvent[json.RawMessage](ctx, "wait-list", flow.WaitOpts{Event: "cost/list", If: cond, Timeout: time.Hour})
					if errors.Is(err, flow.ErrExpressionCost) {
						var se *flow.StepError
						require.True(t, errors.As(err, &se))
						return "cost: " + se.StepID, nil
					}
					if err != nil {
						return nil, err
					}
					return "matched", nil
				})
			require.NoError(t, err)
		}
		waiter("wait-quadratic", strings.ReplaceAll(quadratic, "event.", "async."))
		waiter("wait-plain", `size(async.data.l) > 0`)
	})

	runs := sendOne(t, c, flow.Event{Name: "cost/start"})
	require.Len(t, runs, 2)
	for _, id := range runs {
		waitUntilWaiting(t, c, id)
	}
	_, err := c.Send(testCtx(t), flow.Event{Name: "cost/list", Data: costList(3000)})
	require.NoError(t, err, "the sender is not at fault for a wait's condition")

	outputs := map[string]string{}
	for _, id := range runs {
		run, err := c.AwaitRun(testCtx(t), id)
		require.NoError(t, err)
		require.Equal(t, flow.RunCompleted, run.Status, run.Error)
		var out string
		require.NoError(t, run.DecodeOutput(&out))
		outputs[run.FunctionID] = out
		if run.FunctionID == "wait-quadratic" {
			st := waitStep(t, run, "wait-list")
			require.Equal(t, "failed", st.Status)
			require.Contains(t, st.Error, `function "wait-quadratic": WaitForEvent "wait-list" If`)
			require.Contains(t, st.Error, "over the limit of 1000000")
		}
	}
	require.Equal(t, map[string]string{"wait-quadratic": "cost: wait-list", "wait-plain": "matched"}, outputs)
	require.Contains(t, logs.String(), "over its cost limit")
}

// A CancelOn If over the limit does not cancel, and does not fail the send.
func TestExpressionCostCancelOnIfDoesNotCancel(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	cfg, logs := loggedConfig()
	var before, after counter

	c := flowtest.ClientOn(t, pool, cfg, func(c *flow.Client) {
		cancelSleeper(t, c, flow.FunctionOpts{
			ID:       "cancel-quadratic",
			CancelOn: []flow.CancelOn{{Event: "cost/list", If: strings.ReplaceAll(quadratic, "event.", "async.")}},
		}, "cost/sleep", time.Hour, &before, &after)
	})

	runID := sendOne(t, c, flow.Event{Name: "cost/sleep", Data: cancelData{ID: "a"}})[0]
	cancelUntilStatus(t, c, runID, flow.RunSleeping)
	cancelSend(t, c, flow.Event{Name: "cost/list", Data: costList(3000)})
	require.Equal(t, flow.RunSleeping, cancelStatus(t, c, runID))
	require.Equal(t, 1, cancelWaits(t, pool, runID), "the CancelOn condition stays registered")
	require.Contains(t, logs.String(), `CancelOn[0].If`)

	// A small event still cancels.
	cancelSend(t, c, flow.Event{Name: "cost/list", Data: costList(3)})
	cancelAwait(t, c, runID, flow.RunCancelled)
}

// A wait's If is also bounded where it looks back at stored events.
func TestExpressionCostLookbackIfFailsTheWait(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "lookback-quadratic"}, flow.EventTrigger("cost/go"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				_, err := flow.WaitForEvent[json.RawMessage](ctx, "look", flow.WaitOpts{
					Event: "cost/early", If: strings.ReplaceAll(quadratic, "event.", "async."), Timeout: time.Hour, Lookback: time.Hour,
				})
				return nil, err
			})
		require.NoError(t, err)
	})

	cancelSend(t, c, flow.Event{Name: "cost/early", Data: costList(3000)})
	run := awaitOnly(t, c, flow.Event{Name: "cost/go"})
	require.Equal(t, flow.RunFailed, run.Status)
	require.Contains(t, run.Error, `WaitForEvent "look" If`)
	require.Contains(t, run.Error, "over the limit")
	require.Equal(t, "failed", waitStep(t, run, "look").Status)
	require.Equal(t, 0, run.Attempt, "a cost error is not retried")
}

func TestExpressionNonBoolConditionIsRefused(t *testing.T) {
	t.Parallel()
	handler := func(ctx context.Context, in flow.Input[any]) (any, error) { return nil, nil }

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {

		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "str-if"}, flow.EventTrigger("x/y").If(`event.data.x + "a"`), handler)
		require.ErrorIs(t, err, flow.ErrInvalidFunction)
		require.ErrorContains(t, err, `a condition must be a bool, but its type is string`)
		require.ErrorContains(t, err, `event trigger "x/y": If`)

		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "int-cancel", CancelOn: []flow.CancelOn{{Event: "x/z", If: `1 + 2`}}},
			flow.EventTrigger("x/y"), handler)
		require.ErrorIs(t, err, flow.ErrInvalidFunction)
		require.ErrorContains(t, err, `CancelOn[0].If`)
		require.ErrorContains(t, err, `its type is int`)

		// Conditions from JSON (dyn) are fine here, and key expressions may be
		// of any type.
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "dyn-if", Idempotency: `event.data.x + "a"`}, flow.EventTrigger("x/y").If(`event.data.flag`), handler)
		require.NoError(t, err)

		// A wait's If is checked when WaitForEvent is called: the step fails,
		// without retries.
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "str-wait", Retries: flow.Ptr(3)}, flow.EventTrigger("x/wait"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				_, err := flow.WaitForEvent[any](ctx, "w", flow.WaitOpts{Event: "x/y", If: `async.data.x + "a"`, Timeout: time.Minute})
				return nil, err
			})
		require.NoError(t, err)
	})
	run := awaitOnly(t, c, flow.Event{Name: "x/wait"})
	require.Equal(t, flow.RunFailed, run.Status)
	require.Contains(t, run.Error, `WaitForEvent "w": If`)
	require.Contains(t, run.Error, `its type is string`)
	require.Equal(t, 0, run.Attempt)
}

// A condition whose JSON value is not a bool when evaluated is no match,
// with a warning that names the expression.
func TestExpressionDynNonBoolIsNoMatchWithWarning(t *testing.T) {
	t.Parallel()
	cfg, logs := loggedConfig()
	c := flowtest.Client(t, cfg, func(c *flow.Client) {
		exprEchoFunction(t, c, "flagged", flow.EventTrigger("flag/set").If(`event.data.flag`))
	})

	fns, _ := exprRunsOf(t, c, c, flow.Event{Name: "flag/set", Data: map[string]any{"flag": true}})
	require.Equal(t, []string{"flagged"}, fns)
	require.NotContains(t, logs.String(), "not a bool")
	fns, _ = exprRunsOf(t, c, c, flow.Event{Name: "flag/set", Data: map[string]any{"flag": "yes"}})
	require.Empty(t, fns)
	require.Contains(t, logs.String(), "condition is not a bool")
	require.Contains(t, logs.String(), "event.data.flag")
}

// An invoked run's concurrency key over the limit fails the Invoke step (not
// retried), instead of failing the parent's suspend again and again.
func TestExpressionCostInvokedRunKeyFailsInvoke(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		child, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "child-keyed", Concurrency: []flow.Concurrency{{Limit: 1, Key: `string(` + quadratic + `)`}}},
			flow.Triggers(), func(ctx context.Context, in flow.Input[any]) (any, error) { return "child", nil })
		require.NoError(t, err)
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "parent-invokes"}, flow.EventTrigger("cost/invoke"),
			func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
				return flow.Invoke[string](ctx, "call", child, in.Event.Data, flow.InvokeOpts{})
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "cost/invoke", Data: costList(3)})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)

	run = awaitOnly(t, c, flow.Event{Name: "cost/invoke", Data: costList(3000)})
	require.Equal(t, flow.RunFailed, run.Status)
	require.Contains(t, run.Error, `function "child-keyed": Concurrency[0].Key`)
	require.Equal(t, "failed", waitStep(t, run, "call").Status)
	require.Equal(t, 0, run.Attempt)
	require.Equal(t, 1, costRuns(t, pool, "child-keyed"), "no child run for the failed Invoke")
}
