package flow_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
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

// resumePool is recoveryPool that never pings a connection before handing
// it out: a killed connection fails the first statement sent on it, as one
// killed in the middle of its work does, whoever uses it next.
func resumePool(t *testing.T, dbURL string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dbURL)
	require.NoError(t, err)
	cfg.MaxConns = 10
	cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
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
	c := flowtest.ClientOn(t, pool, recoveryConfig("resume-killed", 0), func(c *flow.Client) { // the default lease: 30 s
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
				cc, err := flow.Step(ctx, "c", func(context.Context) (int, error) { bodies.add("c"); return 1, nil })
				if err != nil {
					return nil, err
				}
				return a + b + cc, nil
			})
		require.NoError(t, err)
	})

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
	t.Logf("executions: a %d, b %d, c %d", bodies.get("a"), bodies.get("b"), bodies.get("c"))
	require.Equal(t, 1, bodies.get("a"), "step a was stored before the kill: it must not run again")
	// Step b's result was lost with its connection: it runs again (once more
	// for each later save that meets another killed connection), but never
	// while an earlier execution still runs.
	require.GreaterOrEqual(t, bodies.get("b"), 2, "executions of step b")
	require.EqualValues(t, 1, maxInFlight.Load(), "step b executed twice at once")
}

// TestResumeWakesAfterConnectionsKilled kills every backend connection of a
// started client while one run waits for an event and another sleeps for a
// second: afterwards a Send still resumes the waiting run, and the sleeper
// still wakes, each well within River's 5 s scheduler fallback.
func TestResumeWakesAfterConnectionsKilled(t *testing.T) {
	t.Parallel()
	dbURL := flowtest.DatabaseURL(t)
	pool := resumePool(t, dbURL)
	admin := resumeAdmin(t, dbURL)
	ctx := testCtx(t)

	c := flowtest.ClientOn(t, pool, recoveryConfig("resume-wakes", 0), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "resume/wait"}, flow.EventTrigger("resume/wait"),
			func(ctx context.Context, in flow.Input[map[string]string]) (any, error) {
				ev, err := flow.WaitForEvent[map[string]string](ctx, "go", flow.WaitOpts{Event: "resume/go", Match: "data.k", Timeout: time.Minute})
				if err != nil {
					return nil, err
				}
				return ev.Data["v"], nil
			})
		require.NoError(t, err)
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "resume/sleep"}, flow.EventTrigger("resume/sleep"),
			func(ctx context.Context, in flow.Input[struct{}]) (any, error) {
				return "rested", flow.Sleep(ctx, "nap", time.Second)
			})
		require.NoError(t, err)
	})

	waiter := sendOne(t, c, flow.Event{Name: "resume/wait", Data: map[string]string{"k": "x"}})[0]
	waitUntilWaiting(t, c, waiter)
	sleeper := sendOne(t, c, flow.Event{Name: "resume/sleep"})[0]
	require.Eventually(t, func() bool {
		run, err := c.GetRun(ctx, sleeper)
		require.NoError(t, err)
		return run.Status == flow.RunSleeping
	}, 20*time.Second, 2*time.Millisecond, "the sleeper never slept")
	killed := resumeKillBackends(t, admin)

	// The sender's own first statements may meet killed connections: send
	// again with the same event ID (a repeat is ignored) until it is stored.
	var sentAt time.Time
	require.Eventually(t, func() bool {
		_, err := c.Send(ctx, flow.Event{ID: "resume-go-x", Name: "resume/go", Data: map[string]string{"k": "x", "v": "went"}})
		if err != nil {
			t.Logf("send: %v", err)
			return false
		}
		sentAt = time.Now()
		return true
	}, 20*time.Second, 10*time.Millisecond, "the event was never sent")

	waited := resumeAwait(t, c, waiter, 20*time.Second)
	require.Equal(t, flow.RunCompleted, waited.Status, waited.Error)
	require.JSONEq(t, `"went"`, string(waited.Output))
	resumedIn := waited.EndedAt.Sub(sentAt)

	slept := resumeAwait(t, c, sleeper, 20*time.Second)
	require.Equal(t, flow.RunCompleted, slept.Status, slept.Error)
	nap := waitStep(t, slept, "nap")
	require.NotNil(t, nap.WakeAt)
	late := slept.EndedAt.Sub(*nap.WakeAt)

	t.Logf("killed %d backends; the waiting run ended %s after the Send; the sleeper woke %s after its wake time",
		killed, resumedIn.Round(time.Millisecond), late.Round(time.Millisecond))
	require.Less(t, resumedIn, 4*time.Second, "the waiting run resumed only by River's scheduler or later")
	require.Less(t, late, 4*time.Second, "the sleeper woke only by River's scheduler or later")
}

// resumeOutage makes the test database refuse connections and kills every
// backend of it but the admin's: to the client, the database is away until
// the returned function lets connections in again. (A database cannot
// refuse connections from a session on itself: this uses the server's
// postgres database.)
func resumeOutage(t *testing.T, dbURL string, admin *pgx.Conn) (end func()) {
	t.Helper()
	ctx := testCtx(t)
	cfg, err := pgx.ParseConfig(dbURL)
	require.NoError(t, err)
	db := cfg.Database
	cfg.Database = "postgres"
	server, err := pgx.ConnectConfig(ctx, cfg)
	require.NoError(t, err)
	ended := false
	end = func() {
		if !ended {
			ended = true
			_, err := server.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{db}.Sanitize()+` ALLOW_CONNECTIONS true`)
			require.NoError(t, err)
			require.NoError(t, server.Close(ctx))
		}
	}
	t.Cleanup(end)
	_, err = server.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{db}.Sanitize()+` ALLOW_CONNECTIONS false`)
	require.NoError(t, err)
	_, err = server.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> $2`,
		db, admin.PgConn().PID())
	require.NoError(t, err)
	return end
}

// TestResumeAfterOutage takes the database away from a started client for
// two seconds, while a run with a concurrency limit is storing a step's
// result, a second run of the function waits for its slot, and a third run
// sleeps for a second: once the database is back, the client resumes its
// own run without waiting for its 30 s lease, the waiting run gets the slot,
// and the sleeper wakes.
func TestResumeAfterOutage(t *testing.T) {
	t.Parallel()
	dbURL := flowtest.DatabaseURL(t)
	pool := recoveryPool(t, dbURL)
	admin := resumeAdmin(t, dbURL)
	ctx := testCtx(t)

	var bodies counter
	started := make(chan string, 1)
	release := make(chan struct{})
	c := flowtest.ClientOn(t, pool, recoveryConfig("resume-outage", 0), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "resume/limited", Concurrency: []flow.Concurrency{{Limit: 1}}},
			flow.EventTrigger("resume/limited"),
			func(ctx context.Context, in flow.Input[struct{}]) (any, error) {
				a, err := flow.Step(ctx, "a", func(context.Context) (int, error) { return bodies.add(in.RunID + "/a"), nil })
				if err != nil {
					return nil, err
				}
				b, err := flow.Step(ctx, "b", func(context.Context) (int, error) {
					if bodies.add(in.RunID+"/b") == 1 && bodies.add("first") == 1 {
						started <- in.RunID
						<-release
					}
					return 2, nil
				})
				if err != nil {
					return nil, err
				}
				return a + b, nil
			})
		require.NoError(t, err)
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "resume/sleeper"}, flow.EventTrigger("resume/sleeper"),
			func(ctx context.Context, in flow.Input[struct{}]) (any, error) {
				return "rested", flow.Sleep(ctx, "nap", time.Second)
			})
		require.NoError(t, err)
	})

	first := sendOne(t, c, flow.Event{Name: "resume/limited"})[0]
	var runID string
	select {
	case runID = <-started:
	case <-ctx.Done():
		t.Fatal("step b never started")
	}
	require.Equal(t, first, runID)
	second := sendOne(t, c, flow.Event{Name: "resume/limited"})[0]
	require.Eventually(t, func() bool {
		var parked bool
		require.NoError(t, admin.QueryRow(ctx, `SELECT slot_wait IS NOT NULL FROM flow_run WHERE id = $1`, second).Scan(&parked))
		return parked
	}, 20*time.Second, 5*time.Millisecond, "the second run never waited for the slot")

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
	sleeper := sendOne(t, c, flow.Event{Name: "resume/sleeper"})[0]
	require.Eventually(t, func() bool {
		var status string
		require.NoError(t, tx.QueryRow(ctx, `SELECT status FROM flow_run WHERE id = $1`, sleeper).Scan(&status))
		return status == "sleeping"
	}, 20*time.Second, 2*time.Millisecond, "the sleeper never slept")
	end := resumeOutage(t, dbURL, admin)
	require.NoError(t, tx.Rollback(ctx))
	// The database stays away for two seconds: the sleeper's wake time
	// passes meanwhile.
	timer := time.NewTimer(2 * time.Second)
	select {
	case <-timer.C:
	case <-ctx.Done():
		t.Fatal("test context ended")
	}
	end()
	back := time.Now()

	run := resumeAwait(t, c, runID, 20*time.Second)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	resumedIn := run.EndedAt.Sub(back)
	next := resumeAwait(t, c, second, 20*time.Second)
	require.Equal(t, flow.RunCompleted, next.Status, next.Error)
	slept := resumeAwait(t, c, sleeper, 20*time.Second)
	require.Equal(t, flow.RunCompleted, slept.Status, slept.Error)
	wokeIn := slept.EndedAt.Sub(back)
	t.Logf("after the database came back: the cut-off run completed in %s, the waiting run in %s, the sleeper in %s",
		resumedIn.Round(time.Millisecond), next.EndedAt.Sub(back).Round(time.Millisecond), wokeIn.Round(time.Millisecond))

	require.Less(t, resumedIn, 10*time.Second, "the owner waited for its lease to lapse")
	require.Less(t, wokeIn, 4*time.Second, "the sleeper woke only by River's scheduler or later")
	require.Equal(t, 1, bodies.get(runID+"/a"), "step a was stored before the outage: it must not run again")
}

// TestResumeSlotWakeAfterConnectionsKilled kills every backend connection
// of a started client while a run that has just ended wakes the run waiting
// for its concurrency slot: the wake is tried again as soon as the database
// answers, and the waiting run does not wait for its one-minute recheck.
func TestResumeSlotWakeAfterConnectionsKilled(t *testing.T) {
	t.Parallel()
	dbURL := flowtest.DatabaseURL(t)
	pool := recoveryPool(t, dbURL)
	admin := resumeAdmin(t, dbURL)
	ctx := testCtx(t)

	started := make(chan string, 1)
	release := make(chan struct{})
	var first atomic.Bool
	c := flowtest.ClientOn(t, pool, recoveryConfig("resume-slot", 0), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "resume/slot", Concurrency: []flow.Concurrency{{Limit: 1}}},
			flow.EventTrigger("resume/slot"),
			func(ctx context.Context, in flow.Input[struct{}]) (any, error) {
				return flow.Step(ctx, "a", func(context.Context) (string, error) {
					if first.CompareAndSwap(false, true) {
						started <- in.RunID
						<-release
					}
					return "done", nil
				})
			})
		require.NoError(t, err)
	})

	holder := sendOne(t, c, flow.Event{Name: "resume/slot"})[0]
	select {
	case id := <-started:
		require.Equal(t, holder, id)
	case <-ctx.Done():
		t.Fatal("the first run never started")
	}
	waiter := sendOne(t, c, flow.Event{Name: "resume/slot"})[0]
	require.Eventually(t, func() bool {
		var parked bool
		require.NoError(t, admin.QueryRow(ctx, `SELECT slot_wait IS NOT NULL FROM flow_run WHERE id = $1`, waiter).Scan(&parked))
		return parked
	}, 20*time.Second, 5*time.Millisecond, "the second run never waited for the slot")

	// Hold the waiting run's job, so that the first run's wake of it is in
	// flight when the connections die.
	tx, err := admin.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `SELECT 1 FROM river_job WHERE id = (SELECT job_id FROM flow_run WHERE id = $1) FOR UPDATE`, waiter)
	require.NoError(t, err)
	close(release)
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, tx.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'`).Scan(&n))
		return n > 0
	}, 20*time.Second, 5*time.Millisecond, "the waiting run was never being woken")
	resumeKillBackends(t, admin)
	killedAt := time.Now()
	require.NoError(t, tx.Rollback(ctx))

	run := resumeAwait(t, c, holder, 20*time.Second)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	next := resumeAwait(t, c, waiter, 20*time.Second)
	require.Equal(t, flow.RunCompleted, next.Status, next.Error)
	took := next.EndedAt.Sub(killedAt)
	t.Logf("the waiting run completed %s after the kill (its recheck: 1m)", took.Round(time.Millisecond))
	require.Less(t, took, 15*time.Second, "the waiting run waited for its recheck")
}

// TestResumeRunWhoseFetchWasLost marks a run's job as fetched by a started
// client that never claimed the run, as when the client's connection dies as
// River's fetch commits: the client hands the run to a new job within
// seconds, not after its 30 s lease (or River's rescuer, an hour).
func TestResumeRunWhoseFetchWasLost(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	ctx := testCtx(t)
	var bodies counter
	define := func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "resume/lost"}, flow.EventTrigger("resume/lost"),
			func(ctx context.Context, in flow.Input[struct{}]) (any, error) {
				return flow.Step(ctx, "a", func(context.Context) (int, error) { return bodies.add("a"), nil })
			})
		require.NoError(t, err)
	}
	// A client started and stopped registers the function's trigger, so
	// that a run can be made before any client that executes runs starts.
	reg := newClient(t, pool, recoveryConfig("resume-lost-register", 0))
	define(reg)
	require.NoError(t, reg.Start(ctx))
	require.NoError(t, reg.Stop(ctx))
	c := newClient(t, pool, recoveryConfig("resume-lost-fetch", 0)) // the default lease: 30 s
	define(c)
	runID := sendOne(t, c, flow.Event{Name: "resume/lost"})[0]

	// The job as River's fetch by c leaves it, with c never told.
	tag, err := pool.Exec(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now(),
		attempted_by = ARRAY['resume-lost-fetch']
		WHERE id = (SELECT job_id FROM flow_run WHERE id = $1) AND state = 'available'`, runID)
	require.NoError(t, err)
	require.EqualValues(t, 1, tag.RowsAffected())
	fetched := time.Now()
	start(t, c)

	run := resumeAwait(t, c, runID, 20*time.Second)
	took := time.Since(fetched)
	t.Logf("the run whose fetch was lost completed %s after the fetch (lease 30s)", took.Round(time.Millisecond))
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.Less(t, took, 15*time.Second, "the run waited for a lease or River's rescuer")
	require.Equal(t, 1, bodies.get("a"))
}
