package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/dbos-inc/dbos-transact-golang/dbos"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/riverflow/flow"
)

// Tuning shared by riverflow and raw River, so that neither has a slower
// fetch loop than the other: riverflow's defaults.
const (
	riverFetchCooldown     = 2 * time.Millisecond
	riverFetchPollInterval = 200 * time.Millisecond
	riverMaxWorkers        = 100
)

// ---- riverflow ----

// flowConfig is riverflow's default configuration, quiet.
func (e *env) flowConfig() *flow.Config {
	return &flow.Config{Logger: e.quiet}
}

// registerFunctions records the functions that define creates in the
// database (by starting a client and stopping it), so that clients that only
// send start runs of them, as in an application whose workers run elsewhere.
func (e *env) registerFunctions(ctx context.Context, pool *pgxpool.Pool, define func(c *flow.Client) error) error {
	c, err := flow.NewClient(pool, e.flowConfig())
	if err != nil {
		return err
	}
	if err := define(c); err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		return err
	}
	return stopFlow(c)
}

// startFlow creates a client with the functions define creates, and starts it.
func (e *env) startFlow(ctx context.Context, pool *pgxpool.Pool, cfg *flow.Config, define func(c *flow.Client) error) (*flow.Client, error) {
	if cfg == nil {
		cfg = e.flowConfig()
	}
	c, err := flow.NewClient(pool, cfg)
	if err != nil {
		return nil, err
	}
	if err := define(c); err != nil {
		return nil, err
	}
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func stopFlow(c *flow.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.Stop(ctx)
}

// seqData is the data of the events whose handling is timed.
type seqData struct {
	Seq int64 `json:"seq"`
}

// ---- River ----

type noopArgs struct {
	N int64 `json:"n"`
}

func (noopArgs) Kind() string { return "bench_noop" }

type noopWorker struct {
	river.WorkerDefaults[noopArgs]
}

func (noopWorker) Work(context.Context, *river.Job[noopArgs]) error { return nil }

type latArgs struct {
	Seq int64 `json:"seq"`
}

func (latArgs) Kind() string { return "bench_lat" }

type latWorker struct {
	river.WorkerDefaults[latArgs]
	st *stamps
}

func (w *latWorker) Work(_ context.Context, job *river.Job[latArgs]) error {
	w.st.stamp(job.Args.Seq)
	return nil
}

// riverClient returns a River client on pool with one queue tuned like
// riverflow's, or an insert-only client when workers is nil.
func (e *env) riverClient(pool *pgxpool.Pool, workers *river.Workers) (*river.Client[pgx.Tx], error) {
	cfg := &river.Config{Logger: e.quiet}
	if workers == nil && *flagRIC > 0 {
		cfg.FetchCooldown = *flagRIC
	}
	if workers != nil {
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: riverMaxWorkers}}
		cfg.Workers = workers
		cfg.FetchCooldown = riverFetchCooldown
		cfg.FetchPollInterval = riverFetchPollInterval
	}
	return river.NewClient(riverpgxv5.New(pool), cfg)
}

func stopRiver(c *river.Client[pgx.Tx]) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.Stop(ctx)
}

// ---- DBOS ----

const dbosQueue = "bench"

// dbosHandle is a launched DBOS context on its own database.
type dbosHandle struct {
	d    dbos.Context
	url  string
	once sync.Once
	drop func()
}

// shutdown stops the DBOS runtime (once).
func (h *dbosHandle) shutdown() {
	h.once.Do(func() {
		if err := dbos.Shutdown(h.d, 30*time.Second); err != nil {
			progress("warning: dbos shutdown: %v", err)
		}
	})
}

// close shuts DBOS down and drops its database.
func (h *dbosHandle) close() {
	h.shutdown()
	h.drop()
}

// dbosContext creates a DBOS context on a fresh database (DBOS migrates it
// itself) and launches it. register registers workflows and queues before
// Launch.
func (e *env) dbosContext(ctx context.Context, register func(d dbos.Context) error) (*dbosHandle, error) {
	dbURL, drop, err := e.emptyDB(ctx, "dbos")
	if err != nil {
		return nil, err
	}
	d, err := dbos.NewContext(ctx, dbos.Config{DatabaseURL: dbURL, AppName: "bench", Logger: e.quiet})
	if err != nil {
		drop()
		return nil, fmt.Errorf("dbos.NewContext: %w", err)
	}
	h := &dbosHandle{d: d, url: dbURL, drop: drop}
	if register != nil {
		if err := register(d); err != nil {
			h.close()
			return nil, err
		}
	}
	if err := dbos.Launch(d); err != nil {
		h.close()
		return nil, fmt.Errorf("dbos.Launch: %w", err)
	}
	return h, nil
}

// dbosStep is a trivial DBOS step.
func dbosStep(context.Context) (int, error) { return 1, nil }

// wf3 is the three-step DBOS workflow of the throughput scenario.
func wf3(ctx dbos.Context, n int64) (int64, error) {
	for range 3 {
		if _, err := dbos.RunAsStep(ctx, dbosStep, dbos.WithStepName("s")); err != nil {
			return 0, err
		}
	}
	return n, nil
}
