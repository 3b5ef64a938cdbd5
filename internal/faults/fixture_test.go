package faults

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// adminApp is the application_name of the test's own connections, which
// the connection-killing test spares.
const adminApp = "faults-admin"

// fixture is one test's database with the tables the probes write to.
type fixture struct {
	srv   *flowtest.Server
	url   string
	admin *pgxpool.Pool // the test's own queries; never given to a client
}

// newFixture creates a database on srv for the test, dropped when it ends.
func newFixture(t *testing.T, srv *flowtest.Server) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, drop, err := flowtest.NewDatabase(ctx, srv.URL)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		require.NoError(t, drop(ctx))
	})
	f := &fixture{srv: srv, url: url}
	f.admin = f.pool(t, adminApp, 4)
	_, err = f.admin.Exec(ctx, `
		CREATE TABLE fault_exec (
			run_id uuid NOT NULL,
			step text NOT NULL,
			pid int NOT NULL,
			stored boolean NOT NULL,  -- the step's result was stored already
			at timestamptz NOT NULL DEFAULT clock_timestamp()
		);
		CREATE INDEX ON fault_exec (run_id, step);
		CREATE TABLE fault_tx (run_id uuid NOT NULL)`)
	require.NoError(t, err)
	return f
}

// pool opens a pool on the test's database, closed when the test ends.
func (f *fixture) pool(t *testing.T, app string, maxConns int32) *pgxpool.Pool {
	t.Helper()
	pool, err := openPool(f.url, app, maxConns)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// openPool opens a pool on url whose connections carry application name app.
func openPool(url, app string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = maxConns
	cfg.ConnConfig.RuntimeParams["application_name"] = app
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return pgxpool.NewWithConfig(ctx, cfg)
}

// clientConfig is the configuration of the clients under test.
func clientConfig(id string, leaseTTL time.Duration, logger *slog.Logger) *flow.Config {
	return &flow.Config{
		ID:           id,
		Workers:      20,
		LeaseTTL:     leaseTTL,
		Logger:       logger,
		RetryBackoff: func(int) time.Duration { return 50 * time.Millisecond },
	}
}

// newClient returns a client on pool with the fault function defined.
func newClient(t *testing.T, pool, probes *pgxpool.Pool, cfg *flow.Config, sh shape) *flow.Client {
	t.Helper()
	c, err := flow.NewClient(pool, cfg)
	require.NoError(t, err)
	require.NoError(t, defineFunction(c, probes, sh))
	return c
}

// start starts c and stops it when the test ends.
func start(t *testing.T, c *flow.Client) {
	t.Helper()
	require.NoError(t, c.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, c.Stop(ctx))
	})
}

// logTail is a logger that keeps the last lines the clients log (warnings
// are expected while faults are injected) and shows them if the test fails.
type logTail struct {
	mu    sync.Mutex
	lines []string
	count int
}

func newLogTail(t *testing.T) (*logTail, *slog.Logger) {
	l := &logTail{}
	t.Cleanup(func() {
		if t.Failed() {
			l.mu.Lock()
			defer l.mu.Unlock()
			t.Logf("last %d of %d client log lines:\n%s", len(l.lines), l.count, strings.Join(l.lines, ""))
		}
	})
	return l, slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func (l *logTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.count++
	l.lines = append(l.lines, string(p))
	if len(l.lines) > 40 {
		l.lines = l.lines[1:]
	}
	return len(p), nil
}

// total returns how many lines were logged.
func (l *logTail) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count
}

// ms formats a duration in milliseconds for logs.
func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }
