package flow

import (
	"embed"
	"fmt"
	"strings"
	"text/template"
)

// Migration is one of the library's schema migrations, as SQL that an
// application's own migration tool can run (goose, golang-migrate, atlas,
// or any tool that runs SQL files in order). River's migrations come first:
// take them from `river migrate-get` (see River's rivermigrate), then these,
// from MigrationVersions or `flow migrate-get`.
//
// Up and Down end with statements that record the version in (or remove it
// from) flow_migration, the table flow.Migrate keeps: a database migrated by
// a tool looks to the library exactly like one migrated by Migrate, so a
// Client's schema check at Start sees its version, and a later Migrate finds
// nothing to do.
type Migration struct {
	// Version is the migration's number: 1, 2, and so on, with no gaps.
	Version int
	// Name is the migration's name without its version, such as
	// "flow_control".
	Name string
	// Up is the SQL that applies the migration.
	Up string
	// Down is the SQL that reverts it: run the down migrations newest first.
	Down string
}

//go:embed sql/record.up.sql.tmpl sql/record.down.sql.tmpl
var recordFS embed.FS

var recordTemplates = template.Must(template.ParseFS(recordFS, "sql/record.*.sql.tmpl"))

// MigrationVersions returns the library's schema migrations in order, each
// with its up and down SQL. Migrate applies the same migrations; use this
// (or `flow migrate-get`) to apply them with the application's own tool.
func MigrationVersions() ([]Migration, error) {
	ms, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	out := make([]Migration, len(ms))
	for i, m := range ms {
		down, err := migrationFS.ReadFile("sql/" + m.name + ".down.sql")
		if err != nil {
			return nil, fmt.Errorf("flow: read migration %q: %w", m.name+".down.sql", err)
		}
		name := m.name[strings.IndexByte(m.name, '_')+1:]
		out[i] = Migration{Version: m.version, Name: name}
		if out[i].Up, err = withRecord(m.up, "record.up.sql.tmpl", m); err != nil {
			return nil, err
		}
		if out[i].Down, err = withRecord(string(down), "record.down.sql.tmpl", m); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// withRecord appends to sql the statements of the record template tmpl for
// migration m, which record it under the name Migrate records.
func withRecord(sql, tmpl string, m migration) (string, error) {
	var b strings.Builder
	b.WriteString(strings.TrimRight(sql, "\n"))
	b.WriteString("\n")
	data := struct {
		Version int
		Name    string
	}{m.version, m.name}
	if err := recordTemplates.ExecuteTemplate(&b, tmpl, data); err != nil {
		return "", fmt.Errorf("flow: migration %d: %w", m.version, err)
	}
	return b.String(), nil
}
