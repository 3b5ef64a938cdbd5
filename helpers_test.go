package flow_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
	"github.com/riverflow/flow/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m, stopExampleServer) }

// testConfig is a client configuration for tests: quick retries, so that
// retry tests finish fast.
func testConfig() *flow.Config {
	return &flow.Config{
		RetryBackoff: func(int) time.Duration { return 20 * time.Millisecond },
		Workers:      20,
	}
}

// newClient returns a client on pool, stopped when the test ends. cfg may be
// nil for testConfig().
func newClient(t *testing.T, pool *pgxpool.Pool, cfg *flow.Config) *flow.Client {
	t.Helper()
	if cfg == nil {
		cfg = testConfig()
	}
	c, err := flow.NewClient(pool, cfg)
	require.NoError(t, err)
	return c
}

// start starts c and stops it when the test ends.
func start(t *testing.T, c *flow.Client) {
	t.Helper()
	require.NoError(t, c.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, c.Stop(ctx))
	})
}

// testCtx is a context bounded by the test's deadline budget.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// sendOne sends one event and returns the IDs of the runs it started.
func sendOne(t *testing.T, c *flow.Client, ev flow.Event) []string {
	t.Helper()
	ctx := testCtx(t)
	ids, err := c.Send(ctx, ev)
	require.NoError(t, err)
	require.Len(t, ids, 1)
	runs, err := c.ListRuns(ctx, flow.RunFilter{EventID: ids[0]})
	require.NoError(t, err)
	out := make([]string, len(runs))
	for i, r := range runs {
		out[i] = r.ID
	}
	return out
}

// awaitOnly sends ev, expects it to start exactly one run, and waits for it.
func awaitOnly(t *testing.T, c *flow.Client, ev flow.Event) *flow.Run {
	t.Helper()
	return flowtest.RunEvent(t, c, ev)
}

// counter counts executions (of step bodies, handlers) by key; safe for
// concurrent use.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

// add counts one more for key and returns the new count.
func (c *counter) add(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[key]++
	return c.n[key]
}

func (c *counter) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

func (c *counter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.n {
		n += v
	}
	return n
}
