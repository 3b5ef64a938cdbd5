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
	"github.com/riverqueue/river"

	"github.com/riverflow/flow"
)

// defineThreeSteps creates a function of three trivial steps on event name.
func defineThreeSteps(id, event string) func(c *flow.Client) error {
	return defineThreeStepsWith(flow.FunctionOpts{ID: id}, event)
}

// defineThreeStepsWith is defineThreeSteps with more options.
func defineThreeStepsWith(opts flow.FunctionOpts, event string) func(c *flow.Client) error {
	return func(c *flow.Client) error {
		_, err := flow.CreateFunction(c, opts, flow.EventTrigger(event),
			func(ctx context.Context, in flow.Input[seqData]) (any, error) {
				var sum int64
				for range 3 {
					v, err := flow.Step(ctx, "s", func(context.Context) (int64, error) { return 1, nil })
					if err != nil {
						return nil, err
					}
					sum += v
				}
				return sum, nil
			})
		return err
	}
}

func runThroughput(ctx context.Context, e *env, _ int) error {
	return e.each(ctx, map[string]func(context.Context) error{
		sysFlow: e.throughputFlow, sysRiver: e.throughputRiver, sysDBOS: e.throughputDBOS,
	})
}

// sendBatches sends n events named name, in batches, from a client that is
// not started.
func (e *env) sendBatches(ctx context.Context, pool *pgxpool.Pool, name string, n, batch int, data func(i int64) any) error {
	sender, err := flow.NewClient(pool, e.flowConfig())
	if err != nil {
		return err
	}
	events := make([]flow.Event, 0, batch)
	for i := range int64(n) {
		events = append(events, flow.Event{Name: name, Data: data(i)})
		if len(events) == batch || i == int64(n)-1 {
			if _, err := sender.Send(ctx, events...); err != nil {
				return err
			}
			events = events[:0]
		}
	}
	return nil
}

func (e *env) throughputFlow(ctx context.Context) error {
	n := e.sz.throughputRuns
	pool, drop, err := e.flowDB(ctx)
	if err != nil {
		return err
	}
	defer drop()
	define := defineThreeSteps("tp", "bench/tp")
	if err := e.registerFunctions(ctx, pool, define); err != nil {
		return err
	}
	t0 := time.Now()
	if err := e.sendBatches(ctx, pool, "bench/tp", n, 500, func(i int64) any { return seqData{Seq: i} }); err != nil {
		return err
	}
	e.res.add("2d", sysFlow, float64(n)/time.Since(t0).Seconds())
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		return err
	}
	e.checkpoint(ctx)

	done, err := listenRunsDone(ctx, pool)
	if err != nil {
		return err
	}
	defer done.close()
	start := time.Now()
	c, err := e.startFlow(ctx, pool, nil, define)
	if err != nil {
		return err
	}
	defer stopFlow(c)
	if err := done.waitCompleted(ctx, pool, n, 10*time.Minute); err != nil {
		return err
	}
	elapsed := time.Since(start)
	e.res.add("2a", sysFlow, float64(n)/elapsed.Seconds())
	e.res.add("2b", sysFlow, 3*float64(n)/elapsed.Seconds())
	e.res.add("2c", sysFlow, elapsed.Seconds())
	verbose("riverflow throughput: %d runs in %s", n, elapsed)
	return nil
}

func (e *env) throughputRiver(ctx context.Context) error {
	n := 3 * e.sz.throughputRuns
	pool, drop, err := e.flowDB(ctx)
	if err != nil {
		return err
	}
	defer drop()
	inserter, err := e.riverClient(pool, nil)
	if err != nil {
		return err
	}
	t0 := time.Now()
	const batch = 1000
	params := make([]river.InsertManyParams, 0, batch)
	for i := range int64(n) {
		params = append(params, river.InsertManyParams{Args: noopArgs{N: i}})
		if len(params) == batch || i == int64(n)-1 {
			if _, err := inserter.InsertMany(ctx, params); err != nil {
				return err
			}
			params = params[:0]
		}
	}
	e.res.add("2d", sysRiver, float64(n)/time.Since(t0).Seconds())
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		return err
	}
	e.checkpoint(ctx)

	workers := river.NewWorkers()
	river.AddWorker(workers, &noopWorker{})
	rc, err := e.riverClient(pool, workers)
	if err != nil {
		return err
	}
	events, cancel := rc.SubscribeConfig(&river.SubscribeConfig{
		ChanSize: n + 1000, Kinds: []river.EventKind{river.EventKindJobCompleted, river.EventKindJobFailed},
	})
	defer cancel()
	start := time.Now()
	if err := rc.Start(ctx); err != nil {
		return err
	}
	defer stopRiver(rc)
	timeout := time.After(10 * time.Minute)
	for got := 0; got < n; got++ {
		select {
		case ev := <-events:
			if ev.Kind != river.EventKindJobCompleted {
				return fmt.Errorf("river throughput: job %d failed", ev.Job.ID)
			}
		case <-timeout:
			return fmt.Errorf("river throughput: only %d of %d jobs completed", got, n)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	elapsed := time.Since(start)
	e.res.add("2a", sysRiver, float64(n)/elapsed.Seconds())
	e.res.add("2b", sysRiver, float64(n)/elapsed.Seconds())
	e.res.add("2c", sysRiver, elapsed.Seconds())
	verbose("river throughput: %d jobs in %s", n, elapsed)
	return nil
}

func (e *env) throughputDBOS(ctx context.Context) error {
	n := e.sz.throughputRuns
	h, err := e.dbosContext(ctx, func(d dbos.Context) error {
		dbos.RegisterWorkflow(d, wf3, dbos.WithWorkflowName("wf3"))
		return nil
	})
	if err != nil {
		return err
	}
	defer h.close()
	for i := range 5 { // warm-up
		hd, err := dbos.RunWorkflow(h.d, wf3, int64(-i-1))
		if err != nil {
			return err
		}
		if _, err := hd.GetResult(); err != nil {
			return err
		}
	}
	e.checkpoint(ctx)

	const lanes = 100
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	start := time.Now()
	for range lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				hd, err := dbos.RunWorkflow(h.d, wf3, i)
				if err == nil {
					_, err = hd.GetResult()
				}
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return fmt.Errorf("dbos throughput: %w", firstErr)
	}
	e.res.add("2a", sysDBOS, float64(n)/elapsed.Seconds())
	e.res.add("2b", sysDBOS, 3*float64(n)/elapsed.Seconds())
	e.res.add("2c", sysDBOS, elapsed.Seconds())
	verbose("dbos throughput: %d workflows in %s", n, elapsed)
	return nil
}

// runsDone counts run completions from the notifications riverflow sends as
// runs end (channel flow_run_done, payload the run ID), so that waiting for
// thousands of runs costs the database nothing. If the notifications stop
// (the channel was renamed), it falls back to counting rows.
type runsDone struct {
	conn *pgx.Conn
}

func listenRunsDone(ctx context.Context, pool *pgxpool.Pool) (*runsDone, error) {
	conn, err := pgx.Connect(ctx, pool.Config().ConnString())
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN flow_run_done"); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	return &runsDone{conn: conn}, nil
}

func (d *runsDone) close() { _ = d.conn.Close(context.Background()) }

// waitCompleted waits until n runs have ended and checks that all completed.
func (d *runsDone) waitCompleted(ctx context.Context, pool *pgxpool.Pool, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	seen := make(map[string]bool, n)
	for len(seen) < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d runs ended within %s", len(seen), n, timeout)
		}
		wctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
		note, err := d.conn.WaitForNotification(wctx)
		cancel()
		if err == nil {
			seen[note.Payload] = true
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if wctx.Err() == nil {
			return err
		}
		// Quiet for a while: count instead.
		ended, err := countRows(ctx, pool, "SELECT count(*) FROM flow_run WHERE status IN ('completed', 'failed', 'cancelled')")
		if err != nil {
			return err
		}
		if ended >= n {
			break
		}
	}
	notCompleted, err := countRows(ctx, pool, "SELECT count(*) FROM flow_run WHERE status <> 'completed'")
	if err != nil {
		return err
	}
	if notCompleted > 0 {
		return fmt.Errorf("%d runs did not complete", notCompleted)
	}
	return nil
}
