package faults

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// TestConnectionsKilled terminates (pg_terminate_backend) every backend of
// the client's database but the test's own, its LISTEN connections
// included, while runs execute steps, sleep and wait for events, with the
// default 30 s lease. The runs cut off in the middle of a segment go on
// (their next segment is fetched) within seconds, not after their lease
// lapses; sleepers wake within seconds of their wake time; waits are resumed
// by events sent after the kill; every run completes.
func TestConnectionsKilled(t *testing.T) {
	t.Parallel()
	runs := scale(60, 300)
	ctx, cancel := context.WithTimeout(context.Background(), scale(3*time.Minute, 10*time.Minute))
	defer cancel()
	f := newFixture(t, sharedServer(t))

	logs, logger := newLogTail(t)
	pool := f.pool(t, "faults-client", 25)
	probes := f.pool(t, "faults-probe", 5)
	c := newClient(t, pool, probes, clientConfig("connkill", 0, logger),
		shape{sleep: time.Second, work: 400 * time.Millisecond, wait: true})
	start(t, c)

	// A stream of runs, so that at the kill some execute a step, some
	// sleep and some wait (no wake event is sent before the kill).
	s := &sender{c: c}
	sendDone := make(chan struct{})
	go func() {
		defer close(sendDone)
		s.send(ctx, runs, 1, scale(50*time.Millisecond, 10*time.Millisecond))
	}()
	require.Eventually(t, func() bool {
		counts, err := statusCounts(ctx, f.admin)
		return err == nil && counts["running"] >= 3 && counts["sleeping"] >= 1 && counts["waiting"] >= 1
	}, time.Minute, 5*time.Millisecond, "runs did not reach running, sleeping and waiting at once")

	// The runs at the kill, with their gen (a resumed run's next segment
	// has a higher one, a woken sleeper's the same) and wake time.
	type atKill struct {
		id     string
		gen    int
		wakeAt *time.Time
	}
	byStatus := map[string][]atKill{}
	rows, err := f.admin.Query(ctx, `SELECT status, id::text, gen, wake_at FROM flow_run WHERE status IN ('running', 'sleeping', 'waiting')`)
	require.NoError(t, err)
	var status string
	var r atKill
	_, err = pgx.ForEachRow(rows, []any{&status, &r.id, &r.gen, &r.wakeAt}, func() error {
		byStatus[status] = append(byStatus[status], r)
		return nil
	})
	require.NoError(t, err)

	killedAt := time.Now()
	rows, err = f.admin.Query(ctx, `
		SELECT pg_terminate_backend(pid), query FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name <> $1`, adminApp)
	require.NoError(t, err)
	var terminated bool
	var query string
	killed, listeners := 0, 0
	_, err = pgx.ForEachRow(rows, []any{&terminated, &query}, func() error {
		if terminated {
			killed++
			if strings.HasPrefix(strings.ToLower(strings.TrimSpace(query)), "listen") {
				listeners++
			}
		}
		return nil
	})
	require.NoError(t, err)
	require.Positive(t, listeners, "no LISTEN connection among the %d killed", killed)

	goWake(t, c, f.admin) // waits are resumed by events sent after the kill
	<-sendDone
	// Generous: a run that waits for its lease (30 s) still ends, and
	// fails the bound below rather than this wait.
	awaitEnded(t, f.admin, runs, 2*time.Minute)
	tl := verify(t, f.admin, s)

	// Each run cut off (running at the kill) resumes, and each sleeper
	// wakes, within seconds: its next segment is fetched far sooner than
	// the 30 s lease would allow. Target 2 s; the bound has slack for a
	// loaded machine. The runs then queue for workers with the rest. The
	// short form runs beside the other packages' tests on a 2-core machine:
	// its bound is wider, still well short of the 30 s lease a run left to
	// its lease would wait.
	bound := scale(20*time.Second, 5*time.Second+raceSlack)
	var slow []string
	var slowIDs []string
	worstResume, worstEnd := map[string]time.Duration{}, map[string]time.Duration{}
	for status, runs := range byStatus {
		for _, r := range runs {
			var next *time.Time
			var endedAt time.Time
			require.NoError(t, f.admin.QueryRow(ctx, `
				SELECT (SELECT min(j.attempted_at) FROM river_job j
				        WHERE j.args->>'run_id' = r.id::text AND j.attempted_at > $2
				          AND (j.args->>'gen')::int >= $3 + CASE WHEN $4 THEN 1 ELSE 0 END),
				       r.ended_at
				FROM flow_run r WHERE r.id = $1`, r.id, killedAt, r.gen, status == "running").Scan(&next, &endedAt))
			worstEnd[status] = max(worstEnd[status], endedAt.Sub(killedAt))
			if status == "waiting" {
				continue // resumed by a wake event, whenever the test sent it
			}
			from := killedAt
			if r.wakeAt != nil && r.wakeAt.After(from) {
				from = *r.wakeAt
			}
			if next == nil {
				slow = append(slow, fmt.Sprintf("%s run %s: no segment after the kill", status, r.id))
				slowIDs = append(slowIDs, r.id)
				continue
			}
			d := next.Sub(from)
			worstResume[status] = max(worstResume[status], d)
			if d > bound {
				slow = append(slow, fmt.Sprintf("%s run %s went on %s after the kill (or its wake time)", status, r.id, ms(d)))
				slowIDs = append(slowIDs, r.id)
			}
		}
	}
	if len(slow) > 0 {
		t.Logf("killed at %s; timeline of the first: %s", killedAt.UTC().Format("15:04:05.000"), timeline(f.admin, slowIDs[0]))
	}
	require.Empty(t, slow, "runs that did not go on within %s", bound)
	t.Logf("runs %d, backends killed %d (LISTEN %d), at the kill running %d, sleeping %d, waiting %d; slowest to go on: running %s after the kill, sleeping %s after the kill or its wake time; slowest to end after the kill: running %s, sleeping %s, waiting %s; lost 0, stored steps executed again %d, client log lines %d",
		tl.Runs, killed, listeners, len(byStatus["running"]), len(byStatus["sleeping"]), len(byStatus["waiting"]),
		ms(worstResume["running"]), ms(worstResume["sleeping"]),
		ms(worstEnd["running"]), ms(worstEnd["sleeping"]), ms(worstEnd["waiting"]), tl.Reexecuted, logs.total())
}
