package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dbos-inc/dbos-transact-golang/dbos"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/riverflow/flow"
)

// startSamples are the samples of one start-latency configuration.
type startSamples struct {
	fromCommit []time.Duration // send acknowledged → first step starts
	fromCall   []time.Duration // send called → first step starts
}

// sampleStarts takes n sequential samples after a warm-up: a random 0–20 ms
// gap, then send(seq), then the wait for seq's stamp.
func sampleStarts(ctx context.Context, n int, st *stamps, seqBase int64, send func(seq int64) error) (startSamples, error) {
	var out startSamples
	const warmup = 10
	for i := range int64(n + warmup) {
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case <-time.After(time.Duration(rand.Int64N(int64(20 * time.Millisecond)))):
		}
		seq := seqBase + i
		tCall := time.Now()
		if err := send(seq); err != nil {
			return out, err
		}
		tAck := time.Now()
		at, err := st.wait(ctx, seq, 30*time.Second)
		if err != nil {
			return out, err
		}
		if i < warmup {
			continue
		}
		out.fromCommit = append(out.fromCommit, at.Sub(tAck))
		out.fromCall = append(out.fromCall, at.Sub(tCall))
	}
	return out, nil
}

// background runs tick every 1/rate seconds until stopped, and counts the
// ticks that succeeded.
type background struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ok     atomic.Int64
	start  time.Time
	errs   atomic.Int64
}

func startBackground(ctx context.Context, rate int, tick func(ctx context.Context, i int64) error) *background {
	ctx, cancel := context.WithCancel(ctx)
	b := &background{cancel: cancel, start: time.Now()}
	if rate <= 0 {
		return b
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		t := time.NewTicker(time.Second / time.Duration(rate))
		defer t.Stop()
		for i := int64(0); ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := tick(ctx, i); err != nil {
				if ctx.Err() != nil {
					return
				}
				b.errs.Add(1)
				continue
			}
			b.ok.Add(1)
		}
	}()
	return b
}

// stop stops the load and returns its achieved rate per second.
func (b *background) stop() float64 {
	b.cancel()
	b.wg.Wait()
	return float64(b.ok.Load()) / time.Since(b.start).Seconds()
}

// startLatency measures idle and loaded start latency with the given send
// and background tick, recording rows with prefix (e.g. "3" or "6p3").
func (e *env) startLatency(ctx context.Context, system, prefix string, st *stamps,
	send func(seq int64) error, bgTick func(ctx context.Context, i int64) error,
) error {
	e.checkpoint(ctx)
	idle, err := sampleStarts(ctx, e.sz.latencySamples, st, 0, send)
	if err != nil {
		return fmt.Errorf("%s, idle: %w", system, err)
	}
	bg := startBackground(ctx, e.bgRate, bgTick)
	select { // let the load settle
	case <-time.After(time.Second):
	case <-ctx.Done():
	}
	loaded, err := sampleStarts(ctx, e.sz.latencySamples, st, 1_000_000, send)
	rate := bg.stop()
	if err != nil {
		return fmt.Errorf("%s, loaded: %w", system, err)
	}
	if bg.errs.Load() > 0 {
		return fmt.Errorf("%s: %d background sends failed", system, bg.errs.Load())
	}
	if system == sysDBOS {
		// DBOS runs a started workflow in the starting process, possibly
		// before RunWorkflow returns: time it from the call.
		idle.fromCommit, loaded.fromCommit = idle.fromCall, loaded.fromCall
	}
	verbose("%s start latency: idle p50 %.2f p99 %.2f ms; loaded p50 %.2f p99 %.2f ms (background %.0f/s)", system,
		ms(percentile(idle.fromCommit, 50)), ms(percentile(idle.fromCommit, 99)),
		ms(percentile(loaded.fromCommit, 50)), ms(percentile(loaded.fromCommit, 99)), rate)
	if prefix == "3" {
		e.recordLatencies(system, "3i", idle.fromCommit)
		e.recordLatencies(system, "3l", loaded.fromCommit)
		e.res.add("3c50", system, ms(percentile(idle.fromCall, 50)))
		e.res.add("3c99", system, ms(percentile(idle.fromCall, 99)))
		e.res.add("3bg", system, rate)
		return nil
	}
	e.res.add(prefix+"i50", system, ms(percentile(idle.fromCommit, 50)))
	e.res.add(prefix+"i99", system, ms(percentile(idle.fromCommit, 99)))
	e.res.add(prefix+"l50", system, ms(percentile(loaded.fromCommit, 50)))
	e.res.add(prefix+"l99", system, ms(percentile(loaded.fromCommit, 99)))
	return nil
}

func runStartLatency(ctx context.Context, e *env, _ int) error {
	return e.each(ctx, map[string]func(context.Context) error{
		sysFlow:  func(ctx context.Context) error { return e.startFlowLatency(ctx, nil, "3", nil) },
		sysRiver: e.startRiverLatency,
		sysDBOS:  e.startDBOSLatency,
	})
}

// defineLatency creates the timed function (its first step stamps the
// event's seq) and the background load's three-step function.
func defineLatency(st *stamps) func(c *flow.Client) error {
	return func(c *flow.Client) error {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "lat"}, flow.EventTrigger("bench/lat"),
			func(ctx context.Context, in flow.Input[seqData]) (any, error) {
				return flow.Step(ctx, "first", func(context.Context) (int64, error) {
					st.stamp(in.Event.Data.Seq)
					return in.Event.Data.Seq, nil
				})
			})
		if err != nil {
			return err
		}
		return defineThreeSteps("bg", "bench/bg")(c)
	}
}

// startFlowLatency measures riverflow on pool (a fresh database when pool is
// nil); extra defines the other functions whose runs the database holds.
func (e *env) startFlowLatency(ctx context.Context, pool *pgxpool.Pool, prefix string, extra func(c *flow.Client) error) error {
	if pool == nil {
		p, drop, err := e.flowDB(ctx)
		if err != nil {
			return err
		}
		defer drop()
		pool = p
	}
	st := newStamps()
	c, err := e.startFlow(ctx, pool, nil, func(c *flow.Client) error {
		if err := defineLatency(st)(c); err != nil {
			return err
		}
		if extra != nil {
			return extra(c)
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer stopFlow(c)
	// Idle means idle: let any backlog (earlier scenarios' runs) drain.
	if err := waitFor(ctx, 10*time.Minute, 50*time.Millisecond, "backlog to drain", func() (bool, error) {
		n, err := countRows(ctx, pool, "SELECT count(*) FROM flow_run WHERE status IN ('queued', 'running')")
		return n == 0, err
	}); err != nil {
		return err
	}
	send := func(seq int64) error {
		_, err := c.Send(ctx, flow.Event{Name: "bench/lat", Data: seqData{Seq: seq}})
		return err
	}
	bg := func(ctx context.Context, i int64) error {
		_, err := c.Send(ctx, flow.Event{Name: "bench/bg", Data: seqData{Seq: i}})
		return err
	}
	return e.startLatency(ctx, sysFlow, prefix, st, send, bg)
}

func (e *env) startRiverLatency(ctx context.Context) error {
	pool, drop, err := e.flowDB(ctx)
	if err != nil {
		return err
	}
	defer drop()
	st := newStamps()
	workers := river.NewWorkers()
	river.AddWorker(workers, &latWorker{st: st})
	river.AddWorker(workers, &noopWorker{})
	rc, err := e.riverClient(pool, workers)
	if err != nil {
		return err
	}
	if err := rc.Start(ctx); err != nil {
		return err
	}
	defer stopRiver(rc)
	send := func(seq int64) error {
		_, err := rc.Insert(ctx, latArgs{Seq: seq}, nil)
		return err
	}
	bg := func(ctx context.Context, i int64) error {
		_, err := rc.InsertMany(ctx, []river.InsertManyParams{
			{Args: noopArgs{N: 3 * i}}, {Args: noopArgs{N: 3*i + 1}}, {Args: noopArgs{N: 3*i + 2}},
		})
		return err
	}
	return e.startLatency(ctx, sysRiver, "3", st, send, bg)
}

func (e *env) startDBOSLatency(ctx context.Context) error {
	st := newStamps()
	wfLat := func(ctx dbos.Context, seq int64) (int64, error) {
		return dbos.RunAsStep(ctx, func(context.Context) (int64, error) {
			st.stamp(seq)
			return seq, nil
		}, dbos.WithStepName("first"))
	}
	h, err := e.dbosContext(ctx, func(d dbos.Context) error {
		dbos.RegisterWorkflow(d, wfLat, dbos.WithWorkflowName("lat"))
		dbos.RegisterWorkflow(d, wf3, dbos.WithWorkflowName("wf3"))
		return nil
	})
	if err != nil {
		return err
	}
	defer h.close()
	send := func(seq int64) error {
		_, err := dbos.RunWorkflow(h.d, wfLat, seq)
		return err
	}
	bg := func(_ context.Context, i int64) error {
		_, err := dbos.RunWorkflow(h.d, wf3, i)
		return err
	}
	return e.startLatency(ctx, sysDBOS, "3", st, send, bg)
}
