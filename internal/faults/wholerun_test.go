package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
)

const (
	// wholeRunID is the function of TestWholeRunSlotWorkerKilled.
	wholeRunID = "faults/wholerun"
	// orderEvent starts a run of it; its data is an orderData.
	orderEvent = "fault/order"
)

// orderData is the data of an order event.
type orderData struct {
	Customer string `json:"customer"`
}

// defineWholeRun defines the whole-run limited function on c: one run per
// customer at a time (Concurrency Limit 1 per data.customer, in
// ConcurrencyRun mode), each run a step, a sleep, a StepTx that works a
// while, and a step, each step body probing on probes like the fault
// function's (probe).
func defineWholeRun(c *flow.Client, probes *pgxpool.Pool) error {
	retries := 20
	_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: wholeRunID, Retries: &retries, Concurrency: []flow.Concurrency{
		{Limit: 1, Key: "event.data.customer", Mode: flow.ConcurrencyRun},
	}}, flow.EventTrigger(orderEvent),
		func(ctx context.Context, in flow.Input[orderData]) (any, error) {
			if _, err := flow.Step(ctx, "a", func(ctx context.Context) (string, error) {
				return "a", probe(ctx, probes, in.RunID, "a")
			}); err != nil {
				return nil, err
			}
			if err := flow.Sleep(ctx, "nap", 300*time.Millisecond); err != nil {
				return nil, err
			}
			if _, err := flow.StepTx(ctx, "b", func(ctx context.Context, tx pgx.Tx) (string, error) {
				if err := probe(ctx, probes, in.RunID, "b"); err != nil {
					return "", err
				}
				select {
				case <-time.After(rand.N(200 * time.Millisecond)):
				case <-ctx.Done():
					return "", ctx.Err()
				}
				_, err := tx.Exec(ctx, `INSERT INTO fault_tx (run_id) VALUES ($1)`, in.RunID)
				return "b", err
			}); err != nil {
				return nil, err
			}
			return flow.Step(ctx, "c", func(ctx context.Context) (string, error) {
				return "c", probe(ctx, probes, in.RunID, "c")
			})
		})
	return err
}

// TestWholeRunSlotWorkerKilled kills the worker process while runs hold
// whole-run concurrency slots, some executing a step, some sleeping, and
// starts a new one each time. The runs taken over keep their slots: no
// second run of a customer executes before the first has ended, no slot is
// left held once all have ended, no run is lost and no stored step
// executes again.
func TestWholeRunSlotWorkerKilled(t *testing.T) {
	t.Parallel()
	var (
		kills     = scale(2, 5)
		customers = 4
		orders    = scale(5, 10) // per customer
	)
	ctx, cancel := context.WithTimeout(context.Background(), scale(3*time.Minute, 10*time.Minute))
	defer cancel()
	f := newFixture(t, sharedServer(t))

	// The test's own client only sends; the workers execute.
	c, err := flow.NewClient(f.pool(t, "faults-sender", 5), clientConfig("sender", workerLease, nil))
	require.NoError(t, err)
	require.NoError(t, defineWholeRun(c, nil))
	w := startWorker(t, f.url, "wholerun-0", workerWholeRun, nil)
	require.Eventually(t, func() bool { // the worker registered the function
		var n int
		err := f.admin.QueryRow(ctx, `SELECT count(*) FROM flow_trigger WHERE function_id = $1`, wholeRunID).Scan(&n)
		return err == nil && n > 0
	}, time.Minute, 20*time.Millisecond, "the first worker did not start")

	var ids []string
	for range orders {
		for k := range customers {
			sent, err := c.Send(ctx, flow.Event{Name: orderEvent, Data: orderData{Customer: fmt.Sprint("cust", k)}})
			require.NoError(t, err)
			ids = append(ids, sent...)
		}
	}

	// Kill when a run holds its slot while executing and another while
	// sleeping (the first kill) or when any holds one (later kills).
	holding := func() (running, sleeping int) {
		err := f.admin.QueryRow(ctx, `
			SELECT count(*) FILTER (WHERE r.status = 'running'), count(*) FILTER (WHERE r.status = 'sleeping')
			FROM flow_concurrency_slot s JOIN flow_run r ON r.id = s.run_id`).Scan(&running, &sleeping)
		require.NoError(t, err)
		return running, sleeping
	}
	cutOff := 0
	for k := 1; k <= kills; k++ {
		require.Eventually(t, func() bool {
			running, sleeping := holding()
			return running > 0 && (sleeping > 0 || k > 1)
		}, time.Minute, 5*time.Millisecond, "no run held a whole-run slot to kill the worker under")
		w.kill()
		var n int
		require.NoError(t, f.admin.QueryRow(ctx, `
			SELECT count(*) FROM flow_concurrency_slot s JOIN flow_run r ON r.id = s.run_id
			WHERE r.status IN ('running', 'sleeping', 'queued')`).Scan(&n))
		cutOff += n
		t.Logf("kill %d: %d runs held a whole-run slot", k, n)
		w = startWorker(t, f.url, fmt.Sprint("wholerun-", k), workerWholeRun, nil)
		time.Sleep(200*time.Millisecond + rand.N(time.Second)) // a random point of the load
	}
	awaitEnded(t, f.admin, len(ids), 2*time.Minute)

	var completed, held, executedAgain int
	require.NoError(t, f.admin.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM flow_run WHERE function_id = $1 AND status = 'completed'),
		       (SELECT count(*) FROM flow_concurrency_slot WHERE run_id IS NOT NULL),
		       (SELECT count(*) FROM fault_exec WHERE stored)`, wholeRunID).Scan(&completed, &held, &executedAgain))
	require.Equal(t, len(ids), completed, "every run completes")
	require.Zero(t, held, "no slot is left held")
	require.Zero(t, executedAgain, "no stored step executes again")

	// One run per customer at a time: from its first step body to its end,
	// a run's span overlaps no other run's of its customer.
	rows, err := f.admin.Query(ctx, `
		WITH span AS (
			SELECT r.id, e.data->>'customer' AS customer, min(x.at) AS first_exec, r.ended_at
			FROM flow_run r JOIN flow_event e ON e.id = r.event_id JOIN fault_exec x ON x.run_id = r.id
			WHERE r.function_id = $1
			GROUP BY r.id, e.data, r.ended_at
		)
		SELECT a.id::text, b.id::text, a.customer FROM span a JOIN span b
		    ON a.customer = b.customer AND a.id < b.id
		   AND a.first_exec < b.ended_at AND b.first_exec < a.ended_at`, wholeRunID)
	require.NoError(t, err)
	overlaps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var a, b, cust string
		err := r.Scan(&a, &b, &cust)
		return fmt.Sprintf("%s and %s of %s", a, b, cust), err
	})
	require.NoError(t, err)
	require.Empty(t, overlaps, "two runs of one customer executed at once")
	require.Positive(t, cutOff, "no kill cut a slot holder off: the test tests nothing")
	t.Logf("runs %d over %d customers, kills %d, slot holders cut off %d; no overlap, no slot left held", len(ids), customers, kills, cutOff)
}
