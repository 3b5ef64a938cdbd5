package flow_test

import (
	"context"
	"testing"

	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
)

// A client on a database that was never migrated says to run Migrate,
// instead of Postgres's `relation "flow_function" does not exist`.
func TestNotMigratedDatabaseSaysRunMigrate(t *testing.T) {
	t.Parallel()
	pool := migrateOpen(t, migrateEmptyDatabase(t))
	ctx := testCtx(t)
	c := newClient(t, pool, nil)
	_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "unmigrated"}, flow.EventTrigger("migrate/none"),
		func(ctx context.Context, in flow.Input[any]) (any, error) { return nil, nil })
	require.NoError(t, err)

	err = c.Start(ctx)
	require.ErrorIs(t, err, flow.ErrNotMigrated)
	require.Contains(t, err.Error(), "run flow.Migrate")
	require.Contains(t, err.Error(), "flow_function")

	_, err = c.Send(ctx, flow.Event{Name: "migrate/none"})
	require.ErrorIs(t, err, flow.ErrNotMigrated)
	require.Contains(t, err.Error(), "run flow.Migrate")

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = c.SendTx(ctx, tx, flow.Event{Name: "migrate/none"})
	require.ErrorIs(t, err, flow.ErrNotMigrated)
	require.NoError(t, tx.Rollback(ctx))

	_, err = c.GetRun(ctx, "00000000-0000-7000-8000-000000000000")
	require.ErrorIs(t, err, flow.ErrNotMigrated)
	_, err = c.ListRuns(ctx, flow.RunFilter{})
	require.ErrorIs(t, err, flow.ErrNotMigrated)

	// Once migrated, the same client starts.
	require.NoError(t, flow.Migrate(ctx, pool))
	start(t, c)
}

// A database migrated by an older version of the library (River's schema
// and only the library's first migration) is not migrated either.
func TestOlderSchemaSaysRunMigrate(t *testing.T) {
	t.Parallel()
	pool := migrateOpen(t, migrateEmptyDatabase(t))
	ctx := testCtx(t)
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	require.NoError(t, err)
	_, err = migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	require.NoError(t, err)
	ms, err := flow.Migrations()
	require.NoError(t, err)
	require.Greater(t, len(ms), 1, "this test needs at least two migrations")
	_, err = pool.Exec(ctx, ms[0])
	require.NoError(t, err)

	c := newClient(t, pool, nil)
	err = c.Start(ctx)
	require.ErrorIs(t, err, flow.ErrNotMigrated)
	require.Contains(t, err.Error(), "missing tables")
}
