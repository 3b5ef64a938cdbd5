// Command hello is a short tour of flow: durable functions on Postgres.
//
// An n8n-style app keeps its own tables, podcast_request and workflow. A
// user asks for a podcast to be summarized: the app saves the request and
// sends the event test/hello.world in the same transaction. A durable
// function picks the event up, works through three slow stages ("fetching",
// "transcribing", "sending-to-ai"; here they only sleep), then, in a step,
// inserts a row into the app's workflow table. The program prints each step
// as it happens and exits when the run is done.
//
//	go run ./examples/hello             # each stage takes 1s
//	go run ./examples/hello -step 3s    # slower, to watch the run sleep
//
// It needs no setup: it starts a throwaway Postgres (in Docker, or from the
// local binaries) and removes it on exit. With FLOW_DATABASE_URL or
// DATABASE_URL set, it uses a fresh database on that server instead (the role
// needs CREATEDB) and drops it on exit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// defaultStep is how long each stage takes unless -step says otherwise: the
// README shows the output with it.
const defaultStep = time.Second

func main() {
	step := flag.Duration("step", defaultStep, "how long each stage of the workflow takes")
	flag.Parse()

	// Ctrl-C cancels ctx; everything below then stops and cleans up.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := withPostgres(ctx, os.Stdout, *step); err != nil {
		if ctx.Err() != nil {
			err = errors.New("interrupted; cleaned up")
		}
		fmt.Fprintln(os.Stderr, "hello:", err)
		os.Exit(1)
	}
}

// withPostgres finds or starts a Postgres server, creates a fresh database
// with flow's schema on it, and calls run. The database and the server (if
// it started one) are gone when it returns.
func withPostgres(ctx context.Context, w io.Writer, step time.Duration) error {
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
			fmt.Fprintln(os.Stderr, "hello:", err)
		}
	}()

	return run(ctx, w, step, dbURL)
}

// HelloWorld is the data of the event test/hello.world.
type HelloWorld struct {
	RequestID int64 `json:"request_id"`
}

// run is the tour itself, on a database that flow.Migrate has prepared.
func run(ctx context.Context, w io.Writer, step time.Duration, dbURL string) error {
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	printDatabase(w, pool.Config().ConnConfig)

	// 1. The app's own tables, next to flow's tables in the same database.
	_, err = pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS podcast_request (
		id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		episode      text NOT NULL,
		requested_at timestamptz NOT NULL DEFAULT now())`)
	if err != nil {
		return err
	}
	_, err = pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS workflow (
		id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		request_id  bigint NOT NULL REFERENCES podcast_request (id),
		name        text NOT NULL,
		status      text NOT NULL,
		result      text,
		created_at  timestamptz NOT NULL DEFAULT now())`)
	if err != nil {
		return err
	}

	// 2. A client, with a durable function defined before Start.
	client, err := flow.NewClient(pool, nil)
	if err != nil {
		return err
	}
	_, err = flow.CreateFunction(client,
		flow.FunctionOpts{ID: "summarize-podcast"},
		flow.EventTrigger("test/hello.world"),
		summarizePodcast(step))
	if err != nil {
		return err
	}
	if err := client.Start(ctx); err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = client.Stop(ctx)
	}()
	fmt.Fprintln(w, `Function "summarize-podcast" runs on event test/hello.world.`)
	fmt.Fprintln(w)

	// 3. The app saves a request and sends the event in one transaction:
	// both happen, or neither does.
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	var requestID int64
	var requestedAt time.Time
	err = tx.QueryRow(ctx, `INSERT INTO podcast_request (episode) VALUES ($1) RETURNING id, requested_at`,
		"Episode 42").Scan(&requestID, &requestedAt)
	if err != nil {
		return err
	}
	eventIDs, err := client.SendTx(ctx, tx, flow.Event{Name: "test/hello.world", Data: HelloWorld{RequestID: requestID}})
	if err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	fmt.Fprintf(w, "%s  podcast request %d saved, and event test/hello.world sent, in one transaction\n",
		clock(requestedAt), requestID)

	// 4. The event started a run. Watch its steps until it ends.
	runs, err := client.ListRuns(ctx, flow.RunFilter{EventID: eventIDs[0]})
	if err != nil {
		return err
	}
	if len(runs) != 1 {
		return fmt.Errorf("event started %d runs, want 1", len(runs))
	}
	finished, err := watch(ctx, w, client, runs[0])
	if err != nil {
		return err
	}
	if finished.Status != flow.RunCompleted {
		return fmt.Errorf("run %s: %s: %s", finished.ID, finished.Status, finished.Error)
	}

	// 5. The run's output, and the app's row that its last step wrote.
	fmt.Fprintf(w, "\nRun output: %s\n\n", finished.Output)
	return printWorkflow(ctx, w, pool, requestID)
}

// summarizePodcast returns the handler of the durable function. Each time the
// run resumes after a sleep, the handler runs again from the top: finished
// steps return at once, and the run carries on where it stopped.
func summarizePodcast(step time.Duration) func(context.Context, flow.Input[HelloWorld]) (any, error) {
	return func(ctx context.Context, in flow.Input[HelloWorld]) (any, error) {
		// Three slow stages. A sleeping run holds no worker, goroutine or
		// connection, and survives a restart of the process.
		for _, stage := range []string{"fetching", "transcribing", "sending-to-ai"} {
			if err := flow.Sleep(ctx, stage, step); err != nil {
				return nil, err // the run is suspending: return the error as is
			}
		}

		// The result goes into the app's table in the same transaction that
		// records the step as done, so the row is inserted exactly once.
		summary := "Episode 42 says hello to the world."
		workflowID, err := flow.StepTx(ctx, "save-result", func(ctx context.Context, tx pgx.Tx) (int64, error) {
			var id int64
			err := tx.QueryRow(ctx, `INSERT INTO workflow (request_id, name, status, result)
				VALUES ($1, 'Summarize podcast episode 42', 'done', $2) RETURNING id`,
				in.Event.Data.RequestID, summary).Scan(&id)
			return id, err
		})
		if err != nil {
			return nil, err
		}
		return map[string]any{"request_id": in.Event.Data.RequestID, "workflow_id": workflowID, "summary": summary}, nil
	}
}
