package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riverflow/flow/flowtest"
)

// poolConns is the pool size of every system: River's baseline used 20, and
// DBOS's own default is 20.
const poolConns = 20

// env is what the scenarios share.
type env struct {
	serverURL string
	sz        sizes
	short     bool
	bgRate    int
	res       *results
	quiet     *slog.Logger // libraries log errors only
	settings  string
	systems   map[string]bool // the systems to measure

	mu       sync.Mutex
	cleanups []func()
	scale    *scaleState // the populated database of the scale scenario, made once
}

// want reports whether system is to be measured.
func (e *env) want(system string) bool { return e.systems[system] }

// onCleanup registers f to run when the program ends.
func (e *env) onCleanup(f func()) {
	e.mu.Lock()
	e.cleanups = append(e.cleanups, f)
	e.mu.Unlock()
}

func (e *env) cleanup() {
	e.mu.Lock()
	fs := e.cleanups
	e.cleanups = nil
	e.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// describeServer records the server's version and durability settings.
func (e *env) describeServer(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, e.serverURL)
	if err != nil {
		return fmt.Errorf("connect to server: %w", err)
	}
	defer conn.Close(ctx)
	var parts []string
	for _, name := range []string{"server_version", "fsync", "synchronous_commit", "full_page_writes", "wal_sync_method", "shared_buffers", "max_connections"} {
		var v string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&v); err != nil {
			return fmt.Errorf("read setting %s: %w", name, err)
		}
		parts = append(parts, name+"="+v)
	}
	var dir string
	if err := conn.QueryRow(ctx, "SELECT current_setting('data_directory')").Scan(&dir); err == nil {
		parts = append(parts, "data_directory="+dir)
	}
	e.settings = strings.Join(parts, ", ")
	progress("server: %s", e.settings)
	return nil
}

// flowDB makes a fresh database with flow's (and River's) schema migrated and
// returns a pool on it. drop closes the pool and drops the database.
func (e *env) flowDB(ctx context.Context) (*pgxpool.Pool, func(), error) {
	dbURL, dropDB, err := flowtest.NewDatabase(ctx, e.serverURL)
	if err != nil {
		return nil, nil, err
	}
	pool, err := openPool(ctx, dbURL)
	if err != nil {
		_ = dropDB(context.Background())
		return nil, nil, err
	}
	drop := func() {
		pool.Close()
		dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := dropDB(dctx); err != nil {
			progress("warning: %v", err)
		}
	}
	return pool, drop, nil
}

var emptyDBCounter atomic.Int64

// emptyDB makes an empty database (for DBOS, which migrates its own schema)
// and returns its URL.
func (e *env) emptyDB(ctx context.Context, prefix string) (string, func(), error) {
	name := fmt.Sprintf("bench_%s_%d_%d", prefix, os.Getpid(), emptyDBCounter.Add(1))
	if err := execOn(ctx, e.serverURL, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	dbURL, err := withDatabase(e.serverURL, name)
	if err != nil {
		return "", nil, err
	}
	drop := func() {
		dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := execOn(dctx, e.serverURL, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			progress("warning: drop database %s: %v", name, err)
		}
	}
	return dbURL, drop, nil
}

// checkpoint flushes the server's dirty buffers, so that a measurement does
// not pay for an earlier one's writes. It needs a superuser; without one it
// does nothing.
func (e *env) checkpoint(ctx context.Context) {
	_ = execOn(ctx, e.serverURL, "CHECKPOINT")
}

func openPool(ctx context.Context, dbURL string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = poolConns
	return pgxpool.NewWithConfig(ctx, cfg)
}

func execOn(ctx context.Context, connURL, sql string) error {
	conn, err := pgx.Connect(ctx, connURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase returns connURL changed to connect to database name.
func withDatabase(connURL, name string) (string, error) {
	if !strings.HasPrefix(connURL, "postgres://") && !strings.HasPrefix(connURL, "postgresql://") {
		return connURL + " dbname=" + name, nil
	}
	u, err := url.Parse(connURL)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

// waitFor polls cond every interval until it is true, it fails, or timeout
// passes.
func waitFor(ctx context.Context, timeout, interval time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("wait for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("wait for %s: timed out after %s", what, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// countRows runs a count query.
func countRows(ctx context.Context, pool *pgxpool.Pool, sql string, args ...any) (int, error) {
	var n int
	err := pool.QueryRow(ctx, sql, args...).Scan(&n)
	return n, err
}

// ---- statistics ----

// percentile returns the nearest-rank percentile p (0-100) of xs.
func percentile(xs []time.Duration, p float64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// recordLatencies records p50, p95 and p99 of samples, in ms, under the rows
// prefix+"50", prefix+"95", prefix+"99".
func (e *env) recordLatencies(system, prefix string, samples []time.Duration) {
	e.res.add(prefix+"50", system, ms(percentile(samples, 50)))
	e.res.add(prefix+"95", system, ms(percentile(samples, 95)))
	e.res.add(prefix+"99", system, ms(percentile(samples, 99)))
}

// stamps collects the times at which numbered events were observed (a step
// or job started), for latency measurements.
type stamps struct {
	mu      sync.Mutex
	at      map[int64]time.Time
	waiters map[int64]chan time.Time
}

func newStamps() *stamps {
	return &stamps{at: map[int64]time.Time{}, waiters: map[int64]chan time.Time{}}
}

// stamp records now for seq, the first time only.
func (s *stamps) stamp(seq int64) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.at[seq]; ok {
		return
	}
	s.at[seq] = now
	if ch, ok := s.waiters[seq]; ok {
		ch <- now
		delete(s.waiters, seq)
	}
}

// wait returns the stamp of seq, waiting for it up to timeout.
func (s *stamps) wait(ctx context.Context, seq int64, timeout time.Duration) (time.Time, error) {
	s.mu.Lock()
	if t, ok := s.at[seq]; ok {
		s.mu.Unlock()
		return t, nil
	}
	ch := make(chan time.Time, 1)
	s.waiters[seq] = ch
	s.mu.Unlock()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case t := <-ch:
		return t, nil
	case <-timer.C:
		return time.Time{}, fmt.Errorf("no stamp for %d within %s", seq, timeout)
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	}
}

// each runs the wanted systems' measurements, in the order riverflow, River,
// DBOS.
func (e *env) each(ctx context.Context, fs map[string]func(context.Context) error) error {
	for _, system := range systems {
		if f, ok := fs[system]; ok && e.want(system) {
			if err := f(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}
