package store

import (
	"context"

	"github.com/riverflow/flow/internal/dbsqlc"
)

// The migration verbs are functions, not methods: Migrate runs them
// without a client.

// LockMigrations takes the session advisory lock key on db, a dedicated
// connection, waiting for a migration of another process to finish.
func LockMigrations(ctx context.Context, db DB, key int64) error {
	return dbsqlc.New().MigrationLock(ctx, db, key)
}

// UnlockMigrations releases the lock of LockMigrations on db.
func UnlockMigrations(ctx context.Context, db DB, key int64) error {
	return dbsqlc.New().MigrationUnlock(ctx, db, key)
}

// CreateMigrationTable creates flow_migration, the applied versions, if it
// does not exist.
func CreateMigrationTable(ctx context.Context, db DB) error {
	return dbsqlc.New().MigrationTableCreate(ctx, db)
}

// MigrationVersions returns the applied migration versions, in order.
func MigrationVersions(ctx context.Context, db DB) ([]int32, error) {
	return dbsqlc.New().MigrationVersions(ctx, db)
}

// RecordMigration records migration version, named name, as applied, in db
// (the migration's transaction).
func RecordMigration(ctx context.Context, db DB, version int32, name string) error {
	return dbsqlc.New().MigrationInsert(ctx, db, &dbsqlc.MigrationInsertParams{Version: version, Name: name})
}

// MissingTables returns those of tables that do not exist on db's search
// path.
func MissingTables(ctx context.Context, db DB, tables []string) ([]string, error) {
	return dbsqlc.New().SchemaMissingTables(ctx, db, tables)
}
