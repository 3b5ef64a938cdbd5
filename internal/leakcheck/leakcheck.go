// Package leakcheck is the TestMain of riverflow's own test packages: it runs
// the tests through [flowtest.Run], which also stops the test Postgres, and
// then fails a passing run if any goroutine is still running. A client that
// was not stopped, a pool that was not closed, a loop that ignores its
// context: each leaves goroutines behind, and each is a bug.
//
// It is internal because it is stricter than what users get from
// [flowtest.Main]: their own test binaries may keep goroutines running on
// purpose (an HTTP client's idle connections, for one), and flowtest.Main does
// not fail them for it.
package leakcheck

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/riverflow/flow/flowtest"
)

// Main runs the package's tests with [flowtest.Run], then the package's own
// cleanups (such as stopping servers it started outside flowtest's shared
// one), then checks for leaked goroutines if the tests passed, and exits.
// Call it from TestMain:
//
//	func TestMain(m *testing.M) { leakcheck.Main(m) }
func Main(m *testing.M, cleanups ...func()) {
	code := flowtest.Run(m)
	for _, cleanup := range cleanups {
		cleanup()
	}
	if code == 0 {
		if err := goleak.Find(ignored()...); err != nil {
			fmt.Fprintf(os.Stderr, "leakcheck: goroutines left running after the tests passed: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// ignored are the goroutines that legitimately outlive a package's tests.
// None so far: once the tests have stopped their clients and closed their
// pools, and flowtest.Run has stopped its server, neither River, pgx nor the
// harness leaves anything running (checked with the local Postgres servers
// CI uses, in every package). A Docker server started through testcontainers
// was not tried: if its reaper shows up here, ignore it by function name
// (goleak.IgnoreTopFunction), with the reason.
func ignored() []goleak.Option {
	return nil
}
