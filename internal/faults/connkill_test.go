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
// default 30 s lease. The runs cut off in the middle of a segment resume
// within seconds, not after their lease lapses; sleeps wake, and waits are
// resumed by events sent after the kill.
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

	byStatus := map[string][]string{}
	rows, err := f.admin.Query(ctx, `SELECT status, id::text FROM flow_run WHERE status IN ('running', 'sleeping', 'waiting')`)
	require.NoError(t, err)
	var status, id string
	_, err = pgx.ForEachRow(rows, []any{&status, &id}, func() error {
		byStatus[status] = append(byStatus[status], id)
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

	// Each run that was running, sleeping or waiting at the kill ends within
	// seconds of it: far below the 30 s lease.
	const bound = 10 * time.Second
	var slow []string
	worst := map[string]time.Duration{}
	for status, ids := range byStatus {
		rows, err := f.admin.Query(ctx, `SELECT id::text, ended_at FROM flow_run WHERE id = ANY($1::uuid[])`, ids)
		require.NoError(t, err)
		var endedAt time.Time
		_, err = pgx.ForEachRow(rows, []any{&id, &endedAt}, func() error {
			d := endedAt.Sub(killedAt)
			worst[status] = max(worst[status], d)
			if d > bound {
				slow = append(slow, fmt.Sprintf("%s run %s ended %s after the kill", status, id, ms(d)))
			}
			return nil
		})
		require.NoError(t, err)
	}
	require.Empty(t, slow, "runs that did not end within %s of the kill", bound)
	t.Logf("runs %d, backends killed %d (LISTEN %d), at the kill running %d, sleeping %d, waiting %d; slowest end after the kill: running %s, sleeping %s, waiting %s; lost 0, stored steps executed again %d, client log lines %d",
		tl.Runs, killed, listeners, len(byStatus["running"]), len(byStatus["sleeping"]), len(byStatus["waiting"]),
		ms(worst["running"]), ms(worst["sleeping"]), ms(worst["waiting"]), tl.Reexecuted, logs.total())
}
