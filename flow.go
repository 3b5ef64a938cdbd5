package flow

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"go.opentelemetry.io/otel/trace"

	"github.com/riverflow/flow/internal/dbsqlc"
	"github.com/riverflow/flow/internal/registry"
	"github.com/riverflow/flow/internal/riverjob"
)

// Client sends events, executes function runs in this process, and shows
// runs. Create it with NewClient, define functions with CreateFunction, then
// Start it in every process that should execute runs. A client that is never
// started can still send events and read runs.
type Client struct {
	pool  *pgxpool.Pool
	cfg   *Config
	q     *dbsqlc.Queries
	river *river.Client[pgx.Tx]
	jobs  *riverjob.Inserter // inserts and cancels run jobs on river

	mu        sync.Mutex
	functions map[string]*Function
	started   bool
	stop      context.CancelFunc
	bg        sync.WaitGroup

	ownsRiver bool

	tracer       trace.Tracer
	insertNotify *notifyLimiter
	leases       *leaseSet
	steps        *stepBatcher
	waker        *waker
	resumer      *resumer
	done         *doneNotifier
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
		cfg.ID = fmt.Sprintf("%s_%s_%s", host, time.Now().UTC().Format("2006_01_02T15_04_05"), newID()[24:])
		if len(cfg.ID) > 100 {
			cfg.ID = cfg.ID[len(cfg.ID)-100:]
		}
	}
	c := &Client{
		pool:      pool,
		cfg:       cfg,
		q:         dbsqlc.New(),
		functions: map[string]*Function{},
		leases:    newLeaseSet(),
		done:      newDoneNotifier(),
	}
	c.waker = newWaker(c)
	c.resumer = newResumer(c)
	c.steps = &stepBatcher{c: c}
	c.tracer = newTracer(cfg.TracerProvider)
	c.insertNotify = &notifyLimiter{interval: cfg.FetchCooldown}
	c.jobs = riverjob.NewInserter(cfg.Queue)

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
	c.river = rc
	c.jobs.Attach(rc)
	c.ownsRiver = true
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
func (c *Client) River() *river.Client[pgx.Tx] { return c.river }

func (c *Client) addFunction(fn *Function) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return fmt.Errorf("%w %q: create functions before Start", ErrInvalidFunction, fn.id)
	}
	if _, ok := c.functions[fn.id]; ok {
		return fmt.Errorf("%w: %q", ErrDuplicateFunction, fn.id)
	}
	c.functions[fn.id] = fn
	return nil
}

func (c *Client) removeFunction(id string) {
	c.mu.Lock()
	delete(c.functions, id)
	c.mu.Unlock()
}

func (c *Client) function(id string) *Function {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.functions[id]
}

// Start registers the client's functions in the database and starts
// executing runs in this process: River's workers, the waker that resumes
// sleeping runs on time, lease renewal, and the sweeper that takes over runs
// whose client died. It returns once they are running; stop them with Stop
// or by cancelling ctx. On a database without the library's tables it
// returns an error wrapping ErrNotMigrated.
func (c *Client) Start(ctx context.Context) error {
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return errors.New("flow: Start: client already started")
	}
	if c.river == nil {
		c.mu.Unlock()
		return errors.New("flow: Start: Config.ExternalRiver is set but no River client was attached (see AttachRiver)")
	}
	c.started = true
	fns := make([]*Function, 0, len(c.functions))
	for _, fn := range c.functions {
		fns = append(fns, fn)
	}
	c.mu.Unlock()
	slices.SortFunc(fns, func(a, b *Function) int { return cmp.Compare(a.id, b.id) })

	if err := c.checkSchema(ctx); err != nil {
		c.setStarted(false)
		return err
	}
	if err := c.register(ctx, fns); err != nil {
		c.setStarted(false)
		return err
	}
	if err := c.addCronJobs(fns); err != nil {
		c.setStarted(false)
		return err
	}
	bgCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.stop = cancel
	if c.ownsRiver {
		if err := c.river.Start(bgCtx); err != nil {
			cancel()
			c.setStarted(false)
			return fmt.Errorf("flow: Start: river: %w", err)
		}
	}
	c.goBackground(bgCtx, c.waker.run)
	c.goBackground(bgCtx, c.renewLeases)
	c.goBackground(bgCtx, c.sweepExpiredLeases)
	c.goBackground(bgCtx, c.resumer.run)
	c.goBackground(bgCtx, c.cleanRetention)
	c.goBackground(bgCtx, c.done.listen(c.pool, c.cfg.Logger))
	c.goBackground(bgCtx, c.done.notifyLoop(c.pool, c.cfg.Logger))
	go func() {
		select {
		case <-ctx.Done():
			_ = c.Stop(context.WithoutCancel(ctx))
		case <-bgCtx.Done():
		}
	}()
	return nil
}

func (c *Client) setStarted(v bool) {
	c.mu.Lock()
	c.started = v
	c.mu.Unlock()
}

func (c *Client) goBackground(ctx context.Context, f func(context.Context)) {
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		f(ctx)
	}()
}

// Stop stops fetching new work, waits for the segments executing in this
// process to reach their end (bounded by ctx), then stops the background
// services. Runs that are sleeping or waiting are unaffected: any started
// client resumes them.
func (c *Client) Stop(ctx context.Context) error {
	c.mu.Lock()
	stop := c.stop
	c.stop = nil
	c.mu.Unlock()
	if stop == nil {
		return nil
	}
	var err error
	if c.ownsRiver {
		err = c.river.Stop(ctx)
	}
	stop()
	c.bg.Wait()
	if err != nil {
		return fmt.Errorf("flow: Stop: %w", err)
	}
	return nil
}

// register records the functions and their triggers in the registry.
func (c *Client) register(ctx context.Context, fns []*Function) error {
	for _, fn := range fns {
		entry := registry.Function{ID: fn.id, Name: fn.name, Retries: fn.retries, Control: fn.control}
		for _, t := range fn.triggers {
			if t.event == "" {
				continue
			}
			name, isPrefix := t.eventPattern()
			entry.Triggers = append(entry.Triggers, registry.Trigger{Name: name, IsPrefix: isPrefix, If: t.ifExpr})
		}
		err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
			return registry.Register(ctx, tx, entry)
		})
		if err != nil {
			return fmt.Errorf("flow: register function %q: %w", fn.id, schemaError(err))
		}
	}
	return nil
}
