package main

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/riverflow/flow"
)

// migrationFile is one file of a migration tool's directory.
type migrationFile struct {
	name, body string
}

// migrationLayout is how a migration tool wants its files: their names and
// markers, and any file computed from the whole directory.
type migrationLayout struct {
	// files returns the files of one migration.
	files func(m flow.Migration) []migrationFile
	// finish, if set, returns a file computed from the directory dir once
	// the migrations are written.
	finish func(dir string) (migrationFile, error)
}

// migrationLayouts are the layouts of -format, by tool.
var migrationLayouts = map[string]migrationLayout{
	"goose":          {files: gooseFiles},
	"golang-migrate": {files: golangMigrateFiles},
	"atlas":          {files: atlasFiles, finish: atlasSum},
}

// gooseFiles is goose's SQL migration: one file named VERSION_NAME.sql
// (goose reads the version from the digits before the first "_"), with the
// up and down SQL under "-- +goose Up" and "-- +goose Down". Each direction
// is one StatementBegin/StatementEnd block, so that goose sends it whole
// instead of splitting it at the semicolons inside the PL/pgSQL functions
// (Postgres runs the statements of one simple query in order). goose runs
// each file in a transaction.
func gooseFiles(m flow.Migration) []migrationFile {
	var b strings.Builder
	fmt.Fprintf(&b, "-- flow migration %03d %s: from `flow migrate-get -format goose`.\n\n", m.Version, m.Name)
	b.WriteString("-- +goose Up\n-- +goose StatementBegin\n")
	b.WriteString(strings.TrimSpace(m.Up))
	b.WriteString("\n-- +goose StatementEnd\n\n-- +goose Down\n-- +goose StatementBegin\n")
	b.WriteString(strings.TrimSpace(m.Down))
	b.WriteString("\n-- +goose StatementEnd\n")
	return []migrationFile{{name: fmt.Sprintf("%05d_%s.sql", m.Version, m.Name), body: b.String()}}
}

// golangMigrateFiles is golang-migrate's pair: VERSION_NAME.up.sql and
// VERSION_NAME.down.sql, each run whole by its Postgres driver.
func golangMigrateFiles(m flow.Migration) []migrationFile {
	base := fmt.Sprintf("%03d_%s", m.Version, m.Name)
	return []migrationFile{
		{name: base + ".up.sql", body: migrationBody(m, m.Up, "up")},
		{name: base + ".down.sql", body: migrationBody(m, m.Down, "down")},
	}
}

// atlasFiles is atlas's versioned migration: VERSION_NAME.sql, up only
// (atlas plans a down itself, from the schema), applied in name order.
func atlasFiles(m flow.Migration) []migrationFile {
	return []migrationFile{{name: fmt.Sprintf("%03d_%s.sql", m.Version, m.Name), body: migrationBody(m, m.Up, "up")}}
}

// migrationBody is sql under a comment naming the migration.
func migrationBody(m flow.Migration, sql, direction string) string {
	return fmt.Sprintf("-- flow migration %03d %s [%s]: from `flow migrate-get`.\n\n%s\n", m.Version, m.Name, direction, strings.TrimSpace(sql))
}

// atlasSum is atlas.sum, the checksum file atlas refuses to apply a
// directory without, over every .sql file in dir in name order, as
// atlas's migrate.NewHashFile computes it: a running SHA-256 over each
// file's name and bytes, taken after each file; the first line is the
// SHA-256 of every name and its hash.
func atlasSum(dir string) (migrationFile, error) {
	names, err := fs.Glob(os.DirFS(dir), "*.sql")
	if err != nil {
		return migrationFile{}, err
	}
	slices.Sort(names)
	running := sha256.New()
	total := sha256.New()
	var lines strings.Builder
	for _, name := range names {
		body, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return migrationFile{}, err
		}
		running.Write([]byte(name))
		running.Write(body)
		h := base64.StdEncoding.EncodeToString(running.Sum(nil))
		total.Write([]byte(name))
		total.Write([]byte(h))
		fmt.Fprintf(&lines, "%s h1:%s\n", name, h)
	}
	sum := fmt.Sprintf("h1:%s\n%s", base64.StdEncoding.EncodeToString(total.Sum(nil)), lines.String())
	return migrationFile{name: "atlas.sum", body: sum}, nil
}
