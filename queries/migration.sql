-- name: MigrationLock :exec
-- Serialises migrations across processes that start at the same time.
SELECT pg_advisory_lock(@key::bigint);

-- name: MigrationUnlock :exec
SELECT pg_advisory_unlock(@key::bigint);

-- name: MigrationTableCreate :exec
CREATE TABLE IF NOT EXISTS flow_migration (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- name: MigrationVersions :many
SELECT version FROM flow_migration ORDER BY version;

-- name: MigrationInsert :exec
INSERT INTO flow_migration (version, name) VALUES (@version, @name);

-- name: SchemaMissingTables :many
-- Returns those of @tables that do not exist on the search path, so that a
-- client can tell an unmigrated database from other errors.
SELECT t::text AS name FROM unnest(@tables::text[]) AS t WHERE to_regclass(t) IS NULL;
