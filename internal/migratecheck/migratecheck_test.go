package migratecheck

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os/exec"
	"testing"
	"time"

	"ariga.io/atlas/sql/migrate"
	gomigrate "github.com/golang-migrate/migrate/v4"
	_ "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	_ "github.com/golang-migrate/migrate/v4/source/file"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

func TestMain(m *testing.M) { flowtest.Main(m) }

// migrateGet runs `flow migrate-get -all -format format -dir DIR` from this
// repository's cmd/flow and returns DIR.
func migrateGet(t *testing.T, format string) string {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Built in the library's own module, with its go.mod, as a user gets it.
	cmd := exec.CommandContext(ctx, "go", "run", "./cmd/flow", "migrate-get", "-all", "-format", format, "-dir", dir)
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "flow migrate-get: %s", out)
	return dir
}

// riverDatabase returns the URL of a new, empty database with River's
// migrations applied (River's come first), and a pool on it.
func riverDatabase(t *testing.T) (string, *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	server := flowtest.DatabaseURL(t)
	pool, err := pgxpool.New(ctx, server)
	require.NoError(t, err)
	name := fmt.Sprintf("migratecheck_%d", time.Now().UnixNano())
	_, err = pool.Exec(ctx, "CREATE DATABASE "+name)
	pool.Close()
	require.NoError(t, err)
	u, err := url.Parse(server)
	require.NoError(t, err)
	u.Path = "/" + name
	dbURL := u.String()
	t.Cleanup(func() {
		p, err := pgxpool.New(context.Background(), server)
		require.NoError(t, err)
		defer p.Close()
		_, err = p.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		require.NoError(t, err)
	})
	pool, err = pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	require.NoError(t, err)
	_, err = migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	require.NoError(t, err)
	return dbURL, pool
}

// requireUpToDate checks that every flow version is recorded, flow.Migrate
// finds nothing to add, and a client starts on the database.
func requireUpToDate(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	ms, err := flow.MigrationVersions()
	require.NoError(t, err)
	var n, newest int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*), max(version) FROM flow_migration").Scan(&n, &newest))
	require.Equal(t, len(ms), n)
	require.Equal(t, ms[len(ms)-1].Version, newest)
	require.NoError(t, flow.Migrate(ctx, pool))
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM flow_migration").Scan(&n))
	require.Equal(t, len(ms), n, "flow.Migrate applied a version the tool had applied")

	c, err := flow.NewClient(pool, nil)
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx))
	require.NoError(t, c.Stop(ctx))
}

// requireNoFlowTables checks that the down migrations left no flow table
// (or index, or sequence) but the tool's own version table, named tool.
func requireNoFlowTables(t *testing.T, pool *pgxpool.Pool, tool string) {
	t.Helper()
	rows, err := pool.Query(context.Background(),
		`SELECT relname::text FROM pg_class WHERE relname LIKE 'flow\_%' AND relname NOT LIKE $1 || '%'
		AND relnamespace = 'public'::regnamespace`, tool)
	require.NoError(t, err)
	left, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Empty(t, left)
}

// goose reads the goose files with its own parser, applies them after
// River's migrations under its own version table, and rolls them all back.
func TestGoose(t *testing.T) {
	t.Parallel()
	dir := migrateGet(t, "goose")
	dbURL, pool := riverDatabase(t)
	db, err := sql.Open("pgx", dbURL)
	require.NoError(t, err)
	defer db.Close()

	// goose's table name is process-wide; this is the package's only goose
	// test.
	goose.SetTableName("flow_goose_db_version")
	require.NoError(t, goose.SetDialect("postgres"))
	require.NoError(t, goose.Up(db, dir))
	requireUpToDate(t, pool)
	require.NoError(t, goose.DownTo(db, dir, 0))
	requireNoFlowTables(t, pool, "flow_goose_db_version")
}

// golang-migrate reads the up and down files with its own source driver,
// applies them with its pgx driver under its own version table, and rolls
// them all back.
func TestGolangMigrate(t *testing.T) {
	t.Parallel()
	dir := migrateGet(t, "golang-migrate")
	dbURL, pool := riverDatabase(t)
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	u.Scheme = "pgx5"
	q := u.Query()
	q.Set("x-migrations-table", "flow_schema_migrations")
	u.RawQuery = q.Encode()

	m, err := gomigrate.New("file://"+dir, u.String())
	require.NoError(t, err)
	defer m.Close()
	require.NoError(t, m.Up())
	requireUpToDate(t, pool)
	require.NoError(t, m.Down())
	requireNoFlowTables(t, pool, "flow_schema_migrations")
}

// atlas accepts the directory's atlas.sum (migrate.Validate, which `atlas
// migrate apply` runs first), and its statement splitter cuts each file
// into statements that apply one by one, as its executor runs them.
func TestAtlas(t *testing.T) {
	t.Parallel()
	dir := migrateGet(t, "atlas")
	local, err := migrate.NewLocalDir(dir)
	require.NoError(t, err)
	require.NoError(t, migrate.Validate(local))

	_, pool := riverDatabase(t)
	files, err := local.Files()
	require.NoError(t, err)
	ms, err := flow.MigrationVersions()
	require.NoError(t, err)
	require.Len(t, files, len(ms))
	ctx := context.Background()
	for _, f := range files {
		stmts, err := f.Stmts()
		require.NoError(t, err, f.Name())
		err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			for _, s := range stmts {
				if _, err := tx.Exec(ctx, s); err != nil {
					return fmt.Errorf("%s: %w\n%s", f.Name(), err, s)
				}
			}
			return nil
		})
		require.NoError(t, err)
	}
	requireUpToDate(t, pool)

	// A changed file breaks the sum, as atlas would report.
	require.NoError(t, local.WriteFile(files[0].Name(), append(files[0].Bytes(), '\n')))
	require.ErrorIs(t, migrate.Validate(local), migrate.ErrChecksumMismatch)
}
