package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverflow/flow"
)

// replayStamp is what the resumed segment of one run observed.
type replayStamp struct {
	entry    time.Time // the handler was entered (the first stored Step call follows)
	replayed time.Time // the stored steps had all returned
	next     time.Time // the first new step's body started
}

func runReplay(ctx context.Context, e *env, _ int) error {
	if !e.want(sysFlow) {
		return nil
	}
	pool, drop, err := e.flowDB(ctx)
	if err != nil {
		return err
	}
	defer drop()
	steps := e.sz.replaySteps
	var (
		entries sync.Map // run ID → *atomic.Int32, handler entries
		mu      sync.Mutex
		stamped = map[string]replayStamp{}
	)
	c, err := e.startFlow(ctx, pool, nil, func(c *flow.Client) error {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "replay"}, flow.EventTrigger("bench/replay"),
			func(ctx context.Context, in flow.Input[seqData]) (any, error) {
				entry := time.Now()
				n, _ := entries.LoadOrStore(in.RunID, new(atomic.Int32))
				n.(*atomic.Int32).Add(1)
				for i := range steps {
					if _, err := flow.Step(ctx, "s", func(context.Context) (int, error) { return i, nil }); err != nil {
						return nil, err
					}
				}
				replayed := time.Now()
				if err := flow.Sleep(ctx, "nap", 20*time.Millisecond); err != nil {
					return nil, err
				}
				return flow.Step(ctx, "next", func(context.Context) (int, error) {
					now := time.Now()
					mu.Lock()
					if _, ok := stamped[in.RunID]; !ok {
						stamped[in.RunID] = replayStamp{entry: entry, replayed: replayed, next: now}
					}
					mu.Unlock()
					return 0, nil
				})
			})
		return err
	})
	if err != nil {
		return err
	}
	defer stopFlow(c)

	var pure, inHandler, fromJob, fromDue []time.Duration
	for i := range e.sz.replayRuns + 1 { // the first is a warm-up
		ids, err := c.Send(ctx, flow.Event{Name: "bench/replay", Data: seqData{Seq: int64(i)}})
		if err != nil {
			return err
		}
		runs, err := c.ListRuns(ctx, flow.RunFilter{EventID: ids[0]})
		if err != nil {
			return err
		}
		if len(runs) != 1 {
			return fmt.Errorf("replay: event started %d runs", len(runs))
		}
		runID := runs[0].ID
		actx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		run, err := c.AwaitRun(actx, runID)
		cancel()
		if err != nil {
			return err
		}
		if run.Status != flow.RunCompleted || len(run.Steps) != steps+2 {
			return fmt.Errorf("replay: run %s is %s with %d steps: %s", runID, run.Status, len(run.Steps), run.Error)
		}
		n, _ := entries.Load(runID)
		if got := n.(*atomic.Int32).Load(); got != 2 {
			return fmt.Errorf("replay: run %s executed in %d segments, want 2", runID, got)
		}
		mu.Lock()
		s, ok := stamped[runID]
		mu.Unlock()
		if !ok {
			return fmt.Errorf("replay: run %s has no stamp", runID)
		}
		var attemptedAt, wakeAt time.Time
		if err := pool.QueryRow(ctx, `
			SELECT j.attempted_at, s.wake_at
			FROM flow_run r
			JOIN river_job j ON j.id = r.job_id
			JOIN flow_step s ON s.run_id = r.id AND s.id = 'nap'
			WHERE r.id = $1`, runID).Scan(&attemptedAt, &wakeAt); err != nil {
			return fmt.Errorf("replay: read run %s: %w", runID, err)
		}
		if i == 0 {
			continue
		}
		pure = append(pure, s.replayed.Sub(s.entry))
		inHandler = append(inHandler, s.next.Sub(s.entry))
		fromJob = append(fromJob, s.next.Sub(attemptedAt))
		fromDue = append(fromDue, s.next.Sub(wakeAt))
	}
	e.res.add("7a", sysFlow, ms(percentile(inHandler, 50)))
	e.res.add("7b", sysFlow, ms(percentile(pure, 50)))
	e.res.add("7c", sysFlow, ms(percentile(fromJob, 50)))
	e.res.add("7d", sysFlow, ms(percentile(fromDue, 50)))
	verbose("replay: pure p50 %.3f ms, in handler p50 %.3f ms, from job fetch p50 %.3f ms, from due p50 %.3f ms",
		ms(percentile(pure, 50)), ms(percentile(inHandler, 50)), ms(percentile(fromJob, 50)), ms(percentile(fromDue, 50)))
	return nil
}
