package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"go.opentelemetry.io/otel/trace"

	"github.com/riverflow/flow/internal/realtime"
	"github.com/riverflow/flow/internal/riverjob"
	"github.com/riverflow/flow/internal/store"
)

// Engine executes the runs of one client: its functions, River's workers for
// them, and the background services that keep runs moving. The root
// package's flow.Client is its façade.
type Engine struct {
	pool  *pgxpool.Pool
	cfg   *Config
	store *store.Store
	river *river.Client[pgx.Tx]
	jobs  *riverjob.Inserter // inserts and cancels run jobs on river

	mu        sync.Mutex
	functions map[string]*Function
	started   bool
	stop      context.CancelFunc
	services  []*loop // the background services of a started engine

	ownsRiver bool

	tracer       trace.Tracer
	metrics      recorder // nil: no Config.MeterProvider
	stopGauges   func()   // unregisters the backlog gauges of a started engine
	insertNotify *notifyLimiter
	leases       *leaseSet
	waker        *waker
	resumer      *resumer
	done         *doneNotifier
	realtime     *realtime.Hub
	mocks        stepMocks // set by tests only (step_mock.go)
}

// Deps is what an engine is built from.
type Deps struct {
	Pool   *pgxpool.Pool
	Store  *store.Store
	Config Config
}

// New returns an engine of the resolved configuration d.Config. Its run
// jobs go through River once a River client is attached (AttachRiver).
func New(d Deps) *Engine {
	cfg := d.Config
	c := &Engine{
		pool:      d.Pool,
		cfg:       &cfg,
		store:     d.Store,
		functions: map[string]*Function{},
		leases:    newLeaseSet(),
		done:      newDoneNotifier(d.Store),
		realtime:  realtime.NewHub(d.Pool, d.Store, cfg.Logger, 0),
	}
	c.waker = newWaker(c)
	c.resumer = newResumer(c)
	c.tracer = newTracer(cfg.TracerProvider)
	rec, err := newRecorder(cfg.MeterProvider, func(err error) {
		cfg.Logger.Warn("flow: metrics", "error", err)
	})
	if err != nil {
		cfg.Logger.Warn("flow: metrics", "error", err)
	}
	c.metrics = rec
	c.insertNotify = &notifyLimiter{interval: cfg.FetchCooldown}
	c.jobs = riverjob.NewInserter(cfg.Queue)
	return c
}

// AddRiverWorkers adds the engine's River workers (the job kinds that
// execute runs and fire cron triggers) to workers.
func (c *Engine) AddRiverWorkers(workers *river.Workers) error {
	if err := river.AddWorkerSafely(workers, &runWorker{c: c}); err != nil {
		return fmt.Errorf("flow: add River workers: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &cronWorker{c: c}); err != nil {
		return fmt.Errorf("flow: add River workers: %w", err)
	}
	return nil
}

// UseOwnRiver gives the engine the River client its façade created: Start
// starts it and Stop stops it.
func (c *Engine) UseOwnRiver(rc *river.Client[pgx.Tx]) {
	c.river = rc
	c.jobs.Attach(rc)
	c.ownsRiver = true
}

// AttachRiver gives an engine of Config.ExternalRiver the app's River
// client, which the app starts and stops. Call it before Start.
func (c *Engine) AttachRiver(rc *river.Client[pgx.Tx]) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case rc == nil:
		return errors.New("flow: AttachRiver: nil River client")
	case !c.cfg.ExternalRiver:
		return errors.New("flow: AttachRiver: the client runs its own River client (set Config.ExternalRiver)")
	case c.started:
		return errors.New("flow: AttachRiver: client already started")
	}
	c.river = rc
	c.jobs.Attach(rc)
	return nil
}

// River returns the River client the engine runs on (nil until attached).
func (c *Engine) River() *river.Client[pgx.Tx] { return c.river }

// Start registers the functions in the database (after checkSchema passes)
// and starts executing runs in this process: River (when the engine owns
// it) and the background services. It returns once they are running; they
// stop with Stop or when ctx is cancelled.
func (c *Engine) Start(ctx context.Context, checkSchema func(context.Context) error) error {
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
	c.mu.Unlock()
	fns := c.sortedFunctions()

	if err := checkSchema(ctx); err != nil {
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
	services := []*loop{
		newLoop(c.waker.run),
		newLoop(c.renewLeases),
		newLoop(c.sweepExpiredLeases),
		newLoop(c.resumer.run),
		newLoop(c.cleanRetention),
		newLoop(c.heartbeat),
		newLoop(c.done.listen(c.pool, c.cfg.Logger)),
		newLoop(c.done.notifyLoop(c.pool, c.cfg.Logger)),
	}
	c.mu.Lock()
	c.stop, c.services = cancel, services
	c.mu.Unlock()
	if c.ownsRiver {
		if err := c.river.Start(bgCtx); err != nil {
			cancel()
			c.setStarted(false)
			return fmt.Errorf("flow: Start: river: %w", err)
		}
	}
	for _, s := range services {
		_ = s.Start(bgCtx) // a new loop: it cannot be started already
	}
	if c.metrics != nil {
		stopGauges, err := c.metrics.observe(c.store)
		if err != nil {
			c.cfg.Logger.WarnContext(ctx, "flow: metrics", "error", err)
		} else {
			c.mu.Lock()
			c.stopGauges = stopGauges
			c.mu.Unlock()
		}
	}
	go func() {
		select {
		case <-ctx.Done():
			_ = c.Stop(context.WithoutCancel(ctx))
		case <-bgCtx.Done():
		}
	}()
	return nil
}

func (c *Engine) setStarted(v bool) {
	c.mu.Lock()
	c.started = v
	c.mu.Unlock()
}

// Stop stops fetching new work (when the engine owns River), waits for the
// segments executing in this process to reach their end (bounded by ctx),
// then cancels every background service and waits for all of them.
func (c *Engine) Stop(ctx context.Context) error {
	c.mu.Lock()
	stop, services, stopGauges := c.stop, c.services, c.stopGauges
	c.stop, c.services, c.stopGauges = nil, nil, nil
	c.mu.Unlock()
	if stop == nil {
		return nil
	}
	if stopGauges != nil {
		stopGauges()
	}
	var err error
	if c.ownsRiver {
		err = c.river.Stop(ctx)
	}
	stop()
	stopAll(services)
	if err != nil {
		return fmt.Errorf("flow: Stop: %w", err)
	}
	return nil
}
