package flow

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/riverflow/flow/internal/store"
)

//go:embed sql/*.sql
var migrationFS embed.FS

// migrationLockKey is the advisory lock that serialises Migrate calls across
// processes ("riverflow" in ASCII, folded into 63 bits).
const migrationLockKey = 0x7269766572666c6f

type migration struct {
	version int
	name    string
	up      string
}

// Migrations returns the library's own schema migrations in order, as up
// SQL that an application's migration tool can run after River's (see
// River's rivermigrate, or `river migrate-get`). Migrate runs both for you.
// Each ends by recording its version in flow_migration, as Migrate does, so
// Migrate may still be called on a database migrated this way. For the down
// SQL and the versions, use MigrationVersions.
func Migrations() ([]string, error) {
	ms, err := MigrationVersions()
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Up
	}
	return out, nil
}

func loadMigrations() ([]migration, error) {
	entries, err := fs.Glob(migrationFS, "sql/*.up.sql")
	if err != nil {
		return nil, fmt.Errorf("flow: list migrations: %w", err)
	}
	var ms []migration
	for _, path := range entries {
		base := strings.TrimPrefix(path, "sql/")
		num, _, ok := strings.Cut(base, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("flow: migration file %q: name must start with a version number", base)
		}
		body, err := migrationFS.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("flow: read migration %q: %w", base, err)
		}
		ms = append(ms, migration{version: version, name: strings.TrimSuffix(base, ".up.sql"), up: string(body)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	return ms, nil
}

// Migrate brings the database up to date: River's migrations first, then the
// library's own. It is idempotent and safe to call from several processes at
// once (they serialise on an advisory lock).
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	// The lock's connection leaves the pool's accounting, so that River's
	// migrator can still get a connection from a pool of one (and callers
	// waiting for the lock cannot starve the one holding it).
	pc, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("flow: migrate: acquire connection: %w", err)
	}
	conn := pc.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	if err := store.LockMigrations(ctx, conn, migrationLockKey); err != nil {
		return fmt.Errorf("flow: migrate: take lock: %w", err)
	}
	defer func() { _ = store.UnlockMigrations(context.WithoutCancel(ctx), conn, migrationLockKey) }()

	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return fmt.Errorf("flow: migrate: river: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("flow: migrate: river: %w", err)
	}

	if err := store.CreateMigrationTable(ctx, conn); err != nil {
		return fmt.Errorf("flow: migrate: create flow_migration: %w", err)
	}
	applied, err := store.MigrationVersions(ctx, conn)
	if err != nil {
		return fmt.Errorf("flow: migrate: read applied versions: %w", err)
	}
	for _, m := range ms {
		if slices.Contains(applied, int32(m.version)) {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.up); err != nil {
				return err
			}
			return store.RecordMigration(ctx, tx, int32(m.version), m.name)
		})
		if err != nil {
			return fmt.Errorf("flow: migrate: apply %s: %w", m.name, err)
		}
	}
	return nil
}
