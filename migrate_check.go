package flow

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/riverflow/flow/internal/engine"
	"github.com/riverflow/flow/internal/store"
)

// ErrNotMigrated is returned (wrapped) by Start, and by Send, SendTx, GetRun
// and ListRuns, when the database lacks the library's tables or River's, or
// its schema is older than the library's: run Migrate (or the command
// line's "flow migrate") first, or apply the files of `flow migrate-get`
// (MigrationVersions) with the application's own migration tool. The error
// says which schema version the database has and which the library needs.
var ErrNotMigrated = engine.ErrNotMigrated

// migrationTable is the table of applied versions that Migrate, and the
// files of MigrationVersions, keep.
const migrationTable = "flow_migration"

// createTableRE finds the tables the library's migrations create.
var createTableRE = regexp.MustCompile(`(?i)CREATE TABLE IF NOT EXISTS\s+([a-z_][a-z0-9_]*)`)

// schemaTables lists the tables the database must have: River's job table
// and every table of the library's embedded migrations, so that a database
// migrated by an older version of the library is told apart too. It also
// returns the newest migration version.
func schemaTables() (tables []string, need int, err error) {
	ms, err := loadMigrations()
	if err != nil {
		return nil, 0, err
	}
	tables = []string{"river_job", "river_leader"}
	for _, m := range ms {
		for _, match := range createTableRE.FindAllStringSubmatch(m.up, -1) {
			tables = append(tables, strings.ToLower(match[1]))
		}
		need = max(need, m.version)
	}
	return tables, need, nil
}

// schemaVersionError is ErrNotMigrated with the versions: the database's
// (the newest recorded in flow_migration; 0 without one) and the library's.
type schemaVersionError struct {
	have, need int
	// missing are the tables the database lacks, if known.
	missing []string
	// cause is the database's error, if a statement failed.
	cause error
}

func (e *schemaVersionError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v: run flow.Migrate (schema version %d, need %d)", ErrNotMigrated, e.have, e.need)
	if len(e.missing) > 0 {
		fmt.Fprintf(&b, "; missing tables: %s", strings.Join(e.missing, ", "))
	}
	if e.cause != nil {
		fmt.Fprintf(&b, ": %v", e.cause)
	}
	return b.String()
}

// Is reports ErrNotMigrated.
func (e *schemaVersionError) Is(target error) bool { return target == ErrNotMigrated }

// Unwrap returns the database's error, if any.
func (e *schemaVersionError) Unwrap() error { return e.cause }

// checkSchema returns an error wrapping ErrNotMigrated if a table of
// schemaTables is missing, or the newest version recorded in flow_migration
// is older than the newest migration. A database whose tables all exist but
// that has no flow_migration (migrated with Migrations() by an older version
// of the library, before its files recorded their version) passes.
func (c *Client) checkSchema(ctx context.Context) error {
	tables, need, err := schemaTables()
	if err != nil {
		return err
	}
	missing, err := store.MissingTables(ctx, c.pool, append(tables, migrationTable))
	if err != nil {
		return fmt.Errorf("flow: Start: check the database schema: %w", err)
	}
	recorded := !slices.Contains(missing, migrationTable)
	missing = slices.DeleteFunc(missing, func(t string) bool { return t == migrationTable })
	have := 0
	if recorded {
		if have, err = c.schemaVersion(ctx); err != nil {
			return fmt.Errorf("flow: Start: check the database schema: %w", err)
		}
	}
	if len(missing) > 0 || recorded && have < need {
		return &schemaVersionError{have: have, need: need, missing: missing}
	}
	return nil
}

// schemaVersion returns the newest version recorded in flow_migration.
func (c *Client) schemaVersion(ctx context.Context) (int, error) {
	versions, err := store.MigrationVersions(ctx, c.pool)
	if err != nil || len(versions) == 0 {
		return 0, err
	}
	return int(slices.Max(versions)), nil
}

// schemaError turns err, if it wraps ErrNotMigrated (the engine's reading of
// Postgres's undefined table, function or column), into an error that says
// the database's schema version and the library's. It costs a query only
// on that error: a Send pays nothing for the check.
func (c *Client) schemaError(ctx context.Context, err error) error {
	if !errors.Is(err, ErrNotMigrated) {
		return err
	}
	var sv *schemaVersionError
	if errors.As(err, &sv) {
		return err
	}
	_, need, lerr := schemaTables()
	if lerr != nil {
		return err
	}
	// The version is read on the pool: the caller's transaction, if any,
	// is aborted. Without flow_migration, the version is 0.
	have, verr := c.schemaVersion(ctx)
	if verr != nil {
		have = 0
	}
	var pgErr *pgconn.PgError
	cause := err
	if errors.As(err, &pgErr) {
		cause = pgErr
	}
	return &schemaVersionError{have: have, need: need, cause: cause}
}
