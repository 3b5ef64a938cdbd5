package flow_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// recoveryHelperEnv names the database URL of the helper process of
// TestRecoveryKilledWorker; the helper test does nothing without it.
const recoveryHelperEnv = "FLOW_RECOVERY_HELPER_DB_URL"

// recoveryPool opens a pool of its own on the database at dbURL, closed when
// the test ends (after the clients using it have stopped).
func recoveryPool(t *testing.T, dbURL string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dbURL)
	require.NoError(t, err)
	cfg.MaxConns = 10
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// recoveryConfig is testConfig with a client ID and a lease TTL (zero: the
// default).
func recoveryConfig(id string, leaseTTL time.Duration) *flow.Config {
	cfg := testConfig()
	cfg.ID = id
	cfg.LeaseTTL = leaseTTL
	return cfg
}

// recoveryJob is a flow run job as River stores it.
type recoveryJob struct {
	ID    int64
	State string
	Gen   int
}

// recoveryJobsSettled returns River's jobs for a run once none is running
// (River records a job's completion asynchronously after its segment).
func recoveryJobsSettled(t *testing.T, pool *pgxpool.Pool, runID string) []recoveryJob {
	t.Helper()
	var jobs []recoveryJob
	require.Eventually(t, func() bool {
		jobs = recoveryJobs(t, pool, runID)
		for _, j := range jobs {
			if j.State == "running" {
				return false
			}
		}
		return true
	}, 10*time.Second, 10*time.Millisecond, "jobs of run %s stayed running", runID)
	return jobs
}

// recoveryJobs returns River's jobs for a run, oldest first.
func recoveryJobs(t *testing.T, pool *pgxpool.Pool, runID string) []recoveryJob {
	t.Helper()
	rows, err := pool.Query(testCtx(t),
		`SELECT id, state::text, (args->>'gen')::int FROM river_job WHERE args->>'run_id' = $1 ORDER BY id`, runID)
	require.NoError(t, err)
	jobs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (recoveryJob, error) {
		var j recoveryJob
		err := row.Scan(&j.ID, &j.State, &j.Gen)
		return j, err
	})
	require.NoError(t, err)
	return jobs
}

// TestRecoveryTwoClientsShareRuns runs 40 runs of a function defined on two
// started clients of one database: every run completes and every step body
// executes exactly once, whichever client executes each segment.
func TestRecoveryTwoClientsShareRuns(t *testing.T) {
	t.Parallel()
	const runs = 40
	dbURL := flowtest.DatabaseURL(t)
	poolA, poolB := recoveryPool(t, dbURL), recoveryPool(t, dbURL)
	ctx := testCtx(t)
	_, err := poolA.Exec(ctx, `CREATE TABLE recovery_exec (run_id text NOT NULL, step text NOT NULL, client text NOT NULL)`)
	require.NoError(t, err)

	var bodies counter           // step body executions, both clients
	var segments [2]atomic.Int64 // handler calls (segments) per client
	clients := make([]*flow.Client, 2)
	for i, pool := range []*pgxpool.Pool{poolA, poolB} {
		name := fmt.Sprintf("client-%d", i)
		clients[i] = flowtest.ClientOn(t, pool, recoveryConfig(name, 0), func(c *flow.Client) {
			_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "recovery/share"}, flow.EventTrigger("recovery/share"),
				func(ctx context.Context, in flow.Input[struct{}]) (any, error) {
					segments[i].Add(1)
					a, err := flow.Step(ctx, "a", func(context.Context) (string, error) {
						bodies.add(in.RunID + "/a")
						return name, nil
					})
					if err != nil {
						return nil, err
					}
					if err := flow.Sleep(ctx, "nap", 20*time.Millisecond); err != nil {
						return nil, err
					}
					b, err := flow.StepTx(ctx, "b", func(ctx context.Context, tx pgx.Tx) (string, error) {
						bodies.add(in.RunID + "/b")
						_, err := tx.Exec(ctx, `INSERT INTO recovery_exec (run_id, step, client) VALUES ($1, 'b', $2)`, in.RunID, name)
						return name, err
					})
					if err != nil {
						return nil, err
					}
					cc, err := flow.Step(ctx, "c", func(context.Context) (string, error) {
						bodies.add(in.RunID + "/c")
						return name, nil
					})
					if err != nil {
						return nil, err
					}
					return []string{a, b, cc}, nil
				})
			require.NoError(t, err)
		})
	}

	events := make([]flow.Event, runs)
	for i := range events {
		events[i] = flow.Event{Name: "recovery/share", Data: map[string]int{"n": i}}
	}
	_, err = clients[0].Send(ctx, events...)
	require.NoError(t, err)
	list, err := clients[0].ListRuns(ctx, flow.RunFilter{FunctionID: "recovery/share", Limit: 1000})
	require.NoError(t, err)
	require.Len(t, list, runs)

	hopped := 0
	for i, r := range list {
		run, err := clients[i%2].AwaitRun(ctx, r.ID)
		require.NoError(t, err)
		require.Equal(t, flow.RunCompleted, run.Status, run.Error)
		var out []string
		require.NoError(t, run.DecodeOutput(&out))
		require.Len(t, out, 3)
		if out[0] != out[2] {
			hopped++
		}

		require.Len(t, run.Steps, 4, "run %s", run.ID)
		for j, id := range []string{"a", "nap", "b", "c"} {
			st := run.Steps[j]
			require.Equal(t, id, st.ID)
			require.Equal(t, "completed", st.Status, "run %s step %s", run.ID, id)
			require.Equal(t, 1, st.Attempts, "run %s step %s", run.ID, id)
		}
		for _, step := range []string{"a", "b", "c"} {
			require.Equal(t, 1, bodies.get(run.ID+"/"+step), "executions of step %s of run %s", step, run.ID)
		}

		var rows int
		require.NoError(t, poolA.QueryRow(ctx, `SELECT count(*) FROM recovery_exec WHERE run_id = $1`, run.ID).Scan(&rows))
		require.Equal(t, 1, rows, "committed executions of StepTx b of run %s", run.ID)

		// One job per segment (start, then the wake-up after the sleep), each
		// completed once its segment returned.
		jobs := recoveryJobsSettled(t, poolA, run.ID)
		require.Len(t, jobs, 2, "jobs of run %s", run.ID)
		for _, j := range jobs {
			require.Equal(t, "completed", j.State, "job %d of run %s", j.ID, run.ID)
		}
	}
	require.Equal(t, 3*runs, bodies.total(), "step bodies executed in all")
	t.Logf("segments: %s %d, %s %d; runs whose steps a and c ran on different clients: %d",
		"client-0", segments[0].Load(), "client-1", segments[1].Load(), hopped)
}

// recoveryKilledFunction defines the function of TestRecoveryKilledWorker on
// c: a StepTx "first" that inserts a row, then a step "slow" that runs slow.
// One run at a time executes (a concurrency limit of 1), so the killed
// process also holds the function's one slot.
func recoveryKilledFunction(t *testing.T, c *flow.Client, firstRuns *atomic.Int64,
	slow func(ctx context.Context, runID string) (string, error)) {
	t.Helper()
	_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "recovery/killed", Concurrency: []flow.Concurrency{{Limit: 1}}},
		flow.EventTrigger("recovery/killed"),
		func(ctx context.Context, in flow.Input[struct{}]) (any, error) {
			first, err := flow.StepTx(ctx, "first", func(ctx context.Context, tx pgx.Tx) (string, error) {
				firstRuns.Add(1)
				_, err := tx.Exec(ctx, `INSERT INTO recovery_first (run_id) VALUES ($1)`, in.RunID)
				return "first done", err
			})
			if err != nil {
				return nil, err
			}
			s, err := flow.Step(ctx, "slow", func(ctx context.Context) (string, error) { return slow(ctx, in.RunID) })
			if err != nil {
				return nil, err
			}
			return first + ", " + s, nil
		})
	require.NoError(t, err)
}

// TestRecoveryHelperProcess is the worker process that
// TestRecoveryKilledWorker starts and kills; it does nothing on its own.
func TestRecoveryHelperProcess(t *testing.T) {
	t.Parallel()
	dbURL := os.Getenv(recoveryHelperEnv)
	if dbURL == "" {
		t.Skip("the worker process of TestRecoveryKilledWorker")
	}
	// Killed by the parent long before; this bounds an orphaned helper.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pool := recoveryPool(t, dbURL)
	var firstRuns atomic.Int64

	c := flowtest.ClientOn(t, pool, recoveryConfig("recovery-helper", time.Second), func(c *flow.Client) {
		recoveryKilledFunction(t, c, &firstRuns, func(ctx context.Context, runID string) (string, error) {
			if _, err := pool.Exec(ctx, `INSERT INTO recovery_signal (run_id) VALUES ($1)`, runID); err != nil {
				return "", err
			}
			<-ctx.Done() // blocks until the process is killed
			return "", ctx.Err()
		})
	})
	_, err := c.Send(ctx, flow.Event{Name: "recovery/killed"})
	require.NoError(t, err)
	<-ctx.Done()
	t.Fatal("helper process was not killed")
}

// TestRecoveryKilledWorker kills (SIGKILL) a worker process in the middle of
// a step; another client takes the run over once its lease lapses, replays
// the step stored before the kill without executing it again, and completes
// the run.
func TestRecoveryKilledWorker(t *testing.T) {
	t.Parallel()
	dbURL := flowtest.DatabaseURL(t)
	pool := recoveryPool(t, dbURL)
	ctx := testCtx(t)
	_, err := pool.Exec(ctx, `CREATE TABLE recovery_first (run_id text NOT NULL);
		CREATE TABLE recovery_signal (run_id text NOT NULL)`)
	require.NoError(t, err)

	cmd := exec.Command(os.Args[0], "-test.run=^TestRecoveryHelperProcess$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), recoveryHelperEnv+"="+dbURL)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("helper process output:\n%s", out.String())
		}
	})

	// Wait for the helper to be inside step "slow".
	var runID string
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for runID == "" {
		select {
		case <-exited:
			t.Fatalf("helper process exited before its step started: %v", waitErr)
		case <-deadline.C:
			t.Fatal("helper process's step did not start within 30s")
		case <-tick.C:
		}
		err := pool.QueryRow(ctx, `SELECT run_id FROM recovery_signal`).Scan(&runID)
		if !errors.Is(err, pgx.ErrNoRows) {
			require.NoError(t, err)
		}
	}
	require.NoError(t, cmd.Process.Kill())
	<-exited

	// The client that takes over has a fast "slow" step.
	c := newClient(t, pool, recoveryConfig("recovery-survivor", time.Second))
	var firstRuns, slowRuns atomic.Int64
	recoveryKilledFunction(t, c, &firstRuns, func(context.Context, string) (string, error) {
		slowRuns.Add(1)
		return "slow done", nil
	})
	before, err := c.GetRun(ctx, runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunRunning, before.Status, "the killed process held the run")
	// A second run waits for the slot the killed process held.
	second := sendOne(t, c, flow.Event{Name: "recovery/killed"})
	require.Len(t, second, 1)
	start(t, c)

	awaitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	run, err := c.AwaitRun(awaitCtx, runID)
	require.NoError(t, err, "the surviving client did not finish the run of the killed process")
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	var output string
	require.NoError(t, run.DecodeOutput(&output))
	require.Equal(t, "first done, slow done", output)

	// The taken-over run's slot passes on: the second run completes well
	// before a waiting run's recheck (a minute) would start it.
	run2, err := c.AwaitRun(awaitCtx, second[0])
	require.NoError(t, err, "the run waiting for the dead process's slot did not finish")
	require.Equal(t, flow.RunCompleted, run2.Status, run2.Error)

	var rows int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM recovery_first WHERE run_id = $1`, runID).Scan(&rows))
	require.Equal(t, 1, rows, "StepTx first committed once")
	require.Equal(t, int64(1), firstRuns.Load(), "the surviving client replayed first instead of executing it (the second run executed it)")
	require.Equal(t, int64(2), slowRuns.Load())

	require.Len(t, run.Steps, 2)
	require.Equal(t, "first", run.Steps[0].ID)
	require.Equal(t, "completed", run.Steps[0].Status)
	require.Equal(t, 1, run.Steps[0].Attempts)
	require.JSONEq(t, `"first done"`, string(run.Steps[0].Output))
	require.Equal(t, "slow", run.Steps[1].ID)
	require.Equal(t, "completed", run.Steps[1].Status)
	require.JSONEq(t, `"slow done"`, string(run.Steps[1].Output))
}

// TestRecoveryLiveSlowStepNotTakenOver runs a step much longer than the
// lease TTL with two started clients sweeping: the executing client's lease
// renewals keep the run, so the step runs once and nothing takes it over.
func TestRecoveryLiveSlowStepNotTakenOver(t *testing.T) {
	t.Parallel()
	dbURL := flowtest.DatabaseURL(t)
	var slowRuns atomic.Int64
	clients := make([]*flow.Client, 2)
	var pool0 *pgxpool.Pool
	for i := range clients {
		pool := recoveryPool(t, dbURL)
		if i == 0 {
			pool0 = pool
		}
		clients[i] = flowtest.ClientOn(t, pool, recoveryConfig(fmt.Sprintf("recovery-slow-%d", i), 300*time.Millisecond), func(c *flow.Client) {
			_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "recovery/slow"}, flow.EventTrigger("recovery/slow"),
				func(ctx context.Context, in flow.Input[struct{}]) (any, error) {
					return flow.Step(ctx, "slow", func(ctx context.Context) (int64, error) {
						n := slowRuns.Add(1)
						// The user's slow work: five lease TTLs.
						select {
						case <-time.After(1500 * time.Millisecond):
						case <-ctx.Done():
							return 0, ctx.Err()
						}
						return n, nil
					})
				})
			require.NoError(t, err)
		})
	}

	runIDs := sendOne(t, clients[0], flow.Event{Name: "recovery/slow"})
	require.Len(t, runIDs, 1)
	ctx, cancel := context.WithTimeout(testCtx(t), 30*time.Second)
	defer cancel()
	run, err := clients[1].AwaitRun(ctx, runIDs[0])
	require.NoError(t, err, "the slow step started %d times", slowRuns.Load())
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.Equal(t, int64(1), slowRuns.Load(), "executions of the slow step")
	require.Len(t, run.Steps, 1)
	require.Equal(t, 1, run.Steps[0].Attempts)
	var out int64
	require.NoError(t, run.DecodeOutput(&out))
	require.Equal(t, int64(1), out)

	// No takeover: the run's only job is the one that started it.
	jobs := recoveryJobsSettled(t, pool0, run.ID)
	require.Len(t, jobs, 1, "jobs of the run: %+v", jobs)
	require.Equal(t, "completed", jobs[0].State)
	require.Equal(t, 0, jobs[0].Gen)
}

// TestRecoveryLongStepTxKeepsOtherLeases checks that a StepTx whose function
// runs for several lease TTLs, holding its run's row locked all that time,
// stalls neither its own lease nor the renewal of the client's other runs:
// a run with a slow plain step, started meanwhile (its ID sorts after the
// StepTx run's, where a renewal that waited for the lock would stop), is not
// taken over by the client's own sweeper, and no step executes twice.
func TestRecoveryLongStepTxKeepsOtherLeases(t *testing.T) {
	t.Parallel()
	dbURL := flowtest.DatabaseURL(t)
	pool := recoveryPool(t, dbURL)
	var txRuns, plainRuns atomic.Int64
	txStarted := make(chan struct{}, 10)
	slow := func(ctx context.Context) error {
		select {
		case <-time.After(1500 * time.Millisecond): // five lease TTLs
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}

	c := flowtest.ClientOn(t, pool, recoveryConfig("recovery-long-tx", 300*time.Millisecond), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "recovery/long-tx"}, flow.EventTrigger("recovery/long-tx"),
			func(ctx context.Context, in flow.Input[struct{}]) (any, error) {
				return flow.StepTx(ctx, "tx", func(ctx context.Context, tx pgx.Tx) (int64, error) {
					n := txRuns.Add(1)
					txStarted <- struct{}{}
					return n, slow(ctx)
				})
			})
		require.NoError(t, err)
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "recovery/long-plain"}, flow.EventTrigger("recovery/long-plain"),
			func(ctx context.Context, in flow.Input[struct{}]) (any, error) {
				return flow.Step(ctx, "plain", func(ctx context.Context) (int64, error) {
					return plainRuns.Add(1), slow(ctx)
				})
			})
		require.NoError(t, err)
	})

	ctx, cancel := context.WithTimeout(testCtx(t), 30*time.Second)
	defer cancel()
	txRun := sendOne(t, c, flow.Event{Name: "recovery/long-tx"})
	require.Len(t, txRun, 1)
	select {
	case <-txStarted:
	case <-ctx.Done():
		t.Fatal("the StepTx function never started")
	}
	plainRun := sendOne(t, c, flow.Event{Name: "recovery/long-plain"})
	require.Len(t, plainRun, 1)
	require.Less(t, txRun[0], plainRun[0], "run IDs sort by creation")

	for _, id := range []string{txRun[0], plainRun[0]} {
		run, err := c.AwaitRun(ctx, id)
		require.NoError(t, err)
		require.Equal(t, flow.RunCompleted, run.Status, run.Error)
		require.Len(t, run.Steps, 1)
		require.Equal(t, 1, run.Steps[0].Attempts, "attempts of %s", run.Steps[0].ID)
		// No takeover: the run's only job is the one that started it.
		jobs := recoveryJobsSettled(t, pool, id)
		require.Len(t, jobs, 1, "jobs of run %s (%s): %+v", id, run.FunctionID, jobs)
		require.Equal(t, 0, jobs[0].Gen)
	}
	require.Equal(t, int64(1), txRuns.Load(), "executions of the StepTx function")
	require.Equal(t, int64(1), plainRuns.Load(), "executions of the plain step")
}

// recoveryRunArgs forges the library's run job (kind flow_run), to insert
// stale jobs.
type recoveryRunArgs struct {
	RunID string `json:"run_id"`
	Gen   int    `json:"gen"`
}

func (recoveryRunArgs) Kind() string { return "flow_run" }

// TestRecoveryStaleJobDoesNothing checks the fencing of runs by their jobs:
// a finished run has one completed job per segment, and a stale job for a
// run (an older gen, for a run that ended or that sleeps) completes without
// executing the run.
func TestRecoveryStaleJobDoesNothing(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	ctx := testCtx(t)
	var bodies counter
	var segments atomic.Int64

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "recovery/stale"}, flow.EventTrigger("recovery/stale"),
			func(ctx context.Context, in flow.Input[struct{ Nap time.Duration }]) (any, error) {
				segments.Add(1)
				if _, err := flow.Step(ctx, "a", func(context.Context) (int, error) { bodies.add(in.RunID + "/a"); return 1, nil }); err != nil {
					return nil, err
				}
				if err := flow.Sleep(ctx, "nap", in.Event.Data.Nap); err != nil {
					return nil, err
				}
				return flow.Step(ctx, "b", func(context.Context) (int, error) { bodies.add(in.RunID + "/b"); return 2, nil })
			})
		require.NoError(t, err)
	})
	var err error

	// A run that completed: one completed job per segment, gens 0 and 1.
	done := awaitOnly(t, c, flow.Event{Name: "recovery/stale", Data: map[string]any{"Nap": 20 * time.Millisecond}})
	require.Equal(t, flow.RunCompleted, done.Status, done.Error)
	jobs := recoveryJobsSettled(t, pool, done.ID)
	require.Len(t, jobs, 2, "jobs of the run: %+v", jobs)
	for i, j := range jobs {
		require.Equal(t, "completed", j.State, "job %+v", j)
		require.Equal(t, i, j.Gen, "job %+v", j)
	}

	// A run that sleeps for an hour after its first segment.
	sleeperIDs := sendOne(t, c, flow.Event{Name: "recovery/stale", Data: map[string]any{"Nap": time.Hour}})
	require.Len(t, sleeperIDs, 1)
	sleeperID := sleeperIDs[0]
	require.Eventually(t, func() bool {
		r, err := c.GetRun(ctx, sleeperID)
		return err == nil && r.Status == flow.RunSleeping
	}, 10*time.Second, 10*time.Millisecond)
	segmentsBefore := segments.Load()
	require.Equal(t, int64(3), segmentsBefore)

	// Stale jobs: the old gens of both runs, and the ended run's current gen.
	var stale []int64
	for _, args := range []recoveryRunArgs{{done.ID, 0}, {done.ID, 1}, {sleeperID, 0}} {
		res, err := c.River().Insert(ctx, args, &river.InsertOpts{Queue: "flow"})
		require.NoError(t, err)
		stale = append(stale, res.Job.ID)
	}
	require.Eventually(t, func() bool {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE id = ANY($1) AND state = 'completed'`, stale).Scan(&n)
		return err == nil && n == len(stale)
	}, 10*time.Second, 10*time.Millisecond, "stale jobs completed")

	require.Equal(t, segmentsBefore, segments.Load(), "a stale job called the function")
	require.Equal(t, 1, bodies.get(done.ID+"/a"))
	require.Equal(t, 1, bodies.get(done.ID+"/b"))
	require.Equal(t, 1, bodies.get(sleeperID+"/a"))
	require.Zero(t, bodies.get(sleeperID+"/b"))

	after, err := c.GetRun(ctx, done.ID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, after.Status)
	require.NotNil(t, after.EndedAt)
	require.True(t, done.EndedAt.Equal(*after.EndedAt), "ended at %s, then %s", done.EndedAt, after.EndedAt)
	require.Equal(t, len(done.Steps), len(after.Steps))
	sleeper, err := c.GetRun(ctx, sleeperID)
	require.NoError(t, err)
	require.Equal(t, flow.RunSleeping, sleeper.Status)
	require.Len(t, sleeper.Steps, 2)
	require.Equal(t, "sleeping", sleeper.Steps[1].Status)
}
