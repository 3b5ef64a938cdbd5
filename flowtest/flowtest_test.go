package flowtest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/flowtest"
	"github.com/riverflow/flow/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

func TestPoolIsolated(t *testing.T) {
	t.Parallel()
	ctx := t.Context()

	first := flowtest.Pool(t)
	second := flowtest.Pool(t)

	_, err := first.Exec(ctx, "CREATE TABLE only_here (id int)")
	require.NoError(t, err)
	_, err = first.Exec(ctx, "INSERT INTO only_here VALUES (1)")
	require.NoError(t, err)

	var exists bool
	err = second.QueryRow(ctx, "SELECT to_regclass('only_here') IS NOT NULL").Scan(&exists)
	require.NoError(t, err)
	require.False(t, exists, "a table made in one test database is visible in another")

	var firstDB, secondDB string
	require.NoError(t, first.QueryRow(ctx, "SELECT current_database()").Scan(&firstDB))
	require.NoError(t, second.QueryRow(ctx, "SELECT current_database()").Scan(&secondDB))
	require.NotEqual(t, firstDB, secondDB)
}

func TestPoolParallel(t *testing.T) {
	t.Parallel()

	for _, name := range []string{"a", "b", "c", "d", "e", "f"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			pool := flowtest.Pool(t)

			// Every test may use the same table name without clashing.
			_, err := pool.Exec(ctx, "CREATE TABLE shared_name (v text)")
			require.NoError(t, err)
			_, err = pool.Exec(ctx, "INSERT INTO shared_name VALUES ($1)", name)
			require.NoError(t, err)

			var values []string
			rows, err := pool.Query(ctx, "SELECT v FROM shared_name")
			require.NoError(t, err)
			values, err = pgx.CollectRows(rows, pgx.RowTo[string])
			require.NoError(t, err)
			require.Equal(t, []string{name}, values)
		})
	}
}

func TestDatabaseURL(t *testing.T) {
	t.Parallel()
	ctx := t.Context()

	dbURL := flowtest.DatabaseURL(t)
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(context.Background())

	var one int
	require.NoError(t, conn.QueryRow(ctx, "SELECT 1").Scan(&one))
	require.Equal(t, 1, one)
}

func TestDatabaseDroppedAfterTest(t *testing.T) {
	t.Parallel()
	ctx := t.Context()

	var name string
	t.Run("inner", func(t *testing.T) {
		pool := flowtest.Pool(t)
		require.NoError(t, pool.QueryRow(t.Context(), "SELECT current_database()").Scan(&name))
	})

	pool := flowtest.Pool(t)
	var exists bool
	err := pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	require.NoError(t, err)
	require.False(t, exists, "database %s still exists after its test ended", name)
}

func TestStartServerTwice(t *testing.T) {
	t.Parallel()
	ctx := t.Context()

	for range 2 {
		srv, err := flowtest.StartServer(ctx)
		require.NoError(t, err)

		dbURL, drop, err := flowtest.NewDatabase(ctx, srv.URL)
		require.NoError(t, err)

		conn, err := pgx.Connect(ctx, dbURL)
		require.NoError(t, err)
		var one int
		require.NoError(t, conn.QueryRow(ctx, "SELECT 1").Scan(&one))
		require.NoError(t, conn.Close(ctx))

		require.NoError(t, drop(ctx))
		require.NoError(t, srv.Close())
		require.NoError(t, srv.Close(), "Close twice")
	}
}

func TestServerRestart(t *testing.T) {
	t.Parallel()
	ctx := t.Context()

	srv, err := flowtest.StartServer(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	dbURL, drop, err := flowtest.NewDatabase(ctx, srv.URL)
	require.NoError(t, err)

	before, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer before.Close(context.Background())
	_, err = before.Exec(ctx, "CREATE TABLE kept (v int); INSERT INTO kept VALUES (7)")
	require.NoError(t, err)

	err = srv.Restart(ctx)
	if errors.Is(err, flowtest.ErrNotRestartable) {
		t.Skip("the server in use cannot be restarted:", err)
	}
	require.NoError(t, err)

	// The restart cut the old session off; the same URL reaches the same data.
	_, err = before.Exec(ctx, "SELECT 1")
	require.Error(t, err, "a session survived the restart")
	after, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	var v int
	require.NoError(t, after.QueryRow(ctx, "SELECT v FROM kept").Scan(&v))
	require.Equal(t, 7, v)
	require.NoError(t, after.Close(ctx))

	require.NoError(t, srv.Restart(ctx), "restart twice")
	require.NoError(t, drop(ctx), "drop after restarts")
}

func TestServerRestartNotRestartable(t *testing.T) {
	t.Parallel()
	srv := &flowtest.Server{URL: "postgres://elsewhere/db"}
	require.ErrorIs(t, srv.Restart(t.Context()), flowtest.ErrNotRestartable)
}
