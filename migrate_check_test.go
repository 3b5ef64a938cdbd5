package flow_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
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

// A database one migration behind (recorded as such in flow_migration, as
// Migrate and the files of MigrationVersions record it) fails Start with
// both versions, and Send fails the same way on the statement Postgres
// refuses, without a schema query before it.
func TestSchemaBehindSaysVersions(t *testing.T) {
	t.Parallel()
	pool := migrateOpen(t, migrateEmptyDatabase(t))
	ctx := testCtx(t)
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	require.NoError(t, err)
	_, err = migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	require.NoError(t, err)
	ms, err := flow.MigrationVersions()
	require.NoError(t, err)
	need := ms[len(ms)-1].Version
	for _, m := range ms[:len(ms)-1] {
		_, err = pool.Exec(ctx, m.Up)
		require.NoError(t, err)
	}

	c := newClient(t, pool, nil)
	err = c.Start(ctx)
	require.ErrorIs(t, err, flow.ErrNotMigrated)
	require.Contains(t, err.Error(), fmt.Sprintf("run flow.Migrate (schema version %d, need %d)", need-1, need))

	// Applying the last file (as a tool would) brings it up to date.
	_, err = pool.Exec(ctx, ms[len(ms)-1].Up)
	require.NoError(t, err)
	start(t, c)
}

// Send on a database without the library's tables says the versions too:
// 0, as no version is recorded.
func TestSendOnEmptyDatabaseSaysVersions(t *testing.T) {
	t.Parallel()
	pool := migrateOpen(t, migrateEmptyDatabase(t))
	ctx := testCtx(t)
	ms, err := flow.MigrationVersions()
	require.NoError(t, err)
	c := newClient(t, pool, nil)
	want := fmt.Sprintf("run flow.Migrate (schema version 0, need %d)", ms[len(ms)-1].Version)

	_, err = c.Send(ctx, flow.Event{Name: "migrate/none"})
	require.ErrorIs(t, err, flow.ErrNotMigrated)
	require.Contains(t, err.Error(), want)
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr, "the database's error stays in the chain")

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = c.SendTx(ctx, tx, flow.Event{Name: "migrate/none"})
	require.ErrorIs(t, err, flow.ErrNotMigrated)
	require.Contains(t, err.Error(), want)
	require.NoError(t, tx.Rollback(ctx))

	err = c.Start(ctx)
	require.ErrorIs(t, err, flow.ErrNotMigrated)
	require.Contains(t, err.Error(), want)
}

// Migrations and MigrationVersions give the same up SQL, and each
// migration's up is followed by its down in a round trip: up, down, up
// again on the same database all succeed, and the final schema is complete.
func TestMigrationVersionsRoundTrip(t *testing.T) {
	t.Parallel()
	pool := migrateOpen(t, migrateEmptyDatabase(t))
	ctx := testCtx(t)
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	require.NoError(t, err)
	_, err = migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	require.NoError(t, err)
	ups, err := flow.Migrations()
	require.NoError(t, err)
	ms, err := flow.MigrationVersions()
	require.NoError(t, err)
	require.Len(t, ups, len(ms))
	for i, m := range ms {
		require.Equal(t, i+1, m.Version, "versions have no gaps")
		require.Equal(t, ups[i], m.Up)
		require.NotEmpty(t, m.Name)
		_, err = pool.Exec(ctx, m.Up)
		require.NoError(t, err, "up %d", m.Version)
	}
	for i := len(ms) - 1; i >= 0; i-- {
		_, err = pool.Exec(ctx, ms[i].Down)
		require.NoError(t, err, "down %d", ms[i].Version)
	}
	for _, m := range ms {
		_, err = pool.Exec(ctx, m.Up)
		require.NoError(t, err, "up %d again", m.Version)
	}
	start(t, newClient(t, pool, nil))
}
