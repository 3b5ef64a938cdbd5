package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dbos-inc/dbos-transact-golang/dbos"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riverflow/flow"
)

const appTableSQL = `CREATE TABLE IF NOT EXISTS bench_order (
	id bigserial PRIMARY KEY,
	note text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now())`

// sendFunc sends one unit of work inside the application's transaction.
type sendFunc func(ctx context.Context, tx pgx.Tx, i int64) error

// enqueueResult is one configuration's figures.
type enqueueResult struct {
	txP50, callP50 time.Duration
	perSec         float64
}

// measureEnqueue runs n application transactions from `senders` goroutines,
// each inserting an app row and calling send, after a short warm-up.
func measureEnqueue(ctx context.Context, pool *pgxpool.Pool, n, senders int, send sendFunc) (enqueueResult, error) {
	var seq atomic.Int64
	one := func() (tx, call time.Duration, err error) {
		i := seq.Add(1)
		t0 := time.Now()
		err = pgx.BeginFunc(ctx, pool, func(t pgx.Tx) error {
			if _, err := t.Exec(ctx, "INSERT INTO bench_order (note) VALUES ($1)", fmt.Sprintf("order %d", i)); err != nil {
				return err
			}
			c0 := time.Now()
			if err := send(ctx, t, i); err != nil {
				return err
			}
			call = time.Since(c0)
			return nil
		})
		return time.Since(t0), call, err
	}
	for range 20 { // warm-up
		if _, _, err := one(); err != nil {
			return enqueueResult{}, err
		}
	}

	var (
		mu        sync.Mutex
		txs       = make([]time.Duration, 0, n)
		calls     = make([]time.Duration, 0, n)
		remaining atomic.Int64
		firstErr  error
		wg        sync.WaitGroup
	)
	remaining.Store(int64(n))
	start := time.Now()
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for remaining.Add(-1) >= 0 {
				tx, call, err := one()
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				txs = append(txs, tx)
				calls = append(calls, call)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return enqueueResult{}, firstErr
	}
	return enqueueResult{txP50: percentile(txs, 50), callP50: percentile(calls, 50), perSec: float64(n) / elapsed.Seconds()}, nil
}

// runEnqueueConfigs measures 1 and 8 senders and records rows 1a..1e (or the
// scale scenario's rows when prefix is set).
func (e *env) runEnqueueConfigs(ctx context.Context, system string, pool *pgxpool.Pool, send sendFunc, rowPrefix string) error {
	e.checkpoint(ctx)
	r1, err := measureEnqueue(ctx, pool, e.sz.enqueueSends, 1, send)
	if err != nil {
		return fmt.Errorf("%s, 1 sender: %w", system, err)
	}
	e.checkpoint(ctx)
	r8, err := measureEnqueue(ctx, pool, e.sz.enqueueSends, 8, send)
	if err != nil {
		return fmt.Errorf("%s, 8 senders: %w", system, err)
	}
	verbose("%s enqueue: 1 sender tx p50 %.2f ms, call p50 %.2f ms, %.0f/s; 8 senders tx p50 %.2f ms, %.0f/s",
		system, ms(r1.txP50), ms(r1.callP50), r1.perSec, ms(r8.txP50), r8.perSec)
	if rowPrefix != "" {
		e.res.add(rowPrefix+"1a", system, ms(r1.txP50))
		e.res.add(rowPrefix+"1e", system, r8.perSec)
		return nil
	}
	e.res.add("1a", system, ms(r1.txP50))
	e.res.add("1b", system, ms(r1.callP50))
	e.res.add("1c", system, r1.perSec)
	e.res.add("1d", system, ms(r8.txP50))
	e.res.add("1e", system, r8.perSec)
	return nil
}

// defineOrder creates the function that the enqueue scenario's events start.
func defineOrder(c *flow.Client) error {
	_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "order"}, flow.EventTrigger("bench/order"),
		func(ctx context.Context, in flow.Input[seqData]) (any, error) {
			return flow.Step(ctx, "ship", func(context.Context) (int64, error) { return in.Event.Data.Seq, nil })
		})
	return err
}

// flowSender returns riverflow's send: SendTx of one event that starts one
// run, from a client that is not started (the function is registered).
func (e *env) flowSender(pool *pgxpool.Pool) (sendFunc, error) {
	sender, err := flow.NewClient(pool, e.flowConfig())
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx pgx.Tx, i int64) error {
		_, err := sender.SendTx(ctx, tx, flow.Event{Name: "bench/order", Data: seqData{Seq: i}})
		return err
	}, nil
}

func runEnqueue(ctx context.Context, e *env, _ int) error {
	return e.each(ctx, map[string]func(context.Context) error{
		sysFlow: e.enqueueFlow, sysRiver: e.enqueueRiver, sysDBOS: e.enqueueDBOS,
	})
}

func (e *env) enqueueFlow(ctx context.Context) error {
	pool, drop, err := e.flowDB(ctx)
	if err != nil {
		return err
	}
	defer drop()
	if _, err := pool.Exec(ctx, appTableSQL); err != nil {
		return err
	}
	if err := e.registerFunctions(ctx, pool, defineOrder); err != nil {
		return err
	}
	send, err := e.flowSender(pool)
	if err != nil {
		return err
	}
	if err := e.runEnqueueConfigs(ctx, sysFlow, pool, send, ""); err != nil {
		return err
	}
	// Every send must have started a run, as it would for a user.
	runs, err := countRows(ctx, pool, "SELECT count(*) FROM flow_run")
	if err != nil {
		return err
	}
	if want := 2*e.sz.enqueueSends + 40; runs != want {
		return fmt.Errorf("riverflow: %d runs after %d sends", runs, want)
	}
	return nil
}

func (e *env) enqueueRiver(ctx context.Context) error {
	pool, drop, err := e.flowDB(ctx)
	if err != nil {
		return err
	}
	defer drop()
	if _, err := pool.Exec(ctx, appTableSQL); err != nil {
		return err
	}
	rc, err := e.riverClient(pool, nil)
	if err != nil {
		return err
	}
	send := func(ctx context.Context, tx pgx.Tx, i int64) error {
		_, err := rc.InsertTx(ctx, tx, noopArgs{N: i}, nil)
		return err
	}
	return e.runEnqueueConfigs(ctx, sysRiver, pool, send, "")
}

func (e *env) enqueueDBOS(ctx context.Context) error {
	h, err := e.dbosContext(ctx, func(d dbos.Context) error {
		dbos.RegisterWorkflow(d, wf3, dbos.WithWorkflowName("order"))
		_, err := dbos.RegisterQueue(d, dbosQueue)
		return err
	})
	if err != nil {
		return err
	}
	defer h.close()
	// Sending-only, like the others: the context that runs workflows (and
	// would dequeue them meanwhile) is shut down, and a DBOS client enqueues.
	h.shutdown()
	dbURL := h.url
	client, err := dbos.NewClient(ctx, dbos.ClientConfig{DatabaseURL: dbURL, AppName: "bench", Logger: e.quiet})
	if err != nil {
		return fmt.Errorf("dbos.NewClient: %w", err)
	}
	defer func() { _ = dbos.Shutdown(client, 10*time.Second) }()
	pool, err := openPool(ctx, dbURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, appTableSQL); err != nil {
		return err
	}
	send := func(ctx context.Context, tx pgx.Tx, i int64) error {
		_, err := dbos.Enqueue[int64](client, dbosQueue, "order", i, dbos.WithEnqueueTransaction(tx))
		return err
	}
	if err := e.runEnqueueConfigs(ctx, sysDBOS, pool, send, ""); err != nil {
		return err
	}
	n, err := countRows(ctx, pool, "SELECT count(*) FROM dbos.workflow_status")
	if err != nil {
		return err
	}
	if want := 2*e.sz.enqueueSends + 40; n != want {
		return fmt.Errorf("dbos: %d workflows after %d enqueues", n, want)
	}
	return nil
}
