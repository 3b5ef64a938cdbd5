package engine_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/flowtest"
	"github.com/riverflow/flow/internal/engine"
	"github.com/riverflow/flow/internal/store"
)

// testBundle is what a test of an engine room works with: a database of
// its own, migrated, and a context bounded for the test.
type testBundle struct {
	ctx  context.Context
	pool *pgxpool.Pool
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return &testBundle{ctx: ctx, pool: flowtest.Pool(t)}
}

// testConfig is the engine's configuration for tests: flow.Config's
// defaults, a quiet logger, and the client ID id.
func testConfig(id string) engine.Config {
	return engine.Config{
		Queue:              "flow",
		Workers:            10,
		Logger:             slog.New(slog.DiscardHandler),
		ID:                 id,
		FetchCooldown:      2 * time.Millisecond,
		FetchPollInterval:  50 * time.Millisecond,
		LeaseTTL:           30 * time.Second,
		WakePollInterval:   time.Second,
		RetryBackoff:       func(int) time.Duration { return 10 * time.Millisecond },
		MaxStepsPerRun:     1000,
		MaxStepOutputBytes: 4 << 20,
		MaxEventBytes:      512 << 10,
		MaxExpressionCost:  engine.DefaultMaxExpressionCost,
		RetentionPeriod:    7 * 24 * time.Hour,
	}
}

// newEngine returns an engine on the bundle's database with the functions
// fns, as flow.NewClient builds it. With work, it has a River client of its
// own that works the run jobs once Start starts it; without, an app's River
// client that nobody starts is attached (Config.ExternalRiver): Start runs
// only the engine's own services, and no job is ever worked, so the rows
// the test looks at change only by those services.
func (b *testBundle) newEngine(t *testing.T, cfg engine.Config, work bool, fns ...engine.FunctionSpec) *engine.Engine {
	t.Helper()
	cfg.ExternalRiver = !work
	e := engine.New(engine.Deps{Pool: b.pool, Store: store.New(b.pool, cfg.LeaseTTL), Config: cfg})
	for _, fn := range fns {
		_, err := e.AddFunction(fn)
		require.NoError(t, err)
	}
	workers := river.NewWorkers()
	require.NoError(t, e.AddRiverWorkers(workers))
	rcfg := &river.Config{ID: cfg.ID, Logger: cfg.Logger, Workers: workers}
	if work {
		rcfg.Queues = map[string]river.QueueConfig{cfg.Queue: {MaxWorkers: cfg.Workers}}
		rcfg.FetchCooldown = cfg.FetchCooldown
		rcfg.FetchPollInterval = cfg.FetchPollInterval
		rcfg.JobTimeout = -1
	}
	rc, err := river.NewClient(riverpgxv5.New(b.pool), rcfg)
	require.NoError(t, err)
	if work {
		e.UseOwnRiver(rc)
	} else {
		require.NoError(t, e.AttachRiver(rc))
	}
	return e
}

// start starts e (its schema check passes: the database is migrated) and
// stops it when the test ends.
func (b *testBundle) start(t *testing.T, e *engine.Engine) {
	t.Helper()
	require.NoError(t, e.Start(b.ctx, func(context.Context) error { return nil }))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, e.Stop(ctx))
	})
}

// send sends one event named name with data through e (nil: an engine
// of its own, not started), committed, and returns its ID.
func (b *testBundle) send(t *testing.T, e *engine.Engine, name string, data any) string {
	t.Helper()
	if e == nil {
		e = b.newEngine(t, testConfig("sender"), false)
	}
	var id string
	err := pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
		ids, err := sendTx(b.ctx, e, tx, name, data)
		if err == nil {
			id = ids[0]
		}
		return err
	})
	require.NoError(t, err)
	return id
}

// sendTx sends one event named name with data in tx.
func sendTx(ctx context.Context, e *engine.Engine, tx pgx.Tx, name string, data any) ([]string, error) {
	body, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	return e.SendTx(ctx, tx, true, []engine.PreparedEvent{{Name: name, Data: body, TS: time.Now()}})
}

// insertRun inserts a bare run of function fnID, as another process
// would have left it, and returns its ID; set (SQL after SET, may be
// empty) then gives it the state the test needs, with args as $2...
func (b *testBundle) insertRun(t *testing.T, fnID, set string, args ...any) string {
	t.Helper()
	var id string
	require.NoError(t, b.pool.QueryRow(b.ctx,
		`INSERT INTO flow_run (id, function_id, event_id) VALUES (flow_uuid_v7(), $1, flow_uuid_v7()) RETURNING id::text`,
		fnID).Scan(&id))
	if set != "" {
		_, err := b.pool.Exec(b.ctx, `UPDATE flow_run SET `+set+` WHERE id = $1`, append([]any{id}, args...)...)
		require.NoError(t, err)
	}
	return id
}

// insertJob inserts the run job of run runID at gen as flow's SQL does,
// scheduled at at (available if at has passed), and returns its ID.
func (b *testBundle) insertJob(t *testing.T, runID string, gen int32, fnID string, at time.Time) int64 {
	t.Helper()
	var id int64
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		WITH n AS (SELECT flow_job_next_id() AS id)
		SELECT n.id FROM n, flow_job_insert(n.id, flow_job_args($1, $2, $3, false), 'flow', $4, $4 <= now())`,
		runID, gen, fnID, at).Scan(&id))
	return id
}

// runRow is what a room test reads of a run.
type runRow struct {
	Status         string
	Gen            int32
	JobID          *int64
	WakeAt         *time.Time
	LeaseOwner     *string
	LeaseExpiresAt *time.Time
	UpdatedAt      time.Time
}

func (b *testBundle) run(t *testing.T, id string) runRow {
	t.Helper()
	var r runRow
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		SELECT status, gen, job_id, wake_at, lease_owner, lease_expires_at, updated_at
		FROM flow_run WHERE id = $1`, id).Scan(
		&r.Status, &r.Gen, &r.JobID, &r.WakeAt, &r.LeaseOwner, &r.LeaseExpiresAt, &r.UpdatedAt))
	return r
}

// jobState reads the state of River job id.
func (b *testBundle) jobState(t *testing.T, id int64) string {
	t.Helper()
	var state string
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT state::text FROM river_job WHERE id = $1`, id).Scan(&state))
	return state
}

// runOfEvent returns the ID of the one run event eventID started.
func (b *testBundle) runOfEvent(t *testing.T, eventID string) string {
	t.Helper()
	var id string
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT id::text FROM flow_run WHERE event_id = $1`, eventID).Scan(&id))
	return id
}

// eventually polls cond every 10 ms until it holds, failing the test with
// msg if it does not within d.
func eventually(t *testing.T, d time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", d, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
