// Package dberr classifies the database errors the library meets: those no
// retry can cure (the statement itself is refused) and those that say the
// database was out of reach. The engine and the store both decide with it
// what becomes of a failed write.
//
// It is a copy of the root package's dberror.go classification; the root's
// copy goes when the engine moves into internal/ (issue 11).
package dberr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// IsPermanent reports whether err is a database error that no retry can
// cure, because the statement itself is refused: a value Postgres cannot
// store (SQLSTATE class 22, data exception), a constraint the statement
// breaks (class 23; the conflicts the library expects are handled in its
// queries and never get here), a value over a limit of Postgres's (class 54,
// such as an index row too large), or a statement Postgres rejects (class
// 42, except an object it does not know yet, which a migration still to be
// applied creates).
//
// Every other error (a lost connection, class 08, a shutdown, 57P0x, a
// serialization failure or deadlock, 40001 and 40P01, a cancelled context)
// is transient: the work is interrupted and River retries it.
func IsPermanent(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch {
	case strings.HasPrefix(pgErr.Code, "22"), strings.HasPrefix(pgErr.Code, "23"), strings.HasPrefix(pgErr.Code, "54"):
		return true
	case strings.HasPrefix(pgErr.Code, "42"):
		switch pgErr.Code {
		case "42P01", "42703", "42704", "42883": // undefined table, column, object, function
			return false
		}
		return true
	}
	return false
}

// IsTransient reports whether err says that the database was out of reach
// or gave up on the statement for a reason of its own (a lost or closed
// connection, class 08, a shutdown, 57P0x, a cancelled statement, 57014, a
// serialization failure or deadlock, 40001 and 40P01, a lack of resources,
// class 53, a lock not available, 55P03, the caller's context): whether it
// committed may be unknown, and trying again later may work.
func IsTransient(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), strings.HasPrefix(pgErr.Code, "57P0"), strings.HasPrefix(pgErr.Code, "53"):
			return true
		}
		switch pgErr.Code {
		case "57014", "40001", "40P01", "55P03":
			return true
		}
		return false
	}
	var netErr net.Error
	var connErr *pgconn.ConnectError
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.As(err, &netErr) || errors.As(err, &connErr) || pgconn.SafeToRetry(err) || pgconn.Timeout(err)
}

// WithDetail adds the database's detail to its error, when it has one:
// Postgres says there what it refused ("\u0000 cannot be converted to
// text."), which its message alone does not.
func WithDetail(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Detail != "" && !strings.Contains(err.Error(), pgErr.Detail) {
		return fmt.Errorf("%w: %s", err, pgErr.Detail)
	}
	return err
}
