package expr

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails a passing run that leaves goroutines running. The package
// cannot use internal/leakcheck, which imports flowtest and so this package.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
