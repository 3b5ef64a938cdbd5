// Command sharedriver shows flow riding on an application's own River client.
//
// The app already uses River: it has its own job kind, send_email, and its
// own worker for it. Rather than run a second River client for flow, it
// adds flow's workers and queue to its River config (package riverext) and
// attaches its River client to the flow client. One River client, with the
// queues "default" (the app's jobs) and "flow" (flow's runs), serves both.
//
// A user signs up: the app sends the event user/signed.up. The durable
// function "welcome" composes a welcome email in a step, then, in a StepTx,
// enqueues the app's own send_email job with the app's River client in the
// step's transaction: the job is enqueued exactly once, together with the
// step's result, or not at all. The app's worker sends (prints) the email.
// The program exits when both the run and the email job are done, and shows
// River's jobs table: both jobs were worked by the same River client.
//
//	go run ./examples/sharedriver
//
// It needs no setup: it starts a throwaway Postgres (in Docker, or from the
// local binaries) and removes it on exit. With FLOW_DATABASE_URL or
// DATABASE_URL set, it uses a fresh database on that server instead (the role
// needs CREATEDB) and drops it on exit.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
	"github.com/riverflow/flow/riverext"
)

func main() {
	// Ctrl-C cancels ctx; everything below then stops and cleans up.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := withPostgres(ctx, os.Stdout); err != nil {
		if ctx.Err() != nil {
			err = errors.New("interrupted; cleaned up")
		}
		fmt.Fprintln(os.Stderr, "sharedriver:", err)
		os.Exit(1)
	}
}

// withPostgres finds or starts a Postgres server, creates a fresh database
// with flow's schema (and River's) on it, and calls run. The database and
// the server (if it started one) are gone when it returns.
func withPostgres(ctx context.Context, w io.Writer) error {
	fmt.Fprintln(w, "Looking for Postgres (FLOW_DATABASE_URL, DATABASE_URL, Docker, local binaries)...")
	srv, err := flowtest.StartServer(ctx)
	if err != nil {
		return err
	}
	defer srv.Close()

	dbURL, drop, err := flowtest.NewDatabase(ctx, srv.URL)
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := drop(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "sharedriver:", err)
		}
	}()

	return run(ctx, w, dbURL)
}

// riverClientID is the app's River client's ID (river.Config.ID). River
// records it in river_job.attempted_by for every job the client works.
const riverClientID = "sharedriver-app"

// SendEmailArgs is the app's own River job kind: it knows nothing of flow.
type SendEmailArgs struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
	Body    string `json:"body"`
}

// Kind implements river.JobArgs.
func (SendEmailArgs) Kind() string { return "send_email" }

// SendEmailWorker is the app's worker for send_email jobs. It "sends" an
// email by printing it.
type SendEmailWorker struct {
	river.WorkerDefaults[SendEmailArgs]
	w io.Writer
}

// Work implements river.Worker.
func (wk *SendEmailWorker) Work(ctx context.Context, job *river.Job[SendEmailArgs]) error {
	fmt.Fprintf(wk.w, "%s  send_email worker: job %d (attempt %d) sends to %s: %q\n",
		clock(time.Now()), job.ID, job.Attempt, job.Args.To, job.Args.Subject)
	return nil
}

// SignedUp is the data of the event user/signed.up.
type SignedUp struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// run is the tour itself, on a database that flow.Migrate has prepared.
func run(ctx context.Context, w io.Writer, dbURL string) error {
	w = &lockedWriter{w: w} // the app's worker prints from River's goroutines

	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	cfg := pool.Config().ConnConfig
	fmt.Fprintf(w, "Postgres: fresh database %s on %s:%d, with flow's and River's schema.\n", cfg.Database, cfg.Host, cfg.Port)

	// 1. A flow client that does not create a River client of its own.
	fc, err := flow.NewClient(pool, &flow.Config{ExternalRiver: true})
	if err != nil {
		return err
	}

	// 2. The app's River client: its own worker and queue, plus flow's
	// worker and queue.
	workers := river.NewWorkers()
	river.AddWorker(workers, &SendEmailWorker{w: w})
	if err := riverext.AddWorkers(workers, fc); err != nil {
		return err
	}
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		ID:      riverClientID,
		Queues:  riverext.Queues(fc, map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 10}}),
		Workers: workers,
	})
	if err != nil {
		return err
	}
	if err := riverext.Attach(fc, rc); err != nil {
		return err
	}

	// 3. The durable function, defined before Start. It enqueues the app's
	// job through the app's River client.
	_, err = flow.CreateFunction(fc,
		flow.FunctionOpts{ID: "welcome"},
		flow.EventTrigger("user/signed.up"),
		welcome(w, rc))
	if err != nil {
		return err
	}

	// 4. Start River, then flow's own services (registry, waker, leases).
	// Both get a context that Ctrl-C does not cancel: on the way out they
	// stop gracefully, River first, so that the flow client renews the
	// leases of the runs River is still executing until River is done.
	completed, unsubscribe := rc.Subscribe(river.EventKindJobCompleted)
	defer unsubscribe()
	if err := rc.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = rc.Stop(ctx)
		_ = fc.Stop(ctx)
	}()
	if err := fc.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	name, _ := riverext.Queue(fc)
	fmt.Fprintf(w, "One River client, %q, with queue %q (the app's send_email jobs) and queue %q (flow's runs).\n",
		riverClientID, river.QueueDefault, name)
	fmt.Fprintln(w, `Function "welcome" runs on event user/signed.up.`)
	fmt.Fprintln(w)

	// 5. A user signs up.
	eventIDs, err := fc.Send(ctx, flow.Event{Name: "user/signed.up", Data: SignedUp{Name: "Ada", Email: "ada@example.com"}})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s  event user/signed.up sent for ada@example.com\n", clock(time.Now()))
	runs, err := fc.ListRuns(ctx, flow.RunFilter{EventID: eventIDs[0]})
	if err != nil {
		return err
	}
	if len(runs) != 1 {
		return fmt.Errorf("event started %d runs, want 1", len(runs))
	}

	// 6. Wait for both the run and the email job to finish, whichever ends
	// first.
	ended := make(chan runResult, 1)
	go func() {
		run, err := fc.AwaitRun(ctx, runs[0].ID)
		ended <- runResult{run, err}
	}()
	var finished *flow.Run
	var emailJob *rivertype.JobRow
	for finished == nil || emailJob == nil {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case r := <-ended:
			if r.err != nil {
				return r.err
			}
			finished = r.run
			fmt.Fprintf(w, "%s  run %s %s\n", clock(*finished.EndedAt), finished.ID, finished.Status)
			if finished.Status != flow.RunCompleted {
				return fmt.Errorf("run %s: %s: %s", finished.ID, finished.Status, finished.Error)
			}
		case ev := <-completed:
			if ev.Job.Kind != (SendEmailArgs{}).Kind() {
				continue // flow's own job, done with the run
			}
			emailJob = ev.Job
			at := time.Now()
			if emailJob.FinalizedAt != nil {
				at = *emailJob.FinalizedAt
			}
			fmt.Fprintf(w, "%s  send_email job %d %s\n", clock(at), emailJob.ID, emailJob.State)
		}
	}

	// 7. The run's output names the job its step enqueued; River's table
	// shows which client worked each job.
	var out welcomeOutput
	if err := json.Unmarshal(finished.Output, &out); err != nil {
		return fmt.Errorf("run output %s: %w", finished.Output, err)
	}
	if out.EmailJobID != emailJob.ID {
		return fmt.Errorf("the run enqueued send_email job %d, but job %d completed", out.EmailJobID, emailJob.ID)
	}
	fmt.Fprintf(w, "\nRun output: %s\n\n", finished.Output)
	return printJobs(ctx, w, pool)
}

type runResult struct {
	run *flow.Run
	err error
}

// welcomeOutput is the output of the function welcome.
type welcomeOutput struct {
	Email      string `json:"email"`
	EmailJobID int64  `json:"email_job_id"`
}

// welcome returns the handler of the durable function: compose an email in
// a step, then enqueue the app's send_email job in a StepTx.
func welcome(w io.Writer, rc *river.Client[pgx.Tx]) func(context.Context, flow.Input[SignedUp]) (any, error) {
	return func(ctx context.Context, in flow.Input[SignedUp]) (any, error) {
		user := in.Event.Data

		// A step's result is stored: if the run is retried or resumed, the
		// step returns the stored email instead of composing it again.
		email, err := flow.Step(ctx, "compose-email", func(ctx context.Context) (SendEmailArgs, error) {
			fmt.Fprintf(w, "%s  step compose-email: writing to %s\n", clock(time.Now()), user.Email)
			return SendEmailArgs{
				To:      user.Email,
				Subject: "Welcome, " + user.Name + "!",
				Body:    "Thanks for signing up.",
			}, nil
		})
		if err != nil {
			return nil, err
		}

		// The app's job is inserted with the app's River client in the
		// step's transaction, which also records the step as done: the
		// email is enqueued exactly once, and no worker sees the job before
		// the step commits.
		jobID, err := flow.StepTx(ctx, "enqueue-email", func(ctx context.Context, tx pgx.Tx) (int64, error) {
			res, err := rc.InsertTx(ctx, tx, email, nil)
			if err != nil {
				return 0, err
			}
			fmt.Fprintf(w, "%s  step enqueue-email: send_email job %d inserted in the step's transaction\n",
				clock(time.Now()), res.Job.ID)
			return res.Job.ID, nil
		})
		if err != nil {
			return nil, err
		}
		return welcomeOutput{Email: user.Email, EmailJobID: jobID}, nil
	}
}

// printJobs prints River's jobs table: the run's job and the app's job, on
// their queues, worked by the one River client.
func printJobs(ctx context.Context, w io.Writer, pool *pgxpool.Pool) error {
	rows, err := pool.Query(ctx, `SELECT id, kind, queue, state, attempt, attempted_by FROM river_job ORDER BY id`)
	if err != nil {
		return err
	}
	type job struct {
		id                 int64
		kind, queue, state string
		attempt            int
		attemptedBy        []string
	}
	jobs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (job, error) {
		var j job
		err := row.Scan(&j.id, &j.kind, &j.queue, &j.state, &j.attempt, &j.attemptedBy)
		return j, err
	})
	if err != nil {
		return fmt.Errorf("read river_job: %w", err)
	}
	fmt.Fprintln(w, "River's jobs (table river_job):")
	fmt.Fprintf(w, "  %-3s %-11s %-8s %-10s %-8s %s\n", "id", "kind", "queue", "state", "attempt", "attempted_by")
	for _, j := range jobs {
		fmt.Fprintf(w, "  %-3d %-11s %-8s %-10s %-8d %s\n", j.id, j.kind, j.queue, j.state, j.attempt, strings.Join(j.attemptedBy, ", "))
	}
	return nil
}

// lockedWriter serializes writes from the program and River's workers.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// clock formats a time of day to the millisecond.
func clock(t time.Time) string { return t.Local().Format("15:04:05.000") }
