package main

import (
	"context"
	"fmt"
	"time"

	"github.com/riverflow/flow"
)

// controlCase is one flow-control configuration of the three-step function.
type controlCase struct {
	id   string // row ID suffix
	name string
	opts flow.FunctionOpts
	// sql counts the events handled by completed runs (default: completed
	// runs, one event each).
	sql string
}

// controlCases are measured against the same function with no option. Keys
// take a value per event (or per one of 100 accounts), limits are set so that
// they do not bind: what is measured is the cost of the mechanism.
func controlCases(workers int) []controlCase {
	return []controlCase{
		{id: "none", name: "no flow control"},
		{id: "conc", name: fmt.Sprintf("Concurrency: one limit of %d for the function (= workers)", workers),
			opts: flow.FunctionOpts{Concurrency: []flow.Concurrency{{Limit: workers}}}},
		{id: "conc2", name: "Concurrency: function limit + 50 per account (100 accounts)",
			opts: flow.FunctionOpts{Concurrency: []flow.Concurrency{{Limit: workers}, {Limit: 50, Key: "event.data.account"}}}},
		{id: "concbind", name: "Concurrency: 1 per account, binding (100 accounts; runs wait their turn)",
			opts: flow.FunctionOpts{Concurrency: []flow.Concurrency{{Limit: 1, Key: "event.data.account"}}}},
		{id: "throttle", name: "Throttle (1,000,000 per second, per account)",
			opts: flow.FunctionOpts{Throttle: &flow.Throttle{Limit: 1000000, Period: time.Second, Key: "event.data.account"}}},
		{id: "rate", name: "RateLimit (1,000,000 per hour, per account)",
			opts: flow.FunctionOpts{RateLimit: &flow.RateLimit{Limit: 1000000, Period: time.Hour, Key: "event.data.account"}}},
		{id: "idem", name: "Idempotency (a key per event)",
			opts: flow.FunctionOpts{Idempotency: "event.data.seq"}},
		{id: "single", name: "Singleton skip (a key per event)",
			opts: flow.FunctionOpts{Singleton: &flow.Singleton{Key: "event.data.seq", Mode: flow.SingletonSkip}}},
		{id: "prio", name: "Priority (expression)",
			opts: flow.FunctionOpts{Priority: &flow.Priority{Run: "event.data.seq % 2 == 0 ? 10 : 0"}}},
		{id: "debounce", name: "Debounce 1ms (a key per event)",
			opts: flow.FunctionOpts{Debounce: &flow.Debounce{Period: time.Millisecond, Key: "event.data.seq"}}},
		{id: "batch", name: "Batch of up to 100 (events/s)",
			opts: flow.FunctionOpts{Batch: &flow.Batch{MaxSize: 100, Timeout: 50 * time.Millisecond}},
			sql:  "SELECT coalesce(sum(batch_size), 0) FROM flow_run WHERE status = 'completed'"},
	}
}

// accountData is the data of the flow-control scenario's events.
type accountData struct {
	Seq     int64  `json:"seq"`
	Account string `json:"account"`
}

func runControl(ctx context.Context, e *env, _ int) error {
	if !e.want(sysFlow) {
		return nil
	}
	for _, cc := range controlCases(defaultWorkers) {
		if err := e.controlThroughput(ctx, cc); err != nil {
			return fmt.Errorf("%s: %w", cc.name, err)
		}
	}
	return nil
}

// defaultWorkers is the Workers of the benchmark's clients (the library's
// default).
const defaultWorkers = 100

// controlThroughput sends n events to a three-step function with the case's
// options, then starts one worker and times until their runs completed.
func (e *env) controlThroughput(ctx context.Context, cc controlCase) error {
	n := e.sz.controlRuns
	pool, drop, err := e.flowDB(ctx)
	if err != nil {
		return err
	}
	defer drop()
	opts := cc.opts
	opts.ID = "ctl"
	define := defineThreeStepsWith(opts, "bench/ctl")
	if err := e.registerFunctions(ctx, pool, define); err != nil {
		return err
	}
	t0 := time.Now()
	if err := e.sendBatches(ctx, pool, "bench/ctl", n, 500, func(i int64) any {
		return accountData{Seq: i, Account: fmt.Sprint("acct-", i%100)}
	}); err != nil {
		return err
	}
	e.res.add("8s"+cc.id, sysFlow, float64(n)/time.Since(t0).Seconds())
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		return err
	}
	e.checkpoint(ctx)

	count := cc.sql
	if count == "" {
		count = "SELECT count(*) FROM flow_run WHERE status = 'completed'"
	}
	start := time.Now()
	c, err := e.startFlow(ctx, pool, nil, define)
	if err != nil {
		return err
	}
	defer stopFlow(c)
	if err := waitFor(ctx, 10*time.Minute, 20*time.Millisecond, cc.name+" runs", func() (bool, error) {
		done, err := countRows(ctx, pool, count)
		return done >= n, err
	}); err != nil {
		return err
	}
	elapsed := time.Since(start)
	e.res.add("8r"+cc.id, sysFlow, float64(n)/elapsed.Seconds())
	gens, _ := countRows(ctx, pool, "SELECT coalesce(sum(gen), 0) FROM flow_run")
	waitMS, _ := countRows(ctx, pool, "SELECT coalesce(max(extract(epoch FROM started_at - created_at) * 1000), 0)::int FROM flow_run")
	verbose("flow control %s: %d events in %s (%d parks; longest wait to start %d ms)", cc.id, n, elapsed, gens, waitMS)
	return nil
}
