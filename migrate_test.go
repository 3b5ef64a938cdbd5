package flow_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// migrateEmptyDatabase creates an empty database (no River, no flow schema)
// on the server of a flowtest database and returns a pool configuration for
// it. The database is dropped when the test ends.
func migrateEmptyDatabase(t *testing.T) *pgxpool.Config {
	t.Helper()
	ctx := testCtx(t)
	serverCfg, err := pgx.ParseConfig(flowtest.DatabaseURL(t))
	require.NoError(t, err)
	conn, err := pgx.ConnectConfig(ctx, serverCfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })

	var suffix string
	require.NoError(t, conn.QueryRow(ctx, "SELECT replace(gen_random_uuid()::text, '-', '')").Scan(&suffix))
	name := "flowtest_migrate_" + suffix
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		require.NoError(t, err)
	})

	cfg, err := pgxpool.ParseConfig(serverCfg.ConnString())
	require.NoError(t, err)
	cfg.ConnConfig.Database = name
	return cfg
}

// migrateOpen opens a pool with cfg, closed when the test ends.
func migrateOpen(t *testing.T, cfg *pgxpool.Config) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.NewWithConfig(testCtx(t), cfg.Copy())
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// migrateSchema describes the schema: columns, indexes and functions of the
// current schema, and the applied migrations of River and flow.
func migrateSchema(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	ctx := testCtx(t)
	var out []string
	for _, q := range []string{
		`SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || coalesce(column_default, '')
		 FROM information_schema.columns WHERE table_schema = current_schema()`,
		`SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = current_schema()`,
		`SELECT 'function ' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = current_schema()`,
		`SELECT 'river_migration ' || line || ' ' || version::text FROM river_migration`,
		`SELECT 'flow_migration ' || version::text || ' ' || name || ' ' || applied_at::text FROM flow_migration`,
	} {
		rows, err := pool.Query(ctx, q)
		require.NoError(t, err)
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		out = append(out, lines...)
	}
	sort.Strings(out)
	return out
}

// migrateFiles returns the embedded migrations' files in version order.
func migrateFiles(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob("sql/*.up.sql")
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	version := func(p string) int {
		v, err := strconv.Atoi(strings.SplitN(filepath.Base(p), "_", 2)[0])
		require.NoError(t, err)
		return v
	}
	sort.Slice(paths, func(i, j int) bool { return version(paths[i]) < version(paths[j]) })
	out := make([]string, len(paths))
	for i, p := range paths {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		out[i] = string(b)
	}
	return out
}

// migrateCheckUsable checks that a migrated database holds each migration
// once and works for a client.
func migrateCheckUsable(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := testCtx(t)
	ms, err := flow.Migrations()
	require.NoError(t, err)
	var versions, distinct int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*), count(DISTINCT version) FROM flow_migration").Scan(&versions, &distinct))
	require.Equal(t, len(ms), versions)
	require.Equal(t, len(ms), distinct)
	var riverVersions int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM river_migration").Scan(&riverVersions))
	require.Positive(t, riverVersions)

	c := newClient(t, pool, nil)
	ids, err := c.Send(ctx, flow.Event{Name: "migrate/check"})
	require.NoError(t, err)
	require.Len(t, ids, 1)
}

func TestMigrateAgainIsNoOp(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	ctx := testCtx(t)
	c := newClient(t, pool, nil)
	ids, err := c.Send(ctx, flow.Event{Name: "migrate/kept", Data: map[string]any{"k": 1}})
	require.NoError(t, err)

	before := migrateSchema(t, pool)
	require.NoError(t, flow.Migrate(ctx, pool))
	require.NoError(t, flow.Migrate(ctx, pool))
	require.Equal(t, before, migrateSchema(t, pool), "migrating again changes nothing")

	var data string
	require.NoError(t, pool.QueryRow(ctx, "SELECT data::text FROM flow_event WHERE id = $1", ids[0]).Scan(&data))
	require.JSONEq(t, `{"k":1}`, data, "data survives")
	migrateCheckUsable(t, pool)
}

// TestMigrateConcurrentProcesses migrates an empty database from 4
// goroutines at once, each with its own pool, as 4 processes starting
// together would.
func TestMigrateConcurrentProcesses(t *testing.T) {
	t.Parallel()
	cfg := migrateEmptyDatabase(t)
	pools := make([]*pgxpool.Pool, 4)
	for i := range pools {
		pools[i] = migrateOpen(t, cfg)
	}
	ctx, cancel := context.WithTimeout(testCtx(t), 30*time.Second)
	defer cancel()
	migrateConcurrently(t, ctx, pools)
	migrateCheckUsable(t, pools[0])
}

// TestMigrateConcurrentGoroutines migrates an empty database from 4
// goroutines sharing one pool of 4 connections (pgxpool's default size on a
// small machine).
func TestMigrateConcurrentGoroutines(t *testing.T) {
	t.Parallel()
	cfg := migrateEmptyDatabase(t)
	cfg.MaxConns = 4
	pool := migrateOpen(t, cfg)
	ctx, cancel := context.WithTimeout(testCtx(t), 10*time.Second)
	defer cancel()
	migrateConcurrently(t, ctx, []*pgxpool.Pool{pool, pool, pool, pool})
	migrateCheckUsable(t, pool)
}

// TestMigrateOneConnectionPool migrates an empty database through a pool of
// a single connection.
func TestMigrateOneConnectionPool(t *testing.T) {
	t.Parallel()
	cfg := migrateEmptyDatabase(t)
	cfg.MaxConns = 1
	pool := migrateOpen(t, cfg)
	ctx, cancel := context.WithTimeout(testCtx(t), 10*time.Second)
	defer cancel()
	require.NoError(t, flow.Migrate(ctx, pool))
	require.NoError(t, flow.Migrate(ctx, pool), "again")
	cfg.MaxConns = 10
	migrateCheckUsable(t, migrateOpen(t, cfg))
}

func migrateConcurrently(t *testing.T, ctx context.Context, pools []*pgxpool.Pool) {
	t.Helper()
	errs := make([]error, len(pools))
	var wg sync.WaitGroup
	begin := make(chan struct{})
	for i, pool := range pools {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-begin
			errs[i] = flow.Migrate(ctx, pool)
		}()
	}
	close(begin)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, fmt.Sprintf("Migrate call %d", i))
	}
}

func TestMigrateMigrationsMatchFiles(t *testing.T) {
	t.Parallel()
	ms, err := flow.Migrations()
	require.NoError(t, err)
	files := migrateFiles(t)
	require.Len(t, ms, len(files))
	for i, m := range ms {
		// The file, then the statement that records its version.
		require.True(t, strings.HasPrefix(m, strings.TrimRight(files[i], "\n")), "migration %d is not its file", i+1)
		require.Contains(t, m[len(files[i])-1:], fmt.Sprintf("INSERT INTO flow_migration (version, name) VALUES (%d, ", i+1))
	}
	require.Contains(t, ms[0], "CREATE TABLE IF NOT EXISTS flow_run (")
}

// TestMigrateMigrationsApplyAfterRiver checks that the SQL Migrations returns,
// run by an application's own tool after River's migrations, gives a
// database that a client works on.
func TestMigrateMigrationsApplyAfterRiver(t *testing.T) {
	t.Parallel()
	cfg := migrateEmptyDatabase(t)
	pool := migrateOpen(t, cfg)
	ctx := testCtx(t)

	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	require.NoError(t, err)
	_, err = migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	require.NoError(t, err)
	ms, err := flow.Migrations()
	require.NoError(t, err)
	for _, m := range ms {
		_, err := pool.Exec(ctx, m)
		require.NoError(t, err)
	}

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "manual"}, flow.EventTrigger("migrate/manual"),
			func(ctx context.Context, in flow.Input[any]) (any, error) { return "ran", nil })
		require.NoError(t, err)
	})
	run := awaitOnly(t, c, flow.Event{Name: "migrate/manual"})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
}
