package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// migrate-get prints as `river migrate-get` does: each migration under a
// "-- flow migration NNN name [direction]" line, several separated by a
// blank line, -all -down newest first.
func TestCLIMigrateGetPrintsLikeRiver(t *testing.T) {
	t.Parallel()
	ms, err := flow.MigrationVersions()
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(ms), 3)

	out := cliOK(t, "", "migrate-get", "-version", "2", "-up")
	require.Equal(t, "-- flow migration 002 "+ms[1].Name+" [up]\n"+strings.TrimSpace(ms[1].Up)+"\n", out)
	out = cliOK(t, "", "migrate-get", "-version", "2", "-down")
	require.Equal(t, "-- flow migration 002 "+ms[1].Name+" [down]\n"+strings.TrimSpace(ms[1].Down)+"\n", out)

	out = cliOK(t, "", "migrate-get", "-version", "1,3", "-up")
	require.Equal(t, "-- flow migration 001 "+ms[0].Name+" [up]\n"+strings.TrimSpace(ms[0].Up)+"\n\n"+
		"-- flow migration 003 "+ms[2].Name+" [up]\n"+strings.TrimSpace(ms[2].Up)+"\n", out)
	require.Equal(t, out, cliOK(t, "", "migrate-get", "-version", "1", "-version", "3", "-up"))

	headers := func(out string) (vs []int) {
		for line := range strings.Lines(out) {
			if m := regexp.MustCompile(`^-- flow migration (\d+) `).FindStringSubmatch(line); m != nil {
				v, _ := strconv.Atoi(m[1])
				vs = append(vs, v)
			}
		}
		return vs
	}
	var all []int
	for _, m := range ms {
		all = append(all, m.Version)
	}
	require.Equal(t, all, headers(cliOK(t, "", "migrate-get", "-all", "-up")))
	reversed := slices.Clone(all)
	slices.Reverse(reversed)
	require.Equal(t, reversed, headers(cliOK(t, "", "migrate-get", "-all", "-down")))
	require.Equal(t, all[1:], headers(cliOK(t, "", "migrate-get", "-all", "-exclude-version", "1", "-up")))

	for _, args := range [][]string{
		{"migrate-get", "-up"},
		{"migrate-get", "-all", "-version", "1", "-up"},
		{"migrate-get", "-all"},
		{"migrate-get", "-all", "-up", "-down"},
		{"migrate-get", "-version", "x", "-up"},
		{"migrate-get", "-all", "-format", "goose"},
		{"migrate-get", "-all", "-format", "flyway", "-dir", t.TempDir()},
		{"migrate-get", "-all", "-up", "-format", "goose", "-dir", t.TempDir()},
	} {
		res := cliRun(t, "", args...)
		require.Equal(t, exitUsage, res.code, "flow %v: %s", args, res.stderr)
	}
	res := cliRun(t, "", "migrate-get", "-version", "999", "-up")
	require.Equal(t, exitFailure, res.code)
	require.Contains(t, res.stderr, "no migration version 999")
}

// golang-migrate's file names, from its source/parse.go.
var golangMigrateName = regexp.MustCompile(`^([0-9]+)_(.*)\.(down|up)\.(.*)$`)

// The golang-migrate files are named as golang-migrate parses them, one up
// and one down per version; run whole, as its Postgres driver runs a file,
// the ups after River's migrations give a schema a client starts on and
// flow.Migrate has nothing to add to, and the downs, newest first, remove
// every flow table and function and leave River's.
func TestCLIMigrateGetGolangMigrate(t *testing.T) {
	t.Parallel()
	ms, err := flow.MigrationVersions()
	require.NoError(t, err)
	dir := t.TempDir()
	out := cliOK(t, "", "migrate-get", "-all", "-format", "golang-migrate", "-dir", dir)
	require.Len(t, strings.Split(strings.TrimSpace(out), "\n"), 2*len(ms))

	ups, downs := map[int]string{}, map[int]string{}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		m := golangMigrateName.FindStringSubmatch(e.Name())
		require.NotNil(t, m, "golang-migrate would not read %s", e.Name())
		v, err := strconv.ParseUint(m[1], 10, 64)
		require.NoError(t, err)
		body, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		if m[3] == "up" {
			ups[int(v)] = string(body)
		} else {
			downs[int(v)] = string(body)
		}
	}
	require.Len(t, ups, len(ms))
	require.Len(t, downs, len(ms))

	dbURL, pool := riverMigratedDatabase(t)
	ctx := cliCtx(t)
	for _, m := range ms {
		_, err := pool.Exec(ctx, ups[m.Version])
		require.NoError(t, err, "up %d", m.Version)
	}
	requireMigratedByTool(t, dbURL, pool, ms)
	for i := len(ms) - 1; i >= 0; i-- {
		_, err := pool.Exec(ctx, downs[ms[i].Version])
		require.NoError(t, err, "down %d", ms[i].Version)
	}
	requireNoFlowSchema(t, pool)
}

// goose's rules, from its migration parser: the version is the number before
// the first "_" of a .sql file's name; "-- +goose Up" and "-- +goose Down"
// start the sections; a StatementBegin/StatementEnd block is one statement.
var gooseAnnotation = regexp.MustCompile(`^-- \+goose (Up|Down|StatementBegin|StatementEnd)\s*$`)

// gooseStatements splits a goose file into its up and down statements as
// goose does for blocks: lines between StatementBegin and StatementEnd are
// one statement, and no SQL may stand outside a block here (goose would split
// it at semicolons, which would break the PL/pgSQL bodies).
func gooseStatements(t *testing.T, body string) (up, down []string) {
	t.Helper()
	var section string
	var block *strings.Builder
	for line := range strings.Lines(body) {
		if m := gooseAnnotation.FindStringSubmatch(strings.TrimRight(line, "\n")); m != nil {
			switch m[1] {
			case "Up", "Down":
				require.Nil(t, block, "section starts inside a block")
				section = m[1]
			case "StatementBegin":
				require.NotEmpty(t, section, "block before -- +goose Up")
				block = &strings.Builder{}
			case "StatementEnd":
				require.NotNil(t, block, "StatementEnd without StatementBegin")
				if section == "Up" {
					up = append(up, block.String())
				} else {
					down = append(down, block.String())
				}
				block = nil
			}
			continue
		}
		if block != nil {
			block.WriteString(line)
			continue
		}
		trimmed := strings.TrimSpace(line)
		require.True(t, trimmed == "" || strings.HasPrefix(trimmed, "--"), "SQL outside a StatementBegin block: %q", line)
	}
	require.Nil(t, block, "unterminated StatementBegin")
	return up, down
}

// The goose files are named and marked as goose reads them; each section run
// as goose runs it (its blocks in one transaction) migrates up to a schema a
// client starts on, and down, newest first, back to River's alone.
func TestCLIMigrateGetGoose(t *testing.T) {
	t.Parallel()
	ms, err := flow.MigrationVersions()
	require.NoError(t, err)
	dir := t.TempDir()
	cliOK(t, "", "migrate-get", "-all", "-format", "goose", "-dir", dir)

	ups, downs := map[int][]string{}, map[int][]string{}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, len(ms))
	for _, e := range entries {
		require.Equal(t, ".sql", filepath.Ext(e.Name()))
		num, _, ok := strings.Cut(e.Name(), "_")
		require.True(t, ok)
		v, err := strconv.ParseInt(num, 10, 64)
		require.NoError(t, err, "goose would not read a version from %s", e.Name())
		body, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		ups[int(v)], downs[int(v)] = gooseStatements(t, string(body))
		require.NotEmpty(t, ups[int(v)])
		require.NotEmpty(t, downs[int(v)])
	}

	dbURL, pool := riverMigratedDatabase(t)
	ctx := cliCtx(t)
	runInTx := func(stmts []string) error {
		return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			for _, s := range stmts {
				if _, err := tx.Exec(ctx, s); err != nil {
					return err
				}
			}
			return nil
		})
	}
	for _, m := range ms {
		require.NoError(t, runInTx(ups[m.Version]), "up %d", m.Version)
	}
	requireMigratedByTool(t, dbURL, pool, ms)
	for i := len(ms) - 1; i >= 0; i-- {
		require.NoError(t, runInTx(downs[ms[i].Version]), "down %d", ms[i].Version)
	}
	requireNoFlowSchema(t, pool)
}

// The atlas directory has one up file per version, named VERSION_NAME.sql,
// and an atlas.sum that atlas accepts: each line's hash is the running
// SHA-256 of the names and bytes of the files so far, and the first line
// the SHA-256 of the names and hashes (atlas's migrate.HashFile). A file
// of the app's own in the directory is summed too.
func TestCLIMigrateGetAtlas(t *testing.T) {
	t.Parallel()
	ms, err := flow.MigrationVersions()
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "000_app.sql"), []byte("CREATE TABLE app (id int);\n"), 0o644))
	cliOK(t, "", "migrate-get", "-all", "-format", "atlas", "-dir", dir)

	names, err := filepath.Glob(filepath.Join(dir, "*.sql"))
	require.NoError(t, err)
	require.Len(t, names, len(ms)+1)
	for i, m := range ms {
		body, err := os.ReadFile(names[i+1])
		require.NoError(t, err)
		require.Contains(t, string(body), strings.TrimSpace(m.Up))
		require.NotContains(t, string(body), strings.TrimSpace(m.Down))
	}

	sum, err := os.ReadFile(filepath.Join(dir, "atlas.sum"))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(sum), "\n"), "\n")
	require.Len(t, lines, len(names)+1)
	running, total := sha256.New(), sha256.New()
	for i, path := range names {
		body, err := os.ReadFile(path)
		require.NoError(t, err)
		name := filepath.Base(path)
		running.Write([]byte(name))
		running.Write(body)
		h := base64.StdEncoding.EncodeToString(running.Sum(nil))
		require.Equal(t, name+" h1:"+h, lines[i+1])
		total.Write([]byte(name))
		total.Write([]byte(h))
	}
	require.Equal(t, "h1:"+base64.StdEncoding.EncodeToString(total.Sum(nil)), lines[0])

	// The files apply in name order after River's migrations.
	dbURL, pool := riverMigratedDatabase(t)
	ctx := cliCtx(t)
	for _, path := range names {
		body, err := os.ReadFile(path)
		require.NoError(t, err)
		_, err = pool.Exec(ctx, string(body))
		require.NoError(t, err, path)
	}
	requireMigratedByTool(t, dbURL, pool, ms)
}

// riverMigratedDatabase returns a new database with River's migrations
// only, as an app's tool would have it after `river migrate-get`'s files.
func riverMigratedDatabase(t *testing.T) (string, *pgxpool.Pool) {
	t.Helper()
	dbURL := cliEmptyDatabase(t, flowtest.DatabaseURL(t))
	pool, err := pgxpool.New(cliCtx(t), dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	require.NoError(t, err)
	_, err = migrator.Migrate(cliCtx(t), rivermigrate.DirectionUp, nil)
	require.NoError(t, err)
	return dbURL, pool
}

// requireMigratedByTool checks a database migrated by a tool: every version
// recorded in flow_migration as flow.Migrate records it, so Migrate adds
// nothing, and a client starts and runs a function.
func requireMigratedByTool(t *testing.T, dbURL string, pool *pgxpool.Pool, ms []flow.Migration) {
	t.Helper()
	ctx := cliCtx(t)
	versions := func() (vs []int) {
		rows, err := pool.Query(ctx, "SELECT version FROM flow_migration ORDER BY version")
		require.NoError(t, err)
		vs, err = pgx.CollectRows(rows, pgx.RowTo[int])
		require.NoError(t, err)
		return vs
	}
	var want []int
	for _, m := range ms {
		want = append(want, m.Version)
	}
	require.Equal(t, want, versions())
	require.NoError(t, flow.Migrate(ctx, pool))
	require.Equal(t, want, versions())

	c := cliApp(t, dbURL, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "tool-migrated"}, flow.EventTrigger("tool/migrated"),
			func(ctx context.Context, in flow.Input[any]) (any, error) { return "ok", nil })
		require.NoError(t, err)
	})
	out := cliOK(t, dbURL, "send", "tool/migrated")
	_, runIDs := cliSent(t, out)
	require.Len(t, runIDs, 1)
	cliAwaitStatus(t, c, runIDs[0], flow.RunCompleted)
}

// requireNoFlowSchema checks that no flow table or function is left, and
// River's tables are.
func requireNoFlowSchema(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := cliCtx(t)
	var left []string
	rows, err := pool.Query(ctx, `
		SELECT relname::text FROM pg_class WHERE relname LIKE 'flow\_%' AND relnamespace = 'public'::regnamespace
		UNION ALL
		SELECT proname::text FROM pg_proc WHERE proname LIKE 'flow\_%' AND pronamespace = 'public'::regnamespace`)
	require.NoError(t, err)
	left, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Empty(t, left, "the down migrations left these behind")
	var river bool
	require.NoError(t, pool.QueryRow(ctx, "SELECT to_regclass('river_job') IS NOT NULL").Scan(&river))
	require.True(t, river, "the down migrations removed River's table")
}
