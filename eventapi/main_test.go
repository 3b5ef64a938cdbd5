package eventapi_test

import (
	"testing"

	"github.com/riverflow/flow/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m, stopExampleServer) }
