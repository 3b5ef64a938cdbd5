package flow

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/riverflow/flow/internal/engine"
	"github.com/riverflow/flow/internal/store"
)

// Client sends events, executes function runs in this process, and shows
// runs. Create it with NewClient, define functions with CreateFunction, then
// Start it in every process that should execute runs. A client that is never
// started can still send events and read runs.
type Client struct {
	pool  *pgxpool.Pool
	cfg   *Config
	store *store.Store
	e     *engine.Engine
}

// NewClient returns a client on the application's pool. cfg may be nil for
// the defaults. Call Migrate first (once, at deploy or start-up).
func NewClient(pool *pgxpool.Pool, cfg *Config) (*Client, error) {
	if pool == nil {
		return nil, errors.New("flow: NewClient: nil pool")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.ID == "" {
		host, _ := os.Hostname()
		cfg.ID = fmt.Sprintf("%s_%s_%s", host, time.Now().UTC().Format("2006_01_02T15_04_05"), engine.NewID()[24:])
		if len(cfg.ID) > 100 {
			cfg.ID = cfg.ID[len(cfg.ID)-100:]
		}
	}
	st := store.New(pool, cfg.LeaseTTL)
	c := &Client{
		pool:  pool,
		cfg:   cfg,
		store: st,
		e:     engine.New(engine.Deps{Pool: pool, Store: st, Config: cfg.engineConfig()}),
	}

	if cfg.ExternalRiver {
		return c, nil // the app attaches its own River client (package riverext)
	}
	workers := river.NewWorkers()
	if err := (riverHost{c}).AddWorkers(workers); err != nil {
		return nil, fmt.Errorf("flow: NewClient: %w", err)
	}
	queue, qcfg := riverHost{c}.Queue()
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		ID:                cfg.ID,
		Logger:            cfg.Logger,
		Queues:            map[string]river.QueueConfig{queue: qcfg},
		Workers:           workers,
		FetchCooldown:     cfg.FetchCooldown,
		FetchPollInterval: cfg.FetchPollInterval,
		// A segment runs as long as its steps do; leases, not River's job
		// timeout, decide when a run is taken over.
		JobTimeout: -1,
	})
	if err != nil {
		return nil, fmt.Errorf("flow: NewClient: river: %w", err)
	}
	c.e.UseOwnRiver(rc)
	return c, nil
}

// AddRiverWorkers adds the client's River workers (the job kinds that execute
// runs and fire cron triggers) to workers, for an app that runs its own River
// client (Config.ExternalRiver).
//
// Deprecated: use riverext.AddWorkers.
func (c *Client) AddRiverWorkers(workers *river.Workers) error {
	return riverHost{c}.AddWorkers(workers)
}

// RiverQueue returns the name and configuration of the River queue runs
// execute on, for an app that runs its own River client: add it to that
// client's Config.Queues.
//
// Deprecated: use riverext.Queues (or riverext.Queue).
func (c *Client) RiverQueue() (string, river.QueueConfig) {
	return riverHost{c}.Queue()
}

// AttachRiver gives a client created with Config.ExternalRiver the app's
// River client, which must have the client's workers and queue. Call it
// before Start. The app starts and stops its River client itself.
//
// Deprecated: use riverext.Attach.
func (c *Client) AttachRiver(rc *river.Client[pgx.Tx]) error {
	return riverHost{c}.Attach(rc)
}

// River returns the River client the flow client runs on (nil for a client
// with Config.ExternalRiver until AttachRiver).
func (c *Client) River() *river.Client[pgx.Tx] { return c.e.River() }

// Start registers the client's functions in the database and starts
// executing runs in this process: River's workers, the waker that resumes
// sleeping runs on time, lease renewal, and the sweeper that takes over runs
// whose client died. It returns once they are running; stop them with Stop
// or by cancelling ctx. On a database without the library's tables, or with
// an older schema version than the library's, it returns an error wrapping
// ErrNotMigrated that says both versions.
func (c *Client) Start(ctx context.Context) error {
	return c.schemaError(ctx, c.e.Start(ctx, c.checkSchema))
}

// Stop stops fetching new work, waits for the segments executing in this
// process to reach their end (bounded by ctx), then stops the background
// services. Runs that are sleeping or waiting are unaffected: any started
// client resumes them. It also closes the client's realtime subscriptions
// and their LISTEN connection (also on a client that was never started).
func (c *Client) Stop(ctx context.Context) error {
	err := c.e.Stop(ctx)
	c.e.Realtime().Close() // after the runs: their publishes are notified
	return err
}
