package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riverflow/flow"
)

// scaleState is the scale scenario's populated database, kept for all rounds.
type scaleState struct {
	pool *pgxpool.Pool
	n    int
}

// scalePopulateLimit bounds the time spent creating sleepers and waiters; the
// count reached is reported.
const scalePopulateLimit = 30 * time.Minute

// defineScale creates the functions of the scale scenario's sleeping and
// waiting runs, and of the enqueue measurement's events.
func defineScale(c *flow.Client) error {
	if _, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "scale-sleeper"}, flow.EventTrigger("bench/scale.sleep"),
		func(ctx context.Context, _ flow.Input[keyData]) (any, error) {
			return nil, flow.Sleep(ctx, "nap", 24*time.Hour)
		}); err != nil {
		return err
	}
	if _, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "scale-waiter"}, flow.EventTrigger("bench/scale.wait"),
		func(ctx context.Context, _ flow.Input[keyData]) (any, error) {
			_, err := flow.WaitForEvent[keyData](ctx, "w", flow.WaitOpts{Event: "bench/scale.go", Match: "data.k", Timeout: 24 * time.Hour})
			return nil, err
		}); err != nil {
		return err
	}
	return defineOrder(c)
}

func runScale(ctx context.Context, e *env, _ int) error {
	if !e.want(sysFlow) {
		return nil
	}
	if e.scale == nil {
		st, err := e.scaleSetup(ctx)
		if err != nil {
			return err
		}
		e.scale = st
	}

	// Empty tables: a fresh database, measured now.
	pool, drop, err := e.flowDB(ctx)
	if err != nil {
		return err
	}
	defer drop()
	if err := e.scaleMeasure(ctx, pool, "6e"); err != nil {
		return fmt.Errorf("empty tables: %w", err)
	}
	if err := e.scaleMeasure(ctx, e.scale.pool, "6p"); err != nil {
		return fmt.Errorf("populated tables: %w", err)
	}
	return nil
}

// scaleMeasure repeats scenarios 1 and 3 for riverflow on pool.
func (e *env) scaleMeasure(ctx context.Context, pool *pgxpool.Pool, prefix string) error {
	if _, err := pool.Exec(ctx, appTableSQL); err != nil {
		return err
	}
	if err := e.registerFunctions(ctx, pool, defineScale); err != nil {
		return err
	}
	send, err := e.flowSender(pool)
	if err != nil {
		return err
	}
	if err := e.runEnqueueConfigs(ctx, sysFlow, pool, send, prefix); err != nil {
		return err
	}
	return e.startFlowLatency(ctx, pool, prefix+"3", defineScale)
}

// scaleSetup creates N sleeping runs and N waiting runs through the engine:
// events sent to a started worker whose functions Sleep or WaitForEvent at
// once. It records the worker's heap before and after.
func (e *env) scaleSetup(ctx context.Context) (*scaleState, error) {
	n := e.sz.scaleRows
	pool, drop, err := e.flowDB(ctx)
	if err != nil {
		return nil, err
	}
	e.onCleanup(drop)

	c, err := e.startFlow(ctx, pool, nil, defineScale)
	if err != nil {
		return nil, err
	}
	// Open every pool connection first, so that the heap comparison is not
	// about the pool's size.
	if err := warmPool(ctx, pool); err != nil {
		return nil, err
	}
	time.Sleep(time.Second)
	heap0 := heapInUse()

	progress("scale: creating %d sleeping and %d waiting runs", n, n)
	start := time.Now()
	sendErr := make(chan error, 1)
	sctx, cancelSend := context.WithCancel(ctx)
	defer cancelSend()
	go func() {
		sendErr <- e.sendScaleEvents(sctx, pool, n)
	}()
	var sleeping, waiting int
	sent := false
	lastReport := time.Now()
	deadline := time.Now().Add(scalePopulateLimit)
	for {
		if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'sleeping'), count(*) FILTER (WHERE status = 'waiting')
			FROM flow_run WHERE status IN ('sleeping', 'waiting')`).Scan(&sleeping, &waiting); err != nil {
			_ = stopFlow(c)
			return nil, err
		}
		if sleeping >= n && waiting >= n {
			break
		}
		if !sent {
			select {
			case err := <-sendErr:
				if err != nil {
					_ = stopFlow(c)
					return nil, fmt.Errorf("scale: send: %w", err)
				}
				sent = true
			default:
			}
		}
		if time.Now().After(deadline) {
			progress("scale: stopped after %s at %d sleeping and %d waiting runs", scalePopulateLimit, sleeping, waiting)
			break
		}
		if time.Since(lastReport) > 15*time.Second {
			el := time.Since(start)
			progress("scale: %d sleeping, %d waiting after %s (%.0f runs/s)", sleeping, waiting, el.Round(time.Second),
				float64(sleeping+waiting)/el.Seconds())
			lastReport = time.Now()
		}
		select {
		case <-ctx.Done():
			_ = stopFlow(c)
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	cancelSend()
	el := time.Since(start)
	progress("scale: %d sleeping and %d waiting runs in %s (%.0f runs/s through the engine)", sleeping, waiting,
		el.Round(time.Second), float64(sleeping+waiting)/el.Seconds())
	time.Sleep(time.Second) // let the worker go idle
	heapN := heapInUse()
	if *flagHeap != "" {
		if err := writeHeapProfile(*flagHeap); err != nil {
			return nil, err
		}
	}
	if err := stopFlow(c); err != nil {
		return nil, err
	}

	// A fresh worker on the populated tables.
	c2, err := e.startFlow(ctx, pool, nil, defineScale)
	if err != nil {
		return nil, err
	}
	time.Sleep(2 * time.Second)
	heapF := heapInUse()
	if err := stopFlow(c2); err != nil {
		return nil, err
	}

	reached := min(sleeping, waiting)
	e.res.add("6n", sysFlow, float64(reached))
	e.res.add("6h0", sysFlow, float64(heap0)/(1<<20))
	e.res.add("6hN", sysFlow, float64(heapN)/(1<<20))
	e.res.add("6hF", sysFlow, float64(heapF)/(1<<20))
	e.res.setNote("6n", fmt.Sprintf("created through the engine in %s (%.0f runs/s: send plus first segment)",
		el.Round(time.Second), float64(sleeping+waiting)/el.Seconds()))
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		return nil, err
	}
	return &scaleState{pool: pool, n: reached}, nil
}

// sendScaleEvents sends n sleep events and n wait events, interleaved, in
// batches, from a client that is not started.
func (e *env) sendScaleEvents(ctx context.Context, pool *pgxpool.Pool, n int) error {
	sender, err := flow.NewClient(pool, e.flowConfig())
	if err != nil {
		return err
	}
	const batch = 500
	for i := 0; i < n; i += batch {
		for _, name := range []string{"bench/scale.sleep", "bench/scale.wait"} {
			events := make([]flow.Event, 0, batch)
			for k := i; k < min(i+batch, n); k++ {
				events = append(events, flow.Event{Name: name, Data: keyData{K: int64(k)}})
			}
			if _, err := sender.Send(ctx, events...); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
	}
	return nil
}

// warmPool opens all of pool's connections.
func warmPool(ctx context.Context, pool *pgxpool.Pool) error {
	conns := make([]*pgxpool.Conn, 0, pool.Config().MaxConns)
	defer func() {
		for _, c := range conns {
			c.Release()
		}
	}()
	for range pool.Config().MaxConns {
		c, err := pool.Acquire(ctx)
		if err != nil {
			return err
		}
		conns = append(conns, c)
		if err := c.Ping(ctx); err != nil {
			return err
		}
	}
	return nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("heap").WriteTo(f, 0)
}
