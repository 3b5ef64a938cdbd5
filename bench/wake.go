package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/dbos-inc/dbos-transact-golang/dbos"

	"github.com/riverflow/flow"
)

// keyData is the data of wait and wake events: k matches one waiting run.
type keyData struct {
	K int64 `json:"k"`
}

func runWake(ctx context.Context, e *env, round int) error {
	return e.each(ctx, map[string]func(context.Context) error{
		sysFlow: e.wakeFlow,
		sysDBOS: func(ctx context.Context) error { return e.wakeDBOS(ctx, round) },
	})
}

// sampleWakes resumes waiters 0..n-1 one at a time, with a random 0–20 ms
// gap, and returns commit acknowledged → stamp.
func sampleWakes(ctx context.Context, n int, st *stamps, wake func(k int64) error) ([]time.Duration, error) {
	out := make([]time.Duration, 0, n)
	for k := range int64(n) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(rand.Int64N(int64(20 * time.Millisecond)))):
		}
		if err := wake(k); err != nil {
			return nil, err
		}
		tAck := time.Now()
		at, err := st.wait(ctx, k, 30*time.Second)
		if err != nil {
			return nil, err
		}
		out = append(out, at.Sub(tAck))
	}
	return out, nil
}

func (e *env) wakeFlow(ctx context.Context) error {
	n := e.sz.wakeSamples
	pool, drop, err := e.flowDB(ctx)
	if err != nil {
		return err
	}
	defer drop()
	st := newStamps()
	c, err := e.startFlow(ctx, pool, nil, func(c *flow.Client) error {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "waiter"}, flow.EventTrigger("bench/wake.start"),
			func(ctx context.Context, in flow.Input[keyData]) (any, error) {
				if _, err := flow.WaitForEvent[keyData](ctx, "w", flow.WaitOpts{
					Event: "bench/wake.go", Match: "data.k", Timeout: time.Hour,
				}); err != nil {
					return nil, err
				}
				return flow.Step(ctx, "after", func(context.Context) (int64, error) {
					st.stamp(in.Event.Data.K)
					return in.Event.Data.K, nil
				})
			})
		return err
	})
	if err != nil {
		return err
	}
	defer stopFlow(c)
	if err := e.sendBatches(ctx, pool, "bench/wake.start", n, 100, func(i int64) any { return keyData{K: i} }); err != nil {
		return err
	}
	if err := waitFor(ctx, 5*time.Minute, 20*time.Millisecond, "runs to wait", func() (bool, error) {
		w, err := countRows(ctx, pool, "SELECT count(*) FROM flow_run WHERE status = 'waiting'")
		return w == n, err
	}); err != nil {
		return err
	}
	e.checkpoint(ctx)
	samples, err := sampleWakes(ctx, n, st, func(k int64) error {
		_, err := c.Send(ctx, flow.Event{Name: "bench/wake.go", Data: keyData{K: k}})
		return err
	})
	if err != nil {
		return fmt.Errorf("riverflow wake: %w", err)
	}
	e.recordLatencies(sysFlow, "4w", samples)
	return nil
}

func (e *env) wakeDBOS(ctx context.Context, round int) error {
	n := e.sz.wakeSamples
	st := newStamps()
	wfRecv := func(ctx dbos.Context, k int64) (int64, error) {
		if _, err := dbos.Recv[string](ctx, "t", time.Hour); err != nil {
			return 0, err
		}
		return dbos.RunAsStep(ctx, func(context.Context) (int64, error) {
			st.stamp(k)
			return k, nil
		}, dbos.WithStepName("after"))
	}
	h, err := e.dbosContext(ctx, func(d dbos.Context) error {
		dbos.RegisterWorkflow(d, wfRecv, dbos.WithWorkflowName("recv"))
		return nil
	})
	if err != nil {
		return err
	}
	defer h.close()
	id := func(k int64) string { return fmt.Sprintf("recv-%d-%d", round, k) }
	for k := range int64(n) {
		if _, err := dbos.RunWorkflow(h.d, wfRecv, k, dbos.WithWorkflowID(id(k))); err != nil {
			return err
		}
	}
	// A receiver checkpoints its timeout (a DBOS.sleep step) just before it
	// blocks: once all have, all are waiting.
	pool, err := openPool(ctx, h.url)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := waitFor(ctx, 5*time.Minute, 20*time.Millisecond, "DBOS receivers to wait", func() (bool, error) {
		w, err := countRows(ctx, pool, "SELECT count(*) FROM dbos.operation_outputs WHERE function_name = 'DBOS.sleep'")
		return w == n, err
	}); err != nil {
		return err
	}
	time.Sleep(100 * time.Millisecond) // from the checkpoint to the wait itself
	e.checkpoint(ctx)
	samples, err := sampleWakes(ctx, n, st, func(k int64) error {
		return dbos.Send(h.d, id(k), "go", "t")
	})
	if err != nil {
		return fmt.Errorf("dbos wake: %w", err)
	}
	e.recordLatencies(sysDBOS, "4w", samples)
	return nil
}
