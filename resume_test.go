package flow_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// resumeAdmin opens a connection of its own on the test database, outside
// the client's pool, to lock rows and kill the client's backends.
func resumeAdmin(t *testing.T, dbURL string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// resumeKillBackends terminates every backend of the test database but the
// admin connection's own: the client's pooled connections, River's and the
// client's LISTEN connections. It returns how many it killed.
func resumeKillBackends(t *testing.T, admin *pgx.Conn) int {
	t.Helper()
	var n int
	require.NoError(t, admin.QueryRow(testCtx(t), `
		SELECT count(*) FROM (
			SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid()
		) k`).Scan(&n))
	return n
}

// resumeAwait waits up to limit for the run to end, through the errors of
// the connections killed under the client's pool.
func resumeAwait(t *testing.T, c *flow.Client, runID string, limit time.Duration) *flow.Run {
	t.Helper()
	ctx, cancel := context.WithTimeout(testCtx(t), limit)
	defer cancel()
	for {
		run, err := c.AwaitRun(ctx, runID)
		if err == nil {
			return run
		}
		require.NoError(t, ctx.Err(), "run %s did not end within %s: %v", runID, limit, err)
		t.Logf("await run: %v", err)
	}
}

// TestResumeAfterConnectionsKilled kills every backend connection of a
// started client (with the default 30 s lease) while a step of a run is
// storing its result: the client must resume its own run as soon as the
// database answers again, well before the lease lapses, and steps stored
// before the kill must not run again.
func TestResumeAfterConnectionsKilled(t *testing.T) {
	t.Parallel()
	dbURL := flowtest.DatabaseURL(t)
	pool := recoveryPool(t, dbURL)
	admin := resumeAdmin(t, dbURL)
	ctx := testCtx(t)

	var bodies counter
	var inFlight, maxInFlight atomic.Int64
	started := make(chan string, 1)
	release := make(chan struct{})
	c := newClient(t, pool, recoveryConfig("resume-killed", 0)) // the default lease: 30 s
	_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "resume/killed"}, flow.EventTrigger("resume/killed"),
		func(ctx context.Context, in flow.Input[struct{}]) (any, error) {
			a, err := flow.Step(ctx, "a", func(context.Context) (int, error) { return bodies.add("a"), nil })
			if err != nil {
				return nil, err
			}
			b, err := flow.Step(ctx, "b", func(context.Context) (int, error) {
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				for {
					m := maxInFlight.Load()
					if n <= m || maxInFlight.CompareAndSwap(m, n) {
						break
					}
				}
				if bodies.add("b") == 1 {
					started <- in.RunID
					<-release
				}
				return 2, nil
			})
			if err != nil {
				return nil, err
			}
			cc, err := flow.Step(ctx, "c", func(context.Context) (int, error) { return bodies.add("c"), nil })
			if err != nil {
				return nil, err
			}
			return a + b + cc, nil
		})
	require.NoError(t, err)
	start(t, c)

	ids := sendOne(t, c, flow.Event{Name: "resume/killed"})
	var runID string
	select {
	case runID = <-started:
	case <-ctx.Done():
		t.Fatal("step b never started")
	}
	require.Equal(t, ids[0], runID)

	// Hold the run's row so that step b's result is being stored, on a live
	// connection, when the connections die.
	tx, err := admin.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `SELECT 1 FROM flow_run WHERE id = $1 FOR UPDATE`, runID)
	require.NoError(t, err)
	close(release)
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, tx.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'`).Scan(&n))
		return n > 0
	}, 20*time.Second, 5*time.Millisecond, "step b's result was never being stored")
	killed := resumeKillBackends(t, admin)
	killedAt := time.Now()
	require.NoError(t, tx.Rollback(ctx))

	run := resumeAwait(t, c, runID, 20*time.Second)
	took := time.Since(killedAt)
	t.Logf("killed %d backends; the run completed %s after the kill (lease 30s)", killed, took.Round(time.Millisecond))
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.Less(t, took, 15*time.Second, "the owner waited for its lease to lapse")

	var out int
	require.NoError(t, run.DecodeOutput(&out))
	require.Equal(t, 1+2+1, out)
	require.Equal(t, 1, bodies.get("a"), "step a was stored before the kill: it must not run again")
	require.Equal(t, 1, bodies.get("c"), "executions of step c")
	// Step b's result was lost with its connection: it runs again, but never
	// while its first execution still runs.
	require.Equal(t, 2, bodies.get("b"), "executions of step b")
	require.EqualValues(t, 1, maxInFlight.Load(), "step b executed twice at once")
}
