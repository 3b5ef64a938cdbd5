package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/riverflow/flow"
)

var migrateGetCommand = &command{
	name:    "migrate-get",
	args:    "(-version N[,N...] | -all) (-up | -down | -format TOOL -dir DIR)",
	summary: "print flow's migrations as SQL, or write them for goose, golang-migrate or atlas",
	help: `
Migrate-get prints the SQL of flow's schema migrations, for applications that
apply migrations with their own tool instead of flow.Migrate. It prints them
as "river migrate-get" prints River's:

    flow migrate-get -version 3 -up > flow3.up.sql
    flow migrate-get -version 3 -down > flow3.down.sql
    flow migrate-get -all -up > flow_all.up.sql     (oldest first)
    flow migrate-get -all -down > flow_all.down.sql (newest first)

With -format and -dir it writes the files a tool takes as they are, into a
directory of flow's migrations only (the tool keeps its own version table for
it, so flow's version numbers never collide with the app's):

    goose           00001_flow.sql with -- +goose Up / Down sections
                    goose -dir DIR -table flow_goose_db_version postgres "$DATABASE_URL" up
    golang-migrate  001_flow.up.sql and 001_flow.down.sql
                    migrate -path DIR -database "$DATABASE_URL&x-migrations-table=flow_schema_migrations" up
    atlas           001_flow.sql (up only) and atlas.sum, computed over DIR's .sql files
                    atlas migrate apply --dir file://DIR --url "$DATABASE_URL" \
                        --revisions-schema flow_atlas --allow-dirty
                    (--allow-dirty: River's tables are already there)

River's migrations come first: take them with "river migrate-get --all
--exclude-version 1 --up" (River's CLI) into the app's own migrations, or a
directory of their own that runs before this one. Every file also records its
version in flow_migration, as flow.Migrate does: a client checks it at Start
("run flow.Migrate (schema version X, need Y)"), and a later flow.Migrate
finds nothing to do.
`,
	flags: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
		var versions versionList
		fs.Var(&versions, "version", "version(s) to print: 3, or 1,2,3, or the flag repeated")
		var excluded versionList
		fs.Var(&excluded, "exclude-version", "version(s) to leave out")
		all := fs.Bool("all", false, "every migration; -down prints them newest first")
		up := fs.Bool("up", false, "print the up migrations")
		down := fs.Bool("down", false, "print the down migrations")
		format := fs.String("format", "", "write files for a tool: goose, golang-migrate or atlas (needs -dir)")
		dir := fs.String("dir", "", "the directory -format writes to (created if missing)")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) > 0 {
				return usagef("unexpected arguments: %q", args)
			}
			if *all == (len(versions) > 0) {
				return usagef("give one of -version or -all")
			}
			ms, err := selectMigrations(versions, *all, excluded)
			if err != nil {
				return err
			}
			if *format == "" {
				if *up == *down {
					return usagef("give one of -up or -down (or -format and -dir)")
				}
				if *dir != "" {
					return usagef("-dir needs -format")
				}
				if *down && *all {
					slices.Reverse(ms)
				}
				printMigrations(e, ms, *down)
				return nil
			}
			if *up || *down {
				return usagef("-format writes both directions: drop -up and -down")
			}
			if *dir == "" {
				return usagef("-format needs -dir")
			}
			layout, ok := migrationLayouts[*format]
			if !ok {
				return usagef("unknown -format %q: want goose, golang-migrate or atlas", *format)
			}
			names, err := writeMigrationFiles(*dir, layout, ms)
			if err != nil {
				return err
			}
			for _, name := range names {
				fmt.Fprintln(e.stdout, filepath.Join(*dir, name))
			}
			return nil
		}
	},
}

// versionList is a flag of migration versions: comma-separated, repeatable.
type versionList []int

func (l *versionList) String() string {
	s := make([]string, len(*l))
	for i, v := range *l {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

func (l *versionList) Set(value string) error {
	for part := range strings.SplitSeq(value, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || v < 1 {
			return fmt.Errorf("version %q: want a positive number", part)
		}
		*l = append(*l, v)
	}
	return nil
}

// selectMigrations returns the migrations of versions, in the order given,
// or all of them, oldest first, without those of excluded.
func selectMigrations(versions versionList, all bool, excluded versionList) ([]flow.Migration, error) {
	ms, err := flow.MigrationVersions()
	if err != nil {
		return nil, err
	}
	var out []flow.Migration
	if all {
		out = ms
	} else {
		for _, v := range versions {
			i := slices.IndexFunc(ms, func(m flow.Migration) bool { return m.Version == v })
			if i < 0 {
				return nil, fmt.Errorf("no migration version %d (there are 1 to %d)", v, ms[len(ms)-1].Version)
			}
			out = append(out, ms[i])
		}
	}
	return slices.DeleteFunc(slices.Clone(out), func(m flow.Migration) bool { return slices.Contains(excluded, m.Version) }), nil
}

// printMigrations prints ms as River's migrate-get does: each under a
// comment naming it, separated by a blank line.
func printMigrations(e *env, ms []flow.Migration, down bool) {
	for i, m := range ms {
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		fmt.Fprintln(e.stdout, migrationComment(m, down))
		sql := m.Up
		if down {
			sql = m.Down
		}
		fmt.Fprintln(e.stdout, strings.TrimSpace(sql))
	}
}

// migrationComment is the line above a migration's SQL that says what it
// is once it is copied elsewhere.
func migrationComment(m flow.Migration, down bool) string {
	direction := "up"
	if down {
		direction = "down"
	}
	return fmt.Sprintf("-- flow migration %03d %s [%s]", m.Version, m.Name, direction)
}

// writeMigrationFiles writes the files of layout for ms into dir, then the
// layout's extra files (atlas.sum), and returns the names written.
func writeMigrationFiles(dir string, layout migrationLayout, ms []flow.Migration) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("flow: migrate-get: %w", err)
	}
	var names []string
	for _, m := range ms {
		for _, f := range layout.files(m) {
			if err := os.WriteFile(filepath.Join(dir, f.name), []byte(f.body), 0o644); err != nil {
				return nil, fmt.Errorf("flow: migrate-get: %w", err)
			}
			names = append(names, f.name)
		}
	}
	if layout.finish != nil {
		f, err := layout.finish(dir)
		if err != nil {
			return nil, fmt.Errorf("flow: migrate-get: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), []byte(f.body), 0o644); err != nil {
			return nil, fmt.Errorf("flow: migrate-get: %w", err)
		}
		names = append(names, f.name)
	}
	return names, nil
}
