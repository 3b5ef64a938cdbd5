package faults

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
)

// sender sends start events at a steady rate and remembers the IDs of the
// events whose Send succeeded. A Send that fails (the database restarting)
// may or may not have committed: the checks count on neither.
type sender struct {
	c         *flow.Client
	countOnly bool // keep no IDs (long runs): verify then cannot check for lost sends
	next      atomic.Int64
	n         atomic.Int64 // events sent successfully

	mu     sync.Mutex
	ids    []string
	errors int
}

// send sends n events, batch at a time, one batch every interval, and
// returns when done or when ctx ends.
func (s *sender) send(ctx context.Context, n, batch int, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for sent := 0; sent < n; {
		k := min(batch, n-sent)
		events := make([]flow.Event, k)
		for i := range events {
			events[i] = flow.Event{Name: startEvent, Data: startData{Key: fmt.Sprint("k", s.next.Add(1))}}
		}
		ids, err := s.c.Send(ctx, events...)
		s.mu.Lock()
		if err != nil {
			s.errors++
		} else {
			if !s.countOnly {
				s.ids = append(s.ids, ids...)
			}
			s.n.Add(int64(len(ids)))
			sent += k
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// count returns the number of events sent successfully.
func (s *sender) count() int { return int(s.n.Load()) }

// sent returns the IDs of the events sent successfully, and the number of
// failed Send calls.
func (s *sender) sent() ([]string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ids...), s.errors
}

// wakeWaiting sends, every 50 ms until ctx ends, the wake event of every
// run that waits for one. Send errors are ignored: the next round retries.
func wakeWaiting(ctx context.Context, c *flow.Client, admin *pgxpool.Pool) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rows, err := admin.Query(ctx, `
			SELECT e.data->>'key' FROM flow_run r JOIN flow_event e ON e.id = r.event_id
			WHERE r.status = 'waiting'`)
		if err != nil {
			continue
		}
		keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || len(keys) == 0 {
			continue
		}
		events := make([]flow.Event, len(keys))
		for i, k := range keys {
			events[i] = flow.Event{Name: wakeEvent, Data: startData{Key: k}}
		}
		_, _ = c.Send(ctx, events...)
	}
}

// goWake runs wakeWaiting until the test ends.
func goWake(t *testing.T, c *flow.Client, admin *pgxpool.Pool) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		wakeWaiting(ctx, c, admin)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// statusCounts returns the number of runs by status.
func statusCounts(ctx context.Context, admin *pgxpool.Pool) (map[string]int, error) {
	rows, err := admin.Query(ctx, `SELECT status, count(*)::int FROM flow_run GROUP BY status`)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	var status string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&status, &n}, func() error {
		out[status] = n
		return nil
	})
	return out, err
}

// awaitEnded waits until at least want runs exist and every run has ended.
func awaitEnded(t *testing.T, admin *pgxpool.Pool, want int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last map[string]int
	for time.Now().Before(deadline) {
		counts, err := statusCounts(t.Context(), admin)
		if err == nil {
			last = counts
			total, ended := 0, 0
			for st, n := range counts {
				total += n
				if st == "completed" || st == "failed" || st == "cancelled" {
					ended += n
				}
			}
			if total >= want && ended == total {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("runs did not all end within %s: want at least %d runs, have by status %v; some not ended: %v",
		timeout, want, last, notEnded(admin))
}

// notEnded describes a few runs that have not ended, with their River jobs.
func notEnded(admin *pgxpool.Pool) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := admin.Query(ctx, `
		SELECT format('run %s %s gen %s lease %s until %s; job %s: %s',
		       r.id, r.status, r.gen, r.lease_owner, r.lease_expires_at, r.job_id,
		       (SELECT string_agg(format('%s %s gen %s attempt %s by %s at %s', j.id, j.state, j.args->>'gen',
		                                 j.attempt, j.attempted_by, j.attempted_at), '; ' ORDER BY j.id)
		        FROM river_job j WHERE j.args->>'run_id' = r.id::text))
		FROM flow_run r WHERE r.status NOT IN ('completed', 'failed', 'cancelled') LIMIT 5`)
	if err != nil {
		return []string{err.Error()}
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return []string{err.Error()}
	}
	return out
}

// tally is what verify found.
type tally struct {
	Runs        int // runs, all completed
	Events      int // start events stored
	Executions  int // step bodies executed, in all
	Repeats     int // executions beyond the first, per (run, step)
	Reexecuted  int // executions of a step whose result was stored already
	LostSends   int // events whose Send succeeded but that are not stored
	FailedSends int // Send calls that failed
}

// verify checks the end state of a fault test's database: every start event
// has exactly one run and every run one event; every event whose Send
// succeeded is stored; every run completed with its three steps; StepTx b
// committed exactly once per run; and no step body executed while its result
// was stored.
func verify(t *testing.T, admin *pgxpool.Pool, s *sender) tally {
	t.Helper()
	ctx := t.Context()
	var tl tally
	ids, failed := s.sent()
	tl.FailedSends = failed

	var stored int
	require.NoError(t, admin.QueryRow(ctx, `SELECT count(*) FROM flow_event WHERE id = ANY($1::uuid[])`, ids).Scan(&stored))
	tl.LostSends = len(ids) - stored
	require.Zero(t, tl.LostSends, "events whose Send succeeded are missing")

	require.NoError(t, admin.QueryRow(ctx, `SELECT count(*) FROM flow_event WHERE name = $1`, startEvent).Scan(&tl.Events))
	var badEvents, orphanRuns int
	require.NoError(t, admin.QueryRow(ctx, `
		SELECT count(*) FROM flow_event e
		WHERE e.name = $1 AND (SELECT count(*) FROM flow_run r WHERE r.event_id = e.id) <> 1`, startEvent).Scan(&badEvents))
	require.Zero(t, badEvents, "start events without a run or with several")
	require.NoError(t, admin.QueryRow(ctx, `
		SELECT count(*) FROM flow_run r WHERE NOT EXISTS (SELECT 1 FROM flow_event e WHERE e.id = r.event_id)`).Scan(&orphanRuns))
	require.Zero(t, orphanRuns, "runs without their event")

	counts, err := statusCounts(ctx, admin)
	require.NoError(t, err)
	tl.Runs = counts["completed"]
	require.Equal(t, map[string]int{"completed": tl.Events}, counts, "runs by status")

	var steps int
	require.NoError(t, admin.QueryRow(ctx, `
		SELECT count(*) FROM flow_step WHERE id IN ('a', 'b', 'c') AND status = 'completed'`).Scan(&steps))
	require.Equal(t, 3*tl.Runs, steps, "completed steps a, b and c")

	var txRuns, txRows int
	require.NoError(t, admin.QueryRow(ctx, `SELECT count(DISTINCT run_id), count(*) FROM fault_tx`).Scan(&txRuns, &txRows))
	require.Equal(t, tl.Runs, txRuns, "runs whose StepTx b committed")
	require.Equal(t, tl.Runs, txRows, "commits of StepTx b: one per run")

	require.NoError(t, admin.QueryRow(ctx, `
		SELECT count(*), count(*) FILTER (WHERE stored), count(*) - count(DISTINCT (run_id, step)) FROM fault_exec`,
	).Scan(&tl.Executions, &tl.Reexecuted, &tl.Repeats))
	if tl.Reexecuted > 0 {
		rows, err := admin.Query(ctx, `SELECT run_id::text || '/' || step || ' pid ' || pid FROM fault_exec WHERE stored LIMIT 10`)
		require.NoError(t, err)
		examples, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		t.Errorf("%d executions of a step whose result was stored already, for example %v", tl.Reexecuted, examples)
	}
	return tl
}

// timeline describes a run's steps and River jobs with their times, for
// failure messages.
func timeline(admin *pgxpool.Pool, runID string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out string
	err := admin.QueryRow(ctx, `
		SELECT format('run %s %s created %s ended %s; steps: %s; jobs: %s', r.id, r.status,
		    to_char(r.created_at, 'HH24:MI:SS.MS'), to_char(r.ended_at, 'HH24:MI:SS.MS'),
		    (SELECT string_agg(format('%s %s x%s %s-%s', s.id, s.status, s.attempts,
		        to_char(s.started_at, 'HH24:MI:SS.MS'), to_char(s.ended_at, 'HH24:MI:SS.MS')), ', ' ORDER BY s.seq)
		     FROM flow_step s WHERE s.run_id = r.id),
		    (SELECT string_agg(format('%s gen %s %s created %s scheduled %s attempted %s by %s finalized %s', j.id, j.args->>'gen', j.state,
		        to_char(j.created_at, 'HH24:MI:SS.MS'), to_char(j.scheduled_at, 'HH24:MI:SS.MS'),
		        to_char(j.attempted_at, 'HH24:MI:SS.MS'), j.attempted_by, to_char(j.finalized_at, 'HH24:MI:SS.MS')), ', ' ORDER BY j.id)
		     FROM river_job j WHERE j.args->>'run_id' = r.id::text))
		FROM flow_run r WHERE r.id = $1`, runID).Scan(&out)
	if err != nil {
		return err.Error()
	}
	return out
}
