package flow_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// eventsCount returns the number of rows of flow_event sent by users (not
// the library's own flow/ events), optionally filtered by an SQL condition.
func eventsCount(t *testing.T, pool *pgxpool.Pool, where string, args ...any) int {
	t.Helper()
	q := "SELECT count(*) FROM flow_event WHERE name NOT LIKE 'flow/%'"
	if where != "" {
		q += " AND (" + where + ")"
	}
	var n int
	require.NoError(t, pool.QueryRow(testCtx(t), q, args...).Scan(&n))
	return n
}

// eventsRunsOf returns the runs of a function.
func eventsRunsOf(t *testing.T, c *flow.Client, functionID string) []*flow.Run {
	t.Helper()
	runs, err := c.ListRuns(testCtx(t), flow.RunFilter{FunctionID: functionID})
	require.NoError(t, err)
	return runs
}

// eventsEcho creates a function that returns the name of the event that
// started it, and counts its executions in n (which may be nil).
func eventsEcho(t *testing.T, c *flow.Client, id string, trigger flow.Trigger, n *atomic.Int64) {
	t.Helper()
	_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: id}, trigger,
		func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
			if n != nil {
				n.Add(1)
			}
			return in.Event.Name, nil
		})
	require.NoError(t, err)
}

// eventsAwaitOutput waits for a run and checks that it completed with output
// want (a string).
func eventsAwaitOutput(t *testing.T, c *flow.Client, runID, want string) *flow.Run {
	t.Helper()
	run, err := c.AwaitRun(testCtx(t), runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	var out string
	require.NoError(t, run.DecodeOutput(&out))
	require.Equal(t, want, out)
	return run
}

func TestEventsSendStartsMatchingRun(t *testing.T) {
	t.Parallel()
	type in struct{ User string }
	var other atomic.Int64

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "welcome"}, flow.EventTrigger("user/signed.up"),
			func(ctx context.Context, input flow.Input[in]) (any, error) {
				return "welcome " + input.Event.Data.User + " via " + input.Event.Name, nil
			})
		require.NoError(t, err)
		eventsEcho(t, c, "other", flow.EventTrigger("user/signed.out"), &other)
	})

	ctx := testCtx(t)
	ids, err := c.Send(ctx, flow.Event{Name: "user/signed.up", Data: in{User: "ann"}})
	require.NoError(t, err)
	require.Len(t, ids, 1)
	runs, err := c.ListRuns(ctx, flow.RunFilter{EventID: ids[0]})
	require.NoError(t, err)
	require.Len(t, runs, 1, "exactly the matching function starts")
	require.Equal(t, "welcome", runs[0].FunctionID)
	require.Equal(t, ids[0], runs[0].EventID)

	eventsAwaitOutput(t, c, runs[0].ID, "welcome ann via user/signed.up")
	require.Empty(t, eventsRunsOf(t, c, "other"))
	require.Zero(t, other.Load())
}

func TestEventsFanOut(t *testing.T) {
	t.Parallel()
	var n1, n2 atomic.Int64

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		eventsEcho(t, c, "fan-one", flow.EventTrigger("order/placed"), &n1)
		eventsEcho(t, c, "fan-two", flow.EventTrigger("order/placed"), &n2)
	})

	runIDs := sendOne(t, c, flow.Event{Name: "order/placed", Data: map[string]any{"id": 1}})
	require.Len(t, runIDs, 2, "both functions on the event start a run")
	fns := map[string]bool{}
	for _, id := range runIDs {
		run := eventsAwaitOutput(t, c, id, "order/placed")
		fns[run.FunctionID] = true
	}
	require.Equal(t, map[string]bool{"fan-one": true, "fan-two": true}, fns)
	require.EqualValues(t, 1, n1.Load())
	require.EqualValues(t, 1, n2.Load())
}

func TestEventsPrefixWildcard(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		eventsEcho(t, c, "billing-all", flow.EventTrigger("billing/*"), nil)
		eventsEcho(t, c, "user-all", flow.EventTrigger("user.*"), nil)
	})

	for _, name := range []string{"billing/paid", "billing/refund.issued"} {
		runIDs := sendOne(t, c, flow.Event{Name: name})
		require.Len(t, runIDs, 1, "billing/* matches %q", name)
		run := eventsAwaitOutput(t, c, runIDs[0], name)
		require.Equal(t, "billing-all", run.FunctionID)
	}
	runIDs := sendOne(t, c, flow.Event{Name: "user.created"})
	require.Len(t, runIDs, 1, "user.* matches user.created")
	eventsAwaitOutput(t, c, runIDs[0], "user.created")

	for _, name := range []string{"billing", "billingx/paid", "billing.paid", "user", "userx.created", "x/billing/paid"} {
		require.Empty(t, sendOne(t, c, flow.Event{Name: name}), "no trigger matches %q", name)
	}
	require.Len(t, eventsRunsOf(t, c, "billing-all"), 2)
	require.Len(t, eventsRunsOf(t, c, "user-all"), 1)
}

func TestEventsMultipleTriggers(t *testing.T) {
	t.Parallel()
	var n atomic.Int64

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		eventsEcho(t, c, "multi", flow.Triggers(
			flow.EventTrigger("shop/cart.abandoned"),
			flow.EventTrigger("shop/checkout.failed"),
			flow.EventTrigger("promo/*"),
		), &n)
	})

	for _, name := range []string{"shop/cart.abandoned", "shop/checkout.failed", "promo/spring"} {
		runIDs := sendOne(t, c, flow.Event{Name: name})
		require.Len(t, runIDs, 1, "trigger for %q starts the function once", name)
		run := eventsAwaitOutput(t, c, runIDs[0], name)
		require.Equal(t, "multi", run.FunctionID)
	}
	require.Empty(t, sendOne(t, c, flow.Event{Name: "shop/other"}))
	require.EqualValues(t, 3, n.Load())
	require.Len(t, eventsRunsOf(t, c, "multi"), 3)
}

func TestEventsNoMatchingFunctionIsStored(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var n atomic.Int64

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		eventsEcho(t, c, "listener", flow.EventTrigger("someone/listens"), &n)
	})

	ctx := testCtx(t)
	ts := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	ids, err := c.Send(ctx, flow.Event{Name: "nobody/listens", Data: map[string]any{"k": "v"}, TS: ts})
	require.NoError(t, err)
	require.Len(t, ids, 1)
	require.NotEmpty(t, ids[0])

	var name, data string
	var storedTS time.Time
	require.NoError(t, pool.QueryRow(ctx, "SELECT name, data::text, ts FROM flow_event WHERE id = $1", ids[0]).
		Scan(&name, &data, &storedTS))
	require.Equal(t, "nobody/listens", name)
	require.JSONEq(t, `{"k":"v"}`, data)
	require.True(t, ts.Equal(storedTS), "stored ts %s, sent %s", storedTS, ts)

	runs, err := c.ListRuns(ctx, flow.RunFilter{EventID: ids[0]})
	require.NoError(t, err)
	require.Empty(t, runs)
	all, err := c.ListRuns(ctx, flow.RunFilter{})
	require.NoError(t, err)
	require.Empty(t, all)
	require.Zero(t, n.Load())
}

func TestEventsSendTxRollback(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var counted, marker atomic.Int64

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		eventsEcho(t, c, "counted", flow.EventTrigger("tx/event"), &counted)
		eventsEcho(t, c, "marker", flow.EventTrigger("tx/marker"), &marker)
	})

	ctx := testCtx(t)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	ids, err := c.SendTx(ctx, tx, flow.Event{Name: "tx/event", Data: map[string]any{"n": 1}})
	require.NoError(t, err)
	require.Len(t, ids, 1)
	// Inside the transaction, the event and its run exist.
	var inTx int
	require.NoError(t, tx.QueryRow(ctx, "SELECT count(*) FROM flow_run WHERE event_id = $1", ids[0]).Scan(&inTx))
	require.Equal(t, 1, inTx)
	require.NoError(t, tx.Rollback(ctx))

	require.Zero(t, eventsCount(t, pool, "name = 'tx/event'"), "rolled-back event is not stored")
	require.Empty(t, eventsRunsOf(t, c, "counted"), "rolled-back event starts no run")

	// A committed event sent afterwards runs; the rolled-back one never did.
	awaitMarker := awaitOnly(t, c, flow.Event{Name: "tx/marker"})
	require.Equal(t, flow.RunCompleted, awaitMarker.Status, awaitMarker.Error)
	require.EqualValues(t, 1, marker.Load())
	require.Zero(t, counted.Load(), "the rolled-back event's function must not execute")
	all, err := c.ListRuns(ctx, flow.RunFilter{})
	require.NoError(t, err)
	require.Len(t, all, 1)
}

func TestEventsSendTxCommit(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var counted atomic.Int64

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		eventsEcho(t, c, "counted", flow.EventTrigger("tx/event"), &counted)
	})

	ctx := testCtx(t)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	ids, err := c.SendTx(ctx, tx, flow.Event{Name: "tx/event"}, flow.Event{Name: "tx/event"})
	require.NoError(t, err)
	require.Len(t, ids, 2)
	require.NotEqual(t, ids[0], ids[1])
	// Not visible outside the transaction before it commits.
	require.Zero(t, eventsCount(t, pool, ""))
	require.Empty(t, eventsRunsOf(t, c, "counted"))
	require.NoError(t, tx.Commit(ctx))

	require.Equal(t, 2, eventsCount(t, pool, ""))
	for _, id := range ids {
		runs, err := c.ListRuns(ctx, flow.RunFilter{EventID: id})
		require.NoError(t, err)
		require.Len(t, runs, 1)
		eventsAwaitOutput(t, c, runs[0].ID, "tx/event")
	}
	require.EqualValues(t, 2, counted.Load())
}

func TestEventsSendTxWithAppRow(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	ctx := testCtx(t)
	_, err := pool.Exec(ctx, "CREATE TABLE app_order (id int PRIMARY KEY, status text NOT NULL)")
	require.NoError(t, err)

	type orderEvent struct{ OrderID int }
	var executions atomic.Int64

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "ship"}, flow.EventTrigger("order/created"),
			func(ctx context.Context, in flow.Input[orderEvent]) (any, error) {
				executions.Add(1)
				// The run sees the order row committed with its event.
				return flow.Step(ctx, "read-order", func(ctx context.Context) (string, error) {
					var status string
					err := pool.QueryRow(ctx, "SELECT status FROM app_order WHERE id = $1", in.Event.Data.OrderID).Scan(&status)
					return status, err
				})
			})
		require.NoError(t, err)
	})

	placeOrder := func(id int) (string, pgx.Tx) {
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, "INSERT INTO app_order (id, status) VALUES ($1, 'new')", id)
		require.NoError(t, err)
		ids, err := c.SendTx(ctx, tx, flow.Event{Name: "order/created", Data: orderEvent{OrderID: id}})
		require.NoError(t, err)
		require.Len(t, ids, 1)
		return ids[0], tx
	}

	// Committed: the row and the run exist, and the run sees the row.
	evID, tx := placeOrder(1)
	require.NoError(t, tx.Commit(ctx))
	runs, err := c.ListRuns(ctx, flow.RunFilter{EventID: evID})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	eventsAwaitOutput(t, c, runs[0].ID, "new")

	// Rolled back: neither the row nor the event nor a run.
	evID2, tx := placeOrder(2)
	require.NoError(t, tx.Rollback(ctx))
	var orders int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM app_order WHERE id = 2").Scan(&orders))
	require.Zero(t, orders)
	require.Zero(t, eventsCount(t, pool, "id = $1", evID2))

	// The app's own statement fails after SendTx: the caller rolls back, and
	// the event goes with it.
	tx, err = pool.Begin(ctx)
	require.NoError(t, err)
	ids, err := c.SendTx(ctx, tx, flow.Event{Name: "order/created", Data: orderEvent{OrderID: 1}})
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "INSERT INTO app_order (id, status) VALUES (1, 'dup')")
	require.Error(t, err, "duplicate key")
	require.NoError(t, tx.Rollback(ctx))
	require.Zero(t, eventsCount(t, pool, "id = $1", ids[0]))

	require.Equal(t, 1, eventsCount(t, pool, ""))
	require.Len(t, eventsRunsOf(t, c, "ship"), 1)
	require.EqualValues(t, 1, executions.Load())
}

func TestEventsDedupe(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var n atomic.Int64

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		eventsEcho(t, c, "dedupe", flow.EventTrigger("dedupe/e"), &n)
	})

	ctx := testCtx(t)
	first, err := c.Send(ctx, flow.Event{ID: "k1", Name: "dedupe/e", Data: map[string]any{"try": 1}})
	require.NoError(t, err)
	second, err := c.Send(ctx, flow.Event{ID: "k1", Name: "dedupe/e", Data: map[string]any{"try": 2}})
	require.NoError(t, err)
	require.Equal(t, first, second, "a duplicate returns the first event's stored ID")
	require.Equal(t, 1, eventsCount(t, pool, ""), "the event is stored once")
	var data string
	require.NoError(t, pool.QueryRow(ctx, "SELECT data::text FROM flow_event WHERE id = $1", first[0]).Scan(&data))
	require.JSONEq(t, `{"try":1}`, data, "the first event is kept")
	runs := eventsRunsOf(t, c, "dedupe")
	require.Len(t, runs, 1)
	require.Equal(t, first[0], runs[0].EventID)
	eventsAwaitOutput(t, c, runs[0].ID, "dedupe/e")

	// Another ID is another event.
	third, err := c.Send(ctx, flow.Event{ID: "k2", Name: "dedupe/e"})
	require.NoError(t, err)
	require.NotEqual(t, first[0], third[0])
	require.Equal(t, 2, eventsCount(t, pool, ""))
	runs = eventsRunsOf(t, c, "dedupe")
	require.Len(t, runs, 2)
	eventsAwaitOutput(t, c, runs[0].ID, "dedupe/e")

	// The same ID twice in one call is one event, too.
	both, err := c.Send(ctx, flow.Event{ID: "k3", Name: "dedupe/e"}, flow.Event{ID: "k3", Name: "dedupe/e"})
	require.NoError(t, err)
	require.Len(t, both, 2)
	require.Equal(t, both[0], both[1])
	require.Equal(t, 3, eventsCount(t, pool, ""))
	require.Len(t, eventsRunsOf(t, c, "dedupe"), 3)
}

func TestEventsDedupeConcurrentSends(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		eventsEcho(t, c, "dedupe", flow.EventTrigger("dedupe/e"), nil)
	})
	ctx := testCtx(t)

	// Racing goroutines, each sending every ID once in its own transaction.
	const keys, senders = 5, 2
	results := make([][]string, senders)
	errs := make([]error, senders)
	var wg sync.WaitGroup
	begin := make(chan struct{})
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-begin
			for k := range keys {
				ids, err := c.Send(ctx, flow.Event{ID: fmt.Sprintf("race-%d", k), Name: "dedupe/e"})
				if err != nil {
					errs[g] = err
					return
				}
				results[g] = append(results[g], ids[0])
			}
		}()
	}
	close(begin)
	wg.Wait()
	for g := range senders {
		require.NoError(t, errs[g])
		require.Equal(t, results[0], results[g], "every sender gets the stored ID of the one event")
	}
	require.Equal(t, keys, eventsCount(t, pool, ""))
	require.Len(t, eventsRunsOf(t, c, "dedupe"), keys)
}

// TestEventsDedupeOverlappingTransactions forces the interleaving of two
// transactions sending the same ID: the second blocks on the first's claim
// and, once the first commits, returns the first's event without storing
// another.
func TestEventsDedupeOverlappingTransactions(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		eventsEcho(t, c, "dedupe", flow.EventTrigger("dedupe/e"), nil)
	})
	ctx := testCtx(t)

	tx1, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx1.Rollback(ctx) }()
	ids1, err := c.SendTx(ctx, tx1, flow.Event{ID: "same", Name: "dedupe/e"})
	require.NoError(t, err)

	tx2, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx2.Rollback(ctx) }()
	var pid2 int
	require.NoError(t, tx2.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid2))
	type result struct {
		ids []string
		err error
	}
	done := make(chan result, 1)
	go func() {
		ids, err := c.SendTx(ctx, tx2, flow.Event{ID: "same", Name: "dedupe/e"})
		done <- result{ids, err}
	}()
	// Wait until the second sender is blocked on the first one's claim.
	require.Eventually(t, func() bool {
		var waiting bool
		err := pool.QueryRow(ctx, "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid2).Scan(&waiting)
		return err == nil && waiting
	}, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, tx1.Commit(ctx))

	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		t.Fatal("second SendTx did not return")
	}
	require.NoError(t, r.err)
	require.NoError(t, tx2.Commit(ctx))
	require.Equal(t, ids1, r.ids)
	require.Equal(t, 1, eventsCount(t, pool, ""))
	runs := eventsRunsOf(t, c, "dedupe")
	require.Len(t, runs, 1)
	eventsAwaitOutput(t, c, runs[0].ID, "dedupe/e")
}

func TestEventsSenderOnlyClient(t *testing.T) {
	t.Parallel()
	dbURL := flowtest.DatabaseURL(t)
	ctx := testCtx(t)
	// Two pools on one database, as two processes would have.
	workerPool, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(workerPool.Close)
	senderPool, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(senderPool.Close)

	var n atomic.Int64
	type in struct{ X int }

	flowtest.ClientOn(t, workerPool, testConfig(), func(worker *flow.Client) {
		_, err = flow.CreateFunction(worker, flow.FunctionOpts{ID: "remote"}, flow.EventTrigger("remote/job"),
			func(ctx context.Context, input flow.Input[in]) (any, error) {
				n.Add(1)
				return input.Event.Data.X * 2, nil
			})
		require.NoError(t, err)
	})

	sender := newClient(t, senderPool, nil) // no functions, never started
	ids, err := sender.Send(ctx, flow.Event{Name: "remote/job", Data: in{X: 21}})
	require.NoError(t, err)
	runs, err := sender.ListRuns(ctx, flow.RunFilter{EventID: ids[0]})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, "remote", runs[0].FunctionID)

	run, err := sender.AwaitRun(ctx, runs[0].ID) // polls: the sender is not started
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	var out int
	require.NoError(t, run.DecodeOutput(&out))
	require.Equal(t, 42, out)
	require.EqualValues(t, 1, n.Load())
}

func TestEventsInvalidRejected(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	cfg := testConfig()
	cfg.MaxEventBytes = 200
	c := flowtest.ClientOn(t, pool, cfg, func(c *flow.Client) {
		eventsEcho(t, c, "valid", flow.EventTrigger("valid/e"), nil)
	})

	type withChan struct{ C chan int }
	cases := []struct {
		name    string
		ev      flow.Event
		is      error
		mention string
	}{
		{"empty name", flow.Event{Name: ""}, flow.ErrInvalidEvent, "empty event name"},
		{"space in name", flow.Event{Name: "user signed up"}, flow.ErrInvalidEvent, "space"},
		{"tab in name", flow.Event{Name: "user\tsigned"}, flow.ErrInvalidEvent, "space"},
		{"star in name", flow.Event{Name: "billing/*"}, flow.ErrInvalidEvent, "'*'"},
		{"reserved prefix", flow.Event{Name: "flow/function.invoked"}, flow.ErrInvalidEvent, "reserved"},
		{"name too long", flow.Event{Name: strings.Repeat("a", 257)}, flow.ErrInvalidEvent, "over the limit"},
		{"channel data", flow.Event{Name: "valid/e", Data: make(chan int)}, flow.ErrInvalidEvent, "JSON"},
		{"func data", flow.Event{Name: "valid/e", Data: func() {}}, flow.ErrInvalidEvent, "JSON"},
		{"nested channel data", flow.Event{Name: "valid/e", Data: withChan{C: make(chan int)}}, flow.ErrInvalidEvent, "JSON"},
		{"too large", flow.Event{Name: "valid/e", Data: strings.Repeat("x", 300)}, flow.ErrEventTooLarge, "MaxEventBytes"},
	}
	ctx := testCtx(t)
	valid := flow.Event{Name: "valid/e", Data: map[string]any{"ok": true}}
	for _, tc := range cases {
		ids, err := c.Send(ctx, tc.ev)
		require.Error(t, err, tc.name)
		require.Nil(t, ids, tc.name)
		require.True(t, errors.Is(err, tc.is), "%s: %v is not %v", tc.name, err, tc.is)
		require.Contains(t, err.Error(), tc.mention, tc.name)

		// A valid event before the bad one in the same call is not stored either.
		_, err = c.Send(ctx, valid, tc.ev)
		require.ErrorIs(t, err, tc.is, tc.name)
		require.Contains(t, err.Error(), "event 1", "%s: the error names the bad event", tc.name)

		// SendTx rejects it the same way.
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		_, err = c.SendTx(ctx, tx, valid, tc.ev)
		require.ErrorIs(t, err, tc.is, tc.name)
		require.NoError(t, tx.Rollback(ctx))

		require.Zero(t, eventsCount(t, pool, ""), "%s: nothing of the call is stored", tc.name)
	}
	require.Empty(t, eventsRunsOf(t, c, "valid"))

	// Just under the limit is accepted.
	ids, err := c.Send(ctx, flow.Event{Name: "valid/e", Data: strings.Repeat("x", 150)})
	require.NoError(t, err)
	require.Len(t, ids, 1)
	require.Equal(t, 1, eventsCount(t, pool, ""))
}
