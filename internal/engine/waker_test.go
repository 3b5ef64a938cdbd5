package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// A started engine's waker makes a run whose wake time has passed runnable
// (queued, wake time cleared, its job available) and leaves alone one not
// yet due. River is not started: nothing else can move the job.
func TestWakerWakesDueRunsOnly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	past, future := time.Now().Add(-time.Second), time.Now().Add(time.Hour)
	due := b.insertRun(t, "wake/fn", `status = 'sleeping', gen = 1, wake_at = $2`, past)
	dueJob := b.insertJob(t, due, 1, "wake/fn", future)
	_, err := b.pool.Exec(b.ctx, `UPDATE flow_run SET job_id = $2 WHERE id = $1`, due, dueJob)
	require.NoError(t, err)
	later := b.insertRun(t, "wake/fn", `status = 'sleeping', gen = 1, wake_at = $2`, future)
	laterJob := b.insertJob(t, later, 1, "wake/fn", future)
	_, err = b.pool.Exec(b.ctx, `UPDATE flow_run SET job_id = $2 WHERE id = $1`, later, laterJob)
	require.NoError(t, err)

	b.start(t, b.newEngine(t, testConfig("waker"), false))

	eventually(t, 5*time.Second, func() bool { return b.run(t, due).Status == "queued" }, "the due run is woken")
	r := b.run(t, due)
	require.Nil(t, r.WakeAt, "its wake time is cleared")
	require.Equal(t, int32(1), r.Gen, "a wake keeps the run's gen: its job goes on")
	require.Equal(t, "available", b.jobState(t, dueJob))

	// The statement that woke the due run saw the other one and left it.
	r = b.run(t, later)
	require.Equal(t, "sleeping", r.Status)
	require.NotNil(t, r.WakeAt)
	require.Equal(t, "scheduled", b.jobState(t, laterJob))
}

// A run that another process made due while the waker waits (no wake-up was
// announced to this engine, and the earliest wake time the waker read was
// an hour away) is woken by the waker's poll: by the database's clock, no
// later than one WakePollInterval (plus slack for a loaded machine) after
// it became due.
func TestWakerPollsForRunsDueMeanwhile(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cfg := testConfig("waker")
	cfg.WakePollInterval = 300 * time.Millisecond
	// first is due at Start: once it is woken, the waker's first pass is
	// done, and it waits for its poll.
	first := b.insertRun(t, "wake/fn", `status = 'sleeping', gen = 1, wake_at = now() - interval '1 s'`)
	later := b.insertRun(t, "wake/fn", `status = 'sleeping', gen = 1, wake_at = now() + interval '1 hour'`)
	job := b.insertJob(t, later, 1, "wake/fn", time.Now().Add(time.Hour))
	_, err := b.pool.Exec(b.ctx, `UPDATE flow_run SET job_id = $2 WHERE id = $1`, later, job)
	require.NoError(t, err)
	b.start(t, b.newEngine(t, cfg, false))
	eventually(t, 5*time.Second, func() bool { return b.run(t, first).Status == "queued" }, "the waker's first pass")

	var dueAt time.Time
	require.NoError(t, b.pool.QueryRow(b.ctx,
		`UPDATE flow_run SET wake_at = clock_timestamp() WHERE id = $1 RETURNING wake_at`, later).Scan(&dueAt))
	eventually(t, 5*time.Second, func() bool { return b.run(t, later).Status == "queued" }, "the run is woken by a poll")
	require.Equal(t, "available", b.jobState(t, job))
	late := b.run(t, later).UpdatedAt.Sub(dueAt) // both by the database's clock
	require.Less(t, late, cfg.WakePollInterval+300*time.Millisecond, "woken within one poll of its wake time")
}

// Several started engines (processes) wake each due run once: one wake per
// run and one per job, whichever waker gets it.
func TestWakersWakeEachRunOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const runs = 300
	// Every update of a run or job row is logged: the wakers are the only
	// writers once the rows are in.
	_, err := b.pool.Exec(b.ctx, `
		CREATE TABLE test_write (tbl text, id text);
		CREATE FUNCTION test_log() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN INSERT INTO test_write VALUES (TG_TABLE_NAME, NEW.id::text); RETURN NULL; END $$;`)
	require.NoError(t, err)
	_, err = b.pool.Exec(b.ctx, `
		INSERT INTO flow_run (id, function_id, event_id, status, gen, wake_at, job_id)
		SELECT flow_uuid_v7(), 'wake/fn', flow_uuid_v7(), 'sleeping', 1, now() - interval '1 s', flow_job_next_id()
		FROM generate_series(1, $1)`, runs)
	require.NoError(t, err)
	_, err = b.pool.Exec(b.ctx, `
		SELECT flow_job_insert(job_id, flow_job_args(id, 1, 'wake/fn', false), 'flow', now() + interval '1 hour', false)
		FROM flow_run`)
	require.NoError(t, err)
	_, err = b.pool.Exec(b.ctx, `
		CREATE TRIGGER test_log AFTER UPDATE ON flow_run FOR EACH ROW EXECUTE FUNCTION test_log();
		CREATE TRIGGER test_log AFTER UPDATE ON river_job FOR EACH ROW EXECUTE FUNCTION test_log();`)
	require.NoError(t, err)

	// The test holds every job's row while the wakers start, and lets go
	// once each of them has reached the runs (one waits for the jobs, the
	// others skip its runs or wait for them): they race for the same runs.
	// Each engine has a pool of its own, named, to tell them apart.
	lock, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer func() { _ = lock.Rollback(b.ctx) }()
	_, err = lock.Exec(b.ctx, `SELECT 1 FROM river_job FOR UPDATE`)
	require.NoError(t, err)
	names := []string{"waker-a", "waker-b", "waker-c"}
	engines := make(chan error, len(names))
	for _, name := range names {
		pcfg := b.pool.Config().Copy()
		pcfg.ConnConfig.RuntimeParams["application_name"] = name
		pool, err := pgxpool.NewWithConfig(b.ctx, pcfg)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		e := (&testBundle{ctx: b.ctx, pool: pool}).newEngine(t, testConfig(name), false)
		t.Cleanup(func() { _ = e.Stop(b.ctx) })
		go func() { engines <- e.Start(b.ctx, func(_ context.Context) error { return nil }) }()
	}
	for range names {
		require.NoError(t, <-engines)
	}
	seen := map[string]bool{}
	eventually(t, 5*time.Second, func() bool {
		rows, err := b.pool.Query(b.ctx, `
			SELECT DISTINCT application_name FROM pg_stat_activity
			WHERE datname = current_database() AND query LIKE '-- name: RunWakeDue%'`)
		require.NoError(t, err)
		apps, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		for _, app := range apps {
			seen[app] = true
		}
		return len(seen) == len(names)
	}, "every waker reaches the runs")
	require.NoError(t, lock.Rollback(b.ctx))
	eventually(t, 5*time.Second, func() bool {
		var sleeping int
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM flow_run WHERE status = 'sleeping'`).Scan(&sleeping))
		return sleeping == 0
	}, "every run is woken")

	// Every waker's statement has ended (committed or not) before the
	// writes are counted.
	eventually(t, 5*time.Second, func() bool {
		var active int
		require.NoError(t, b.pool.QueryRow(b.ctx, `
			SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND state <> 'idle' AND query LIKE '-- name: RunWakeDue%'`).Scan(&active))
		return active == 0
	}, "the wakers are done")

	var available, twice int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM river_job WHERE state = 'available'`).Scan(&available))
	require.Equal(t, runs, available)
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		SELECT count(*) FROM (SELECT tbl, id FROM test_write GROUP BY tbl, id HAVING count(*) > 1) w`).Scan(&twice))
	var writes int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM test_write`).Scan(&writes))
	require.Zero(t, twice, "a run or job woken more than once")
	require.Equal(t, 2*runs, writes, "one write per run and per job")
}
