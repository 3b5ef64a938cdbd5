package flowtest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

const (
	// poolMaxConns is the size of each test's pool: enough for a test's
	// workers, small enough for many parallel tests on one server.
	poolMaxConns = 10
	// startTimeout bounds finding or starting the shared server.
	startTimeout = 2 * time.Minute
	// dbTimeout bounds creating or dropping one test database.
	dbTimeout = time.Minute
)

// The server shared by the tests of this process, started on first use.
var (
	sharedMu  sync.Mutex
	shared    *Server
	sharedErr error
)

// sharedServer returns the server for this process's tests, finding or
// starting it on first use. A failure is remembered, so that each test
// reports it without trying again.
func sharedServer() (*Server, error) {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared == nil && sharedErr == nil {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		shared, sharedErr = StartServer(ctx)
	}
	return shared, sharedErr
}

// DatabaseURL returns a connection string for a fresh database, with flow's
// schema migrated, that belongs to this test alone. The database is dropped
// when the test ends. Use it for tests that need a connection string, such as
// those that start subprocesses; otherwise use [Pool].
//
// It fails the test if no Postgres can be found or started.
func DatabaseURL(tb testing.TB) string {
	tb.Helper()

	srv, err := sharedServer()
	if err != nil {
		tb.Fatalf("flowtest: no Postgres for tests: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
	defer cancel()
	dbURL, drop, err := NewDatabase(ctx, srv.URL)
	if err != nil {
		tb.Fatalf("flowtest: create test database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
		defer cancel()
		if err := drop(ctx); err != nil {
			tb.Errorf("%v", err)
		}
	})
	return dbURL
}

// Pool returns a connection pool on a fresh database, with flow's schema
// migrated, that belongs to this test alone. The pool is closed and the
// database dropped when the test ends, so tests using Pool may run in
// parallel.
//
// It fails the test if no Postgres can be found or started.
func Pool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()

	dbURL := DatabaseURL(tb)
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		tb.Fatalf("flowtest: parse database URL: %v", err)
	}
	cfg.MaxConns = poolMaxConns

	ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		tb.Fatalf("flowtest: open pool: %v", err)
	}
	// Cleanups run last-registered first: the pool closes before the
	// database is dropped.
	tb.Cleanup(pool.Close)
	return pool
}

// Main runs the tests of a package and then stops the Postgres server the
// harness started for them, if any, before exiting with the tests' exit code.
// Call it from TestMain in every package that uses [Pool] or [DatabaseURL]:
//
//	func TestMain(m *testing.M) { flowtest.Main(m) }
//
// Without it a throwaway server still dies with the test process, but its
// temporary files stay behind until a later run removes them.
func Main(m *testing.M) {
	os.Exit(Run(m))
}

// Run is [Main] without the exit: it runs the tests of a package, stops the
// Postgres server the harness started for them, if any, and returns the
// tests' exit code. Use it from a TestMain that checks more once the tests
// and the server are done, such as goroutines left running:
//
//	func TestMain(m *testing.M) {
//		code := flowtest.Run(m)
//		if code == 0 {
//			// further checks; set code to 1 if one fails
//		}
//		os.Exit(code)
//	}
func Run(m *testing.M) int {
	code := m.Run()

	ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
	defer cancel()
	if err := dropTemplates(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}

	sharedMu.Lock()
	srv := shared
	sharedMu.Unlock()
	if srv != nil {
		if err := srv.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	return code
}
