// Package migratecheck applies the files of `flow migrate-get -format` with
// the migration tools themselves (goose, golang-migrate, and atlas's
// directory checks and statement splitter), against a real Postgres. It is
// its own module, like bench/, so that the tools and their dependencies
// never enter the library's go.mod; .ci/run runs its tests.
package migratecheck
