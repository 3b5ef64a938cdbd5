package realtime_test

import (
	"testing"

	"github.com/riverflow/flow/internal/leakcheck"
)

// TestMain runs the room's tests through leakcheck (in package
// realtime_test: flowtest imports the root package, which imports this one).
func TestMain(m *testing.M) { leakcheck.Main(m) }
