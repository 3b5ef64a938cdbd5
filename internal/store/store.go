// Package store is the database seam of riverflow's engine: the one package
// that runs the generated queries of internal/dbsqlc. Each verb is a thin
// wrapper over one query (or one transaction of a few), with hand-written
// parameter and result types, so that the engine and the root package never
// name a dbsqlc identifier.
//
// Errors are the database's, unwrapped: callers add their own context, as
// they did around the generated calls. A query that finds no row returns an
// error matching pgx.ErrNoRows, as before, unless a verb documents otherwise.
package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riverflow/flow/internal/dbsqlc"
)

// DB is what a verb taking a db runs on: a pool, a connection or a
// transaction (the method set of dbsqlc.DBTX).
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Store runs the engine's queries on a pool.
type Store struct {
	pool     *pgxpool.Pool
	q        *dbsqlc.Queries
	leaseTTL time.Duration
	batch    *groupCommit
}

// New returns a store on pool. leaseTTL is how long a claim or a step write
// extends a run's lease (Config.LeaseTTL).
func New(pool *pgxpool.Pool, leaseTTL time.Duration) *Store {
	s := &Store{pool: pool, q: dbsqlc.New(), leaseTTL: leaseTTL}
	s.batch = &groupCommit{s: s}
	return s
}

// RunRef names a segment's claim on its run: the run and the gen of the
// job that claimed it. A write fenced by a RunRef stores nothing once
// another job took the run over (a higher gen) or the run ended.
type RunRef struct {
	ID  string
	Gen int32
}
