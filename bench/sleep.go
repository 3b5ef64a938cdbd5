package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/dbos-inc/dbos-transact-golang/dbos"
	"github.com/riverqueue/river"

	"github.com/riverflow/flow"
)

const sleepFor = time.Second

// lateness collects sleep lateness samples.
type lateness struct {
	mu      sync.Mutex
	samples []time.Duration
	seen    map[string]bool
}

func newLateness() *lateness { return &lateness{seen: map[string]bool{}} }

func (l *lateness) add(key string, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen[key] {
		return
	}
	l.seen[key] = true
	l.samples = append(l.samples, d)
}

func (l *lateness) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.samples)
}

func (l *lateness) wait(ctx context.Context, n int, timeout time.Duration) ([]time.Duration, error) {
	if err := waitFor(ctx, timeout, 10*time.Millisecond, "sleepers to wake", func() (bool, error) {
		return l.count() >= n, nil
	}); err != nil {
		return nil, fmt.Errorf("%w (%d of %d woke)", err, l.count(), n)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Duration(nil), l.samples...), nil
}

func runSleep(ctx context.Context, e *env, _ int) error {
	return e.each(ctx, map[string]func(context.Context) error{
		sysFlow: e.sleepFlow, sysRiver: e.sleepRiver, sysDBOS: e.sleepDBOS,
	})
}

func (e *env) sleepFlow(ctx context.Context) error {
	n := e.sz.sleepers
	pool, drop, err := e.flowDB(ctx)
	if err != nil {
		return err
	}
	defer drop()
	late := newLateness()
	var sleptAt sync.Map // run ID → when Sleep was first called
	c, err := e.startFlow(ctx, pool, nil, func(c *flow.Client) error {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "sleeper"}, flow.EventTrigger("bench/sleep"),
			func(ctx context.Context, in flow.Input[seqData]) (any, error) {
				t0, _ := sleptAt.LoadOrStore(in.RunID, time.Now())
				if err := flow.Sleep(ctx, "nap", sleepFor); err != nil {
					return nil, err
				}
				return flow.Step(ctx, "after", func(context.Context) (int64, error) {
					late.add(in.RunID, time.Since(t0.(time.Time))-sleepFor)
					return 0, nil
				})
			})
		return err
	})
	if err != nil {
		return err
	}
	defer stopFlow(c)
	e.checkpoint(ctx)
	if err := e.sendBatches(ctx, pool, "bench/sleep", n, 100, func(i int64) any { return seqData{Seq: i} }); err != nil {
		return err
	}
	samples, err := late.wait(ctx, n, 5*time.Minute)
	if err != nil {
		return fmt.Errorf("riverflow sleep: %w", err)
	}
	e.recordLatencies(sysFlow, "5s", samples)
	if *flagVerb {
		// Where the lateness goes: due → the continuation job is fetched →
		// the step after the sleep starts.
		rows, err := pool.Query(ctx, `
			SELECT j.scheduled_at - nap.wake_at, j.attempted_at - j.scheduled_at, after.started_at - j.attempted_at
			FROM flow_run r
			JOIN river_job j ON j.id = r.job_id
			JOIN flow_step nap ON nap.run_id = r.id AND nap.id = 'nap'
			JOIN flow_step after ON after.run_id = r.id AND after.id = 'after'
			WHERE r.function_id = 'sleeper'`)
		if err != nil {
			return err
		}
		var toWake, toFetch, toStep []time.Duration
		for rows.Next() {
			var a, b, c time.Duration
			if err := rows.Scan(&a, &b, &c); err != nil {
				return err
			}
			toWake = append(toWake, a)
			toFetch = append(toFetch, b)
			toStep = append(toStep, c)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		verbose("riverflow sleep: due → woken (job available) p50 %.1f p99 %.1f ms; woken → job fetched p50 %.1f p99 %.1f ms; fetched → step after p50 %.1f p99 %.1f ms",
			ms(percentile(toWake, 50)), ms(percentile(toWake, 99)),
			ms(percentile(toFetch, 50)), ms(percentile(toFetch, 99)), ms(percentile(toStep, 50)), ms(percentile(toStep, 99)))
	}
	return nil
}

type schedArgs struct {
	Seq int64     `json:"seq"`
	At  time.Time `json:"at"`
}

func (schedArgs) Kind() string { return "bench_sched" }

type schedWorker struct {
	river.WorkerDefaults[schedArgs]
	late *lateness
}

func (w *schedWorker) Work(_ context.Context, job *river.Job[schedArgs]) error {
	w.late.add(fmt.Sprint(job.Args.Seq), time.Since(job.Args.At))
	return nil
}

func (e *env) sleepRiver(ctx context.Context) error {
	n := e.sz.sleepers
	pool, drop, err := e.flowDB(ctx)
	if err != nil {
		return err
	}
	defer drop()
	late := newLateness()
	workers := river.NewWorkers()
	river.AddWorker(workers, &schedWorker{late: late})
	rc, err := e.riverClient(pool, workers)
	if err != nil {
		return err
	}
	if err := rc.Start(ctx); err != nil {
		return err
	}
	defer stopRiver(rc)
	e.checkpoint(ctx)
	for i := 0; i < n; i += 100 {
		params := make([]river.InsertManyParams, 0, 100)
		for j := i; j < min(i+100, n); j++ {
			at := time.Now().Add(sleepFor)
			params = append(params, river.InsertManyParams{Args: schedArgs{Seq: int64(j), At: at}, InsertOpts: &river.InsertOpts{ScheduledAt: at}})
		}
		if _, err := rc.InsertMany(ctx, params); err != nil {
			return err
		}
	}
	samples, err := late.wait(ctx, n, 5*time.Minute)
	if err != nil {
		return fmt.Errorf("river sleep: %w", err)
	}
	e.recordLatencies(sysRiver, "5s", samples)
	return nil
}

func (e *env) sleepDBOS(ctx context.Context) error {
	n := e.sz.sleepers
	late := newLateness()
	wfSleep := func(ctx dbos.Context, seq int64) (int64, error) {
		t0 := time.Now()
		if _, err := dbos.Sleep(ctx, sleepFor); err != nil {
			return 0, err
		}
		return dbos.RunAsStep(ctx, func(context.Context) (int64, error) {
			late.add(fmt.Sprint(seq), time.Since(t0)-sleepFor)
			return seq, nil
		}, dbos.WithStepName("after"))
	}
	h, err := e.dbosContext(ctx, func(d dbos.Context) error {
		dbos.RegisterWorkflow(d, wfSleep, dbos.WithWorkflowName("sleeper"))
		return nil
	})
	if err != nil {
		return err
	}
	defer h.close()
	e.checkpoint(ctx)
	for i := range int64(n) {
		if _, err := dbos.RunWorkflow(h.d, wfSleep, i); err != nil {
			return err
		}
	}
	samples, err := late.wait(ctx, n, 5*time.Minute)
	if err != nil {
		return fmt.Errorf("dbos sleep: %w", err)
	}
	e.recordLatencies(sysDBOS, "5s", samples)
	return nil
}
