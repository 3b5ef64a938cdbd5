package faults

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
)

// TestTwoClientsRacing runs every run with two started clients of one
// database racing for its segments: both fetch its jobs, both sweep for
// lapsed leases (a short lease, shorter than step b's slowest body, so a
// lease renewal that came late would show), and both send the wake event of
// every waiting run at once. With no crash in between, no step body executes
// twice.
func TestTwoClientsRacing(t *testing.T) {
	t.Parallel()
	runs := scale(100, 1000)
	ctx, cancel := context.WithTimeout(context.Background(), scale(2*time.Minute, 10*time.Minute))
	defer cancel()
	f := newFixture(t, sharedServer(t))

	logs, logger := newLogTail(t)
	probes := f.pool(t, "faults-probe", 5)
	sh := shape{sleep: 20 * time.Millisecond, work: 1500 * time.Millisecond, wait: true}
	clients := make([]*flow.Client, 2)
	for i := range clients {
		pool := f.pool(t, fmt.Sprint("faults-client-", i), 25)
		clients[i] = newClient(t, pool, probes, clientConfig(fmt.Sprint("racer-", i), time.Second, logger), sh)
	}
	for _, c := range clients {
		start(t, c)
		goWake(t, c, f.admin)
	}

	s := &sender{c: clients[0]}
	s.send(ctx, runs, 10, 20*time.Millisecond)
	awaitEnded(t, f.admin, runs, scale(90*time.Second, 8*time.Minute))
	tl := verify(t, f.admin, s)

	if tl.Repeats > 0 {
		rows, err := f.admin.Query(ctx, `
			SELECT run_id::text || '/' || step || ' ' || count(*) || 'x' FROM fault_exec
			GROUP BY run_id, step HAVING count(*) > 1 LIMIT 10`)
		require.NoError(t, err)
		examples, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		t.Errorf("%d step bodies executed more than once with no crash, for example %v", tl.Repeats, examples)
	}
	require.Equal(t, 3*tl.Runs, tl.Executions, "step bodies executed: three per run")

	var jobs int
	require.NoError(t, f.admin.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'flow_run'`).Scan(&jobs))
	t.Logf("runs %d, step executions %d, executed twice 0, stored steps executed again %d; River jobs %d (4 per run: start, two sleeps, wait); client log lines %d",
		tl.Runs, tl.Executions, tl.Reexecuted, jobs, logs.total())
}
