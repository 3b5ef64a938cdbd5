package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
)

// workerLease is the LeaseTTL of TestWorkersKilled's worker processes: a
// run cut off by a kill must finish within workerLease + 2 s of it.
const workerLease = 2 * time.Second

// workerShape is what the killed workers' function does: short sleeps and
// steps, so that a run taken over after a kill has little left to do.
var workerShape = shape{sleep: 50 * time.Millisecond, work: 100 * time.Millisecond}

// TestWorkersKilled kills worker processes with SIGKILL at random points of
// a steady load, repeatedly, starting a new worker after each kill. No run
// is lost, no stored step executes again, and each run the kill cut off
// (running on the killed worker) finishes within the lease TTL plus 2 s.
func TestWorkersKilled(t *testing.T) {
	t.Parallel()
	var (
		kills = scale(5, 20)
		batch = scale(2, 5) // per 50 ms: 40 runs/s short, 100 runs/s full
	)
	ctx, cancel := context.WithTimeout(context.Background(), scale(3*time.Minute, 15*time.Minute))
	defer cancel()
	f := newFixture(t, sharedServer(t))

	// The test's own client only sends; the workers execute.
	c, err := flow.NewClient(f.pool(t, "faults-sender", 5), clientConfig("sender", workerLease, nil))
	require.NoError(t, err)
	require.NoError(t, defineFunction(c, nil, workerShape))

	w := startWorker(t, f.url, "worker-0", workerKill, nil)
	require.Eventually(t, func() bool { // the worker registered the function
		var n int
		err := f.admin.QueryRow(ctx, `SELECT count(*) FROM flow_trigger WHERE function_id = $1`, functionID).Scan(&n)
		return err == nil && n > 0
	}, time.Minute, 20*time.Millisecond, "the first worker did not start")

	s := &sender{c: c}
	sendCtx, stopSending := context.WithCancel(ctx)
	defer stopSending()
	sendDone := make(chan struct{})
	go func() {
		defer close(sendDone)
		s.send(sendCtx, 1<<30, batch, 50*time.Millisecond)
	}()

	// The target is workerLease + 2 s; the race detector's slowdown on a
	// loaded machine gets some slack (RELIABILITY.md has the figures of a
	// full run without it).
	target := workerLease + 2*time.Second
	bound := target + raceSlack
	var (
		cutOff     int
		overTarget int
		worst      time.Duration
		tooSlow    []string
		slowIDs    []string
	)
	for k := 1; k <= kills; k++ {
		// A random point: the load goes on for a random while (the runs the
		// previous kill cut off have ended).
		time.Sleep(500*time.Millisecond + rand.N(2*time.Second))
		killedAt := time.Now()
		w.kill()
		var ids []string
		// Cut off: the runs the killed worker was executing, and those whose
		// job it had fetched but not yet claimed them with.
		rows, err := f.admin.Query(ctx, `
			SELECT r.id::text FROM flow_run r
			WHERE (r.status = 'running' AND r.lease_owner = $1)
			   OR (r.status = 'queued' AND EXISTS (
			       SELECT 1 FROM river_job j WHERE j.id = r.job_id AND j.state = 'running' AND $1 = ANY(j.attempted_by)))`, w.id)
		require.NoError(t, err)
		ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		w = startWorker(t, f.url, fmt.Sprint("worker-", k), workerKill, nil)

		// Each run cut off must end within bound: wait until all have ended
		// or bound has passed (with slack for the query), before the next
		// kill.
		for time.Since(killedAt) < bound+200*time.Millisecond {
			var open int
			err := f.admin.QueryRow(ctx, `SELECT count(*) FROM flow_run WHERE id = ANY($1::uuid[]) AND ended_at IS NULL`, ids).Scan(&open)
			require.NoError(t, err)
			if open == 0 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		rows, err = f.admin.Query(ctx, `SELECT id::text, ended_at FROM flow_run WHERE id = ANY($1::uuid[])`, ids)
		require.NoError(t, err)
		var id string
		var endedAt *time.Time
		_, err = pgx.ForEachRow(rows, []any{&id, &endedAt}, func() error {
			cutOff++
			if endedAt == nil {
				tooSlow = append(tooSlow, fmt.Sprintf("run %s (kill %d) not ended after %s", id, k, ms(time.Since(killedAt))))
				slowIDs = append(slowIDs, id)
				return nil
			}
			d := endedAt.Sub(killedAt)
			worst = max(worst, d)
			if d > target {
				overTarget++
			}
			if d > bound {
				tooSlow = append(tooSlow, fmt.Sprintf("run %s (kill %d) ended %s after it", id, k, ms(d)))
				slowIDs = append(slowIDs, id)
			}
			return nil
		})
		require.NoError(t, err)
		t.Logf("kill %d at %s: %d runs cut off", k, killedAt.UTC().Format("15:04:05.000"), len(ids))
	}
	stopSending()
	<-sendDone

	ids, _ := s.sent()
	awaitEnded(t, f.admin, len(ids), 2*time.Minute)
	tl := verify(t, f.admin, s)
	require.Positive(t, cutOff, "no kill cut a run off: the test tests nothing")
	if len(tooSlow) > 0 {
		t.Logf("timeline of the first: %s", timeline(f.admin, slowIDs[0]))
	}
	require.Empty(t, tooSlow, "runs cut off by a kill that did not finish within %s (LeaseTTL %s + 2 s, + %s under the race detector)", bound, workerLease, raceSlack)
	t.Logf("runs %d, kills %d, runs cut off %d, lost 0, stored steps executed again %d, bodies executed again after a kill cut them off %d, slowest finish after a kill %s (target %s, bound %s), runs over the target %d",
		tl.Runs, kills, cutOff, tl.Reexecuted, tl.Repeats, ms(worst), ms(target), ms(bound), overTarget)
}
