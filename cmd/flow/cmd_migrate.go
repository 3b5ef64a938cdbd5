package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/riverflow/flow"
)

var migrateCommand = &command{
	name:    "migrate",
	args:    "[flags]",
	summary: "create or update flow's tables (and River's) in the database",
	help: `
Migrate brings the database up to date: River's migrations first, then flow's
own. It is idempotent and safe to run from several processes at once.
`,
	flags: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
		dbURL := databaseFlag(fs)
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) > 0 {
				return usagef("unexpected arguments: %q", args)
			}
			pool, err := e.openPool(ctx, *dbURL, 4)
			if err != nil {
				return err
			}
			defer pool.Close()
			if err := flow.Migrate(ctx, pool); err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, "database is up to date")
			return nil
		}
	},
}
