package faults

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/riverflow/flow/flowtest"
)

// full selects the full form of the suite (see the package documentation).
var full = flag.Bool("faults.full", false, "run the full fault suite: 20 worker kills, 10 minutes of sustained load, larger run counts (about 11 minutes)")

// scale returns short in the short form and long in the full form.
func scale[T any](short, long T) T {
	if *full {
		return long
	}
	return short
}

// The server shared by the tests that do not restart theirs, started on
// first use and stopped by TestMain.
var (
	sharedMu  sync.Mutex
	sharedSrv *flowtest.Server
)

// sharedServer returns the package's shared server, starting it on first use.
func sharedServer(t *testing.T) *flowtest.Server {
	t.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedSrv == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		srv, err := flowtest.StartServerWith(ctx, nil)
		if err != nil {
			t.Fatalf("start Postgres: %v", err)
		}
		sharedSrv = srv
	}
	return sharedSrv
}

// TestMain runs the suite, stops the shared server, then checks that no
// goroutine outlived the clients, pools and processes the tests stopped.
func TestMain(m *testing.M) {
	code := m.Run()

	sharedMu.Lock()
	if sharedSrv != nil {
		if err := sharedSrv.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	sharedMu.Unlock()

	if code == 0 && os.Getenv(workerEnv) == "" {
		if err := goleak.Find(leakOptions()...); err != nil {
			fmt.Fprintf(os.Stderr, "goroutines left after every client stopped: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// leakOptions are the goroutines that legitimately outlive a stopped
// client. None so far: once the tests have stopped their clients and worker
// processes and closed their pools and servers, pgx and River leave nothing
// running (checked with local Postgres servers, short and full form). A
// Docker server started through testcontainers was not tried: if its reaper
// shows up here, ignore it by function name, with the reason.
func leakOptions() []goleak.Option { return nil }
