package riverjob_test

// One test per assumption about River's job table written down in
// doc.go, against the pinned River after Migrate. The maintenance
// services' statements (scheduler, fetch, completer, rescuer, cleaner) are
// run through River's own driver, exactly as those services run them.

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
	"github.com/riverflow/flow/internal/riverjob"
)

func TestMain(m *testing.M) { flowtest.Main(m) }

// testCtx is a context bounded by the test's deadline budget.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// assumeQueue is a queue no client works: River's statements run on its
// jobs only when a test runs them.
const assumeQueue = "assume"

// riverExec runs River's own statements on pool.
func riverExec(pool *pgxpool.Pool) riverdriver.Executor { return riverpgxv5.New(pool).GetExecutor() }

// insertJobAsWeDo inserts a job as the library's statements do: the id from
// river_job_id_seq, seven columns, the rest left to their defaults.
func insertJobAsWeDo(t *testing.T, pool *pgxpool.Pool, state string, scheduledAt time.Time) int64 {
	t.Helper()
	var id int64
	require.NoError(t, pool.QueryRow(testCtx(t), `
		INSERT INTO river_job (id, args, kind, max_attempts, queue, scheduled_at, state)
		VALUES (nextval('river_job_id_seq'), jsonb_build_object('run_id', 'r', 'gen', 0, 'fn', 'f', 'slots', false),
			$4, 25, $1, $2, $3::river_job_state)
		RETURNING id`, assumeQueue, scheduledAt, state, riverjob.Kind).Scan(&id))
	return id
}

// jobRow reads a job as River does.
func jobRow(t *testing.T, pool *pgxpool.Pool, id int64) *rivertype.JobRow {
	t.Helper()
	job, err := riverExec(pool).JobGetByID(testCtx(t), &riverdriver.JobGetByIDParams{ID: id})
	require.NoError(t, err)
	return job
}

// riverScheduleAt runs River's scheduler statement (JobSchedule) as River's
// leader does every 5 s, its look-ahead reaching horizon (River passes now +
// 5 s).
func riverScheduleAt(t *testing.T, pool *pgxpool.Pool, horizon time.Time) []int64 {
	t.Helper()
	res, err := riverExec(pool).JobSchedule(testCtx(t), &riverdriver.JobScheduleParams{Max: 10_000, Now: &horizon})
	require.NoError(t, err)
	var ids []int64
	for _, r := range res {
		require.False(t, r.ConflictDiscarded)
		ids = append(ids, r.Job.ID)
	}
	return ids
}

// riverSchedule runs River's scheduler statement now, with its 5 s look-ahead.
func riverSchedule(t *testing.T, pool *pgxpool.Pool) []int64 {
	t.Helper()
	return riverScheduleAt(t, pool, time.Now().Add(5*time.Second))
}

func TestRiverJobAssumptionVersion(t *testing.T) {
	t.Parallel()
	mod, err := os.ReadFile("../../go.mod")
	require.NoError(t, err)
	// doc.go's assumptions were checked against this version: re-check
	// each of them before changing it.
	for _, path := range []string{"github.com/riverqueue/river", "github.com/riverqueue/river/riverdriver/riverpgxv5"} {
		require.Regexp(t, `(?m)^\s*`+regexp.QuoteMeta(path)+` v0\.51\.2\b`, string(mod), path)
	}
}

// Assumption 1: the columns we write, and the defaults of the others.
func TestRiverJobAssumption1Columns(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	ctx := testCtx(t)
	rows, err := pool.Query(ctx, `
		SELECT column_name, udt_name, coalesce(column_default, '') FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'river_job'`)
	require.NoError(t, err)
	type column struct{ typ, def string }
	cols := map[string]column{}
	for rows.Next() {
		var name string
		var c column
		require.NoError(t, rows.Scan(&name, &c.typ, &c.def))
		cols[name] = c
	}
	require.NoError(t, rows.Err())
	for name, typ := range map[string]string{
		"id": "int8", "args": "jsonb", "kind": "text", "max_attempts": "int2", "queue": "text",
		"scheduled_at": "timestamptz", "state": "river_job_state",
	} {
		require.Equal(t, typ, cols[name].typ, "river_job.%s", name)
	}
	require.Contains(t, cols["id"].def, "nextval('river_job_id_seq'")

	id := insertJobAsWeDo(t, pool, "available", time.Now())
	job := jobRow(t, pool, id)
	require.Equal(t, riverjob.Kind, job.Kind)
	require.Equal(t, rivertype.JobStateAvailable, job.State)
	require.Equal(t, 0, job.Attempt)
	require.Equal(t, 1, job.Priority)
	require.Equal(t, 25, job.MaxAttempts)
	require.Equal(t, assumeQueue, job.Queue)
	require.JSONEq(t, `{}`, string(job.Metadata))
	require.Empty(t, job.Tags)
	require.Empty(t, job.Errors)
	require.Nil(t, job.UniqueKey)
	require.Nil(t, job.FinalizedAt)
}

// Assumption 2: the states.
func TestRiverJobAssumption2States(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var states []string
	require.NoError(t, pool.QueryRow(testCtx(t), "SELECT enum_range(NULL::river_job_state)::text[]").Scan(&states))
	require.ElementsMatch(t, []string{"available", "cancelled", "completed", "discarded", "pending", "retryable", "running", "scheduled"}, states)
}

// Assumption 3: River's scheduler makes jobs due within 5 s available early,
// keeping their scheduled_at, and leaves available jobs alone.
func TestRiverJobAssumption3SchedulerPromotesEarly(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	now := time.Now()
	soon := insertJobAsWeDo(t, pool, "scheduled", now.Add(3*time.Second))
	later := insertJobAsWeDo(t, pool, "scheduled", now.Add(time.Minute))
	avail := insertJobAsWeDo(t, pool, "available", now.Add(3*time.Second))
	before := jobRow(t, pool, soon).ScheduledAt

	require.Equal(t, []int64{soon}, riverSchedule(t, pool))
	job := jobRow(t, pool, soon)
	require.Equal(t, rivertype.JobStateAvailable, job.State, "made available up to 5 s early")
	require.True(t, job.ScheduledAt.Equal(before), "keeping its scheduled_at")
	require.True(t, job.ScheduledAt.After(time.Now()), "which is still ahead")
	require.Equal(t, rivertype.JobStateScheduled, jobRow(t, pool, later).State)
	require.Equal(t, rivertype.JobStateAvailable, jobRow(t, pool, avail).State)
}

// Assumption 4: River's fetch waits for an available job's scheduled_at.
func TestRiverJobAssumption4FetchHonoursScheduledAt(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	ctx := testCtx(t)
	fetch := func() []*rivertype.JobRow {
		res, err := riverExec(pool).JobGetAvailable(ctx, &riverdriver.JobGetAvailableParams{
			ClientID: "assume", MaxAttemptedBy: 100, MaxToLock: 10, Queue: assumeQueue,
		})
		require.NoError(t, err)
		return res.Jobs
	}
	id := insertJobAsWeDo(t, pool, "available", time.Now().Add(time.Hour))
	require.Empty(t, fetch(), "an available job is not taken before its scheduled_at")

	// What our wakes do: available, scheduled_at = now.
	_, err := pool.Exec(ctx, "UPDATE river_job SET scheduled_at = now() WHERE id = $1", id)
	require.NoError(t, err)
	jobs := fetch()
	require.Len(t, jobs, 1)
	require.Equal(t, id, jobs[0].ID)
	require.Equal(t, rivertype.JobStateRunning, jobs[0].State)
	require.Equal(t, 1, jobs[0].Attempt)
}

// Assumption 5: River's completion changes only a running job.
func TestRiverJobAssumption5CompleterOnlyRunning(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	ctx := testCtx(t)
	complete := func(id int64) {
		p := riverdriver.JobSetStateCompleted(id, time.Now(), nil)
		_, err := riverExec(pool).JobSetStateIfRunningMany(ctx, &riverdriver.JobSetStateIfRunningManyParams{
			ID: []int64{id}, Attempt: []*int{p.Attempt}, ErrData: [][]byte{p.ErrData}, FinalizedAt: []*time.Time{p.FinalizedAt},
			MetadataDoMerge: []bool{false}, MetadataUpdates: [][]byte{nil}, ScheduledAt: []*time.Time{p.ScheduledAt},
			State: []rivertype.JobState{p.State},
		})
		require.NoError(t, err)
	}
	for _, state := range []string{"scheduled", "available", "pending"} {
		id := insertJobAsWeDo(t, pool, state, time.Now().Add(time.Minute))
		complete(id)
		require.Equal(t, rivertype.JobState(state), jobRow(t, pool, id).State, "a %s job is left alone", state)
	}
	running := insertJobAsWeDo(t, pool, "running", time.Now())
	complete(running)
	require.Equal(t, rivertype.JobStateCompleted, jobRow(t, pool, running).State)
}

// Assumption 6: River's rescuer touches only jobs running past its horizon.
func TestRiverJobAssumption6RescuerOnlyStuckRunning(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	ctx := testCtx(t)
	stuck := insertJobAsWeDo(t, pool, "running", time.Now())
	fresh := insertJobAsWeDo(t, pool, "running", time.Now())
	sched := insertJobAsWeDo(t, pool, "scheduled", time.Now().Add(time.Minute))
	avail := insertJobAsWeDo(t, pool, "available", time.Now())
	_, err := pool.Exec(ctx, "UPDATE river_job SET attempted_at = now() - interval '2 hours', attempt = 1 WHERE id = ANY($1)", []int64{stuck, sched, avail})
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "UPDATE river_job SET attempted_at = now(), attempt = 1 WHERE id = $1", fresh)
	require.NoError(t, err)

	horizon := time.Now().Add(-time.Hour) // RescueStuckJobsAfter's default
	found, err := riverExec(pool).JobGetStuck(ctx, &riverdriver.JobGetStuckParams{Max: 100, StuckHorizon: horizon})
	require.NoError(t, err)
	require.Len(t, found, 1)
	require.Equal(t, stuck, found[0].ID)

	ids := []int64{stuck, fresh, sched, avail}
	n := len(ids)
	errs := make([][]byte, n)
	for i := range errs {
		errs[i] = []byte(`{"error":"stuck"}`)
	}
	_, err = riverExec(pool).JobRescueMany(ctx, &riverdriver.JobRescueManyParams{
		ID: ids, Error: errs, FinalizedAt: make([]*time.Time, n), ScheduledAt: slices.Repeat([]time.Time{time.Now()}, n),
		State: slices.Repeat([]string{"retryable"}, n), StuckHorizon: horizon,
	})
	require.NoError(t, err)
	require.Equal(t, rivertype.JobStateRetryable, jobRow(t, pool, stuck).State)
	require.Equal(t, rivertype.JobStateRunning, jobRow(t, pool, fresh).State)
	require.Equal(t, rivertype.JobStateScheduled, jobRow(t, pool, sched).State)
	require.Equal(t, rivertype.JobStateAvailable, jobRow(t, pool, avail).State)
}

// Assumption 7: River's cleaner deletes only finalized jobs.
func TestRiverJobAssumption7CleanerOnlyFinalized(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	ctx := testCtx(t)
	ids := map[string]int64{}
	for _, state := range []string{"scheduled", "available", "pending", "running", "retryable"} {
		ids[state] = insertJobAsWeDo(t, pool, state, time.Now().Add(-48*time.Hour))
	}
	for _, state := range []string{"completed", "cancelled", "discarded"} {
		id := insertJobAsWeDo(t, pool, "running", time.Now().Add(-48*time.Hour))
		_, err := pool.Exec(ctx, "UPDATE river_job SET state = $2::river_job_state, finalized_at = now() - interval '48 hours' WHERE id = $1", id, state)
		require.NoError(t, err)
		ids[state] = id
	}
	horizon := time.Now() // every retention period over
	deleted, err := riverExec(pool).JobDeleteBefore(ctx, &riverdriver.JobDeleteBeforeParams{
		CancelledDoDelete: true, CancelledFinalizedAtHorizon: horizon,
		CompletedDoDelete: true, CompletedFinalizedAtHorizon: horizon,
		DiscardedDoDelete: true, DiscardedFinalizedAtHorizon: horizon,
		Max: 1000,
	})
	require.NoError(t, err)
	require.Equal(t, 3, deleted)
	var left []string
	require.NoError(t, pool.QueryRow(ctx, "SELECT array_agg(state::text ORDER BY state::text) FROM river_job").Scan(&left))
	require.Equal(t, []string{"available", "pending", "retryable", "running", "scheduled"}, left)
}

type assumeArgs struct{}

func (assumeArgs) Kind() string { return "assume_job" }

// Assumption 8: the insert notification we send is one River's producer
// acts on.
func TestRiverJobAssumption8NotificationWakesProducer(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	ctx := testCtx(t)
	worked := make(chan int64, 10)
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, job *river.Job[assumeArgs]) error {
		worked <- job.ID
		return nil
	}))
	const poll = time.Minute // a job found by a poll would take this long
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Queues:            map[string]river.QueueConfig{assumeQueue: {MaxWorkers: 2}},
		Workers:           workers,
		FetchCooldown:     time.Millisecond,
		FetchPollInterval: poll,
		TestOnly:          true,
	})
	require.NoError(t, err)
	require.NoError(t, rc.Start(ctx))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, rc.Stop(ctx))
	})
	waitWorked := func(id int64, within time.Duration) {
		t.Helper()
		deadline := time.After(within)
		for {
			select {
			case got := <-worked:
				if got == id {
					return
				}
			case <-deadline:
				t.Fatalf("job %d not worked within %s", id, within)
			}
		}
	}
	// River's own insert, which notifies: once it is worked, the producer
	// listens and has done its first fetch.
	res, err := rc.Insert(ctx, assumeArgs{}, &river.InsertOpts{Queue: assumeQueue})
	require.NoError(t, err)
	waitWorked(res.Job.ID, 30*time.Second)

	var id int64
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `
			INSERT INTO river_job (id, args, kind, max_attempts, queue, scheduled_at, state)
			VALUES (nextval('river_job_id_seq'), '{}', 'assume_job', 25, $1, now(), 'available') RETURNING id`, assumeQueue).Scan(&id); err != nil {
			return err
		}
		// The notification as our statements send it.
		_, err := tx.Exec(ctx, "SELECT pg_notify(current_schema() || '.river_insert', json_build_object('queue', $1::text)::text)", assumeQueue)
		return err
	})
	require.NoError(t, err)
	start := time.Now()
	waitWorked(id, 20*time.Second) // well under the poll interval
	t.Logf("a job made available by SQL with our notification was worked in %s (poll interval %s)", time.Since(start).Round(time.Millisecond), poll)
}

// Assumption 9: the args, kind, max_attempts and queue we write in SQL are
// those River's insert of RunArgs writes.
func TestRiverJobAssumption9ArgsAsRiverWritesThem(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c, err := flow.NewClient(pool, nil)
	require.NoError(t, err)
	nap := func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
		return nil, flow.Sleep(ctx, "nap", time.Millisecond)
	}
	_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "plain"}, flow.EventTrigger("job/plain"), nap)
	require.NoError(t, err)
	_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "slotted", Concurrency: []flow.Concurrency{{Limit: 5}}}, flow.EventTrigger("job/slotted"), nap)
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, c.Stop(ctx))
	})
	for _, name := range []string{"job/plain", "job/slotted"} {
		run := flowtest.RunEvent(t, c, flow.Event{Name: name})
		require.Equal(t, flow.RunCompleted, run.Status, run.Error)
		rows, err := pool.Query(testCtx(t), `
			SELECT args, kind, max_attempts, queue, priority FROM river_job WHERE args->>'run_id' = $1 ORDER BY id`, run.ID)
		require.NoError(t, err)
		type job struct {
			args        map[string]any
			kind, queue string
			maxAttempts int16
			priority    int16
		}
		var jobs []job
		for rows.Next() {
			var j job
			var raw []byte
			require.NoError(t, rows.Scan(&raw, &j.kind, &j.maxAttempts, &j.queue, &j.priority))
			require.NoError(t, json.Unmarshal(raw, &j.args))
			jobs = append(jobs, j)
		}
		require.NoError(t, rows.Err())
		require.Len(t, jobs, 2, "%s: the first job (our SQL) and the continuation (River's insert)", name)
		sqlJob, riverJob := jobs[0], jobs[1]
		if sqlJob.args["slots"] == false {
			delete(sqlJob.args, "slots") // River's encoding omits a false slots
		}
		require.Equal(t, slices.Sorted(maps.Keys(riverJob.args)), slices.Sorted(maps.Keys(sqlJob.args)), name)
		require.Equal(t, float64(0), sqlJob.args["gen"])
		require.Equal(t, float64(1), riverJob.args["gen"])
		for _, k := range []string{"run_id", "fn", "slots"} {
			require.Equal(t, riverJob.args[k], sqlJob.args[k], "%s: args.%s", name, k)
		}
		require.Equal(t, riverJob.kind, sqlJob.kind)
		require.Equal(t, int16(river.MaxAttemptsDefault), sqlJob.maxAttempts)
		require.Equal(t, riverJob.maxAttempts, sqlJob.maxAttempts)
		require.Equal(t, riverJob.queue, sqlJob.queue)
		require.Equal(t, riverJob.priority, sqlJob.priority)
	}
}
