package engine

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
)

// storableText returns s as text Postgres can store: valid UTF-8 without NUL
// bytes (each replaced by U+FFFD).
func storableText(s string) string {
	if !strings.ContainsRune(s, 0) && utf8.ValidString(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// SchemaError wraps ErrNotMigrated around err when Postgres refused a
// statement because one of the library's or River's tables, functions or
// columns does not exist (SQLSTATE 42P01 undefined_table, 42883
// undefined_function, 42703 undefined_column): the schema is missing or
// older than the library. Only this error path costs anything: no statement
// checks the schema first.
func SchemaError(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42P01" && pgErr.Code != "42883" && pgErr.Code != "42703" {
		return err
	}
	if !strings.Contains(pgErr.Message, "flow_") && !strings.Contains(pgErr.Message, "river_") {
		return err
	}
	return fmt.Errorf("%w: %w", ErrNotMigrated, err)
}
