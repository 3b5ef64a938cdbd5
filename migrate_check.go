package flow

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/riverflow/flow/internal/engine"
	"github.com/riverflow/flow/internal/store"
)

// ErrNotMigrated is returned (wrapped) by Start, and by Send, SendTx, GetRun
// and ListRuns when the database lacks the library's tables or River's: run
// Migrate (or the command line's "flow migrate") first, or apply
// Migrations() with the application's own migration tool.
var ErrNotMigrated = engine.ErrNotMigrated

// createTableRE finds the tables the library's migrations create.
var createTableRE = regexp.MustCompile(`(?i)CREATE TABLE IF NOT EXISTS\s+([a-z_][a-z0-9_]*)`)

// schemaTables lists the tables the database must have: River's job table
// and every table of the library's embedded migrations, so that a database
// migrated by an older version of the library is told apart too.
func schemaTables() ([]string, error) {
	ms, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	tables := []string{"river_job", "river_leader"}
	for _, m := range ms {
		for _, match := range createTableRE.FindAllStringSubmatch(m.up, -1) {
			tables = append(tables, strings.ToLower(match[1]))
		}
	}
	return tables, nil
}

// checkSchema returns an error wrapping ErrNotMigrated if a table of
// schemaTables is missing.
func (c *Client) checkSchema(ctx context.Context) error {
	tables, err := schemaTables()
	if err != nil {
		return err
	}
	missing, err := store.MissingTables(ctx, c.pool, tables)
	if err != nil {
		return fmt.Errorf("flow: Start: check the database schema: %w", err)
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w (missing tables: %s)", ErrNotMigrated, strings.Join(missing, ", "))
	}
	return nil
}
