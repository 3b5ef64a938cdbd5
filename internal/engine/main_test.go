package engine_test

import (
	"testing"

	"github.com/riverflow/flow/internal/leakcheck"
)

// TestMain runs the package's tests (package engine's and engine_test's,
// one binary) through leakcheck: flowtest.Run stops the test Postgres that
// the room tests started, then any goroutine left running fails the run. A
// TestMain in package engine could not do this: flowtest imports the root
// package, which imports engine.
func TestMain(m *testing.M) { leakcheck.Main(m) }
