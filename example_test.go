package flow_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// exampleServer is the Postgres server the examples share, started by the
// first and stopped by TestMain (stopExampleServer).
var (
	exampleServerMu sync.Mutex
	exampleServer   *flowtest.Server
)

// examplePool returns a pool on a fresh, migrated database for the examples
// (in an application, this is the app's own pool, after flow.Migrate).
func examplePool(ctx context.Context) *pgxpool.Pool {
	exampleServerMu.Lock()
	defer exampleServerMu.Unlock()
	if exampleServer == nil {
		srv, err := flowtest.StartServer(ctx)
		if err != nil {
			log.Fatal(err)
		}
		exampleServer = srv
	}
	url, _, err := flowtest.NewDatabase(ctx, exampleServer.URL)
	if err != nil {
		log.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		log.Fatal(err)
	}
	return pool
}

// stopExampleServer stops the examples' server, if one started.
func stopExampleServer() {
	exampleServerMu.Lock()
	defer exampleServerMu.Unlock()
	if exampleServer != nil {
		if err := exampleServer.Close(); err != nil {
			log.Print(err)
		}
		exampleServer = nil
	}
}

type SignedUp struct {
	Email string `json:"email"`
}

func ExampleCreateFunction() {
	ctx := context.Background()
	pool := examplePool(ctx)
	defer pool.Close()

	client, err := flow.NewClient(pool, nil)
	if err != nil {
		log.Fatal(err)
	}
	_, err = flow.CreateFunction(client, flow.FunctionOpts{ID: "welcome"}, flow.EventTrigger("user/signed.up"),
		func(ctx context.Context, in flow.Input[SignedUp]) (any, error) {
			// Runs once per run; its result is remembered across the sleep.
			greeting, err := flow.Step(ctx, "compose", func(ctx context.Context) (string, error) {
				return "welcome, " + in.Event.Data.Email, nil
			})
			if err != nil {
				return nil, err
			}
			// Durable: the run holds nothing while it sleeps.
			if err := flow.Sleep(ctx, "let-it-sink-in", 10*time.Millisecond); err != nil {
				return nil, err
			}
			return greeting, nil
		})
	if err != nil {
		log.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)

	ids, err := client.Send(ctx, flow.Event{Name: "user/signed.up", Data: SignedUp{Email: "ada@example.com"}})
	if err != nil {
		log.Fatal(err)
	}
	runs, err := client.ListRuns(ctx, flow.RunFilter{EventID: ids[0]})
	if err != nil {
		log.Fatal(err)
	}
	run, err := client.AwaitRun(ctx, runs[0].ID)
	if err != nil {
		log.Fatal(err)
	}
	var out string
	_ = run.DecodeOutput(&out)
	fmt.Println(run.Status, out)
	for _, st := range run.Steps {
		fmt.Println(st.ID, st.Kind, st.Status)
	}
	// Output:
	// completed welcome, ada@example.com
	// compose run completed
	// let-it-sink-in sleep completed
}

func ExampleClient_SendTx() {
	ctx := context.Background()
	pool := examplePool(ctx)
	defer pool.Close()

	client, err := flow.NewClient(pool, nil)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "CREATE TABLE users (email text PRIMARY KEY)"); err != nil {
		log.Fatal(err)
	}

	// The user row and the event commit together, or not at all.
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO users (email) VALUES ($1)", "ada@example.com"); err != nil {
			return err
		}
		_, err := client.SendTx(ctx, tx, flow.Event{Name: "user/signed.up", Data: SignedUp{Email: "ada@example.com"}})
		return err
	})
	fmt.Println("committed:", err == nil)
	// Output:
	// committed: true
}

type Activated struct {
	UserID string `json:"userId"`
}

func ExampleWaitForEvent() {
	ctx := context.Background()
	pool := examplePool(ctx)
	defer pool.Close()

	client, err := flow.NewClient(pool, nil)
	if err != nil {
		log.Fatal(err)
	}
	_, err = flow.CreateFunction(client, flow.FunctionOpts{ID: "await-activation"}, flow.EventTrigger("user/created"),
		func(ctx context.Context, in flow.Input[Activated]) (any, error) {
			// Resumes when a "user/activated" event with the same data.userId
			// commits, or after a day.
			ev, err := flow.WaitForEvent[Activated](ctx, "activation", flow.WaitOpts{
				Event: "user/activated", Match: "data.userId", Timeout: 24 * time.Hour,
			})
			if errors.Is(err, flow.ErrEventTimeout) {
				return "never activated", nil
			}
			if err != nil {
				return nil, err
			}
			return "activated " + ev.Data.UserID, nil
		})
	if err != nil {
		log.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)

	ids, _ := client.Send(ctx, flow.Event{Name: "user/created", Data: Activated{UserID: "u1"}})
	runs, _ := client.ListRuns(ctx, flow.RunFilter{EventID: ids[0]})
	// Only events that commit after the wait is registered resume it.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if run, _ := client.GetRun(ctx, runs[0].ID); run.Status == flow.RunWaiting {
			break
		}
	}
	_, _ = client.Send(ctx, flow.Event{Name: "user/activated", Data: Activated{UserID: "u1"}})
	run, _ := client.AwaitRun(ctx, runs[0].ID)
	fmt.Println(string(run.Output))
	// Output:
	// "activated u1"
}

// Flow control is declared on the function and holds across every process
// working the queue: here at most two runs per account execute at once, and
// an order is charged at most once a day, however often its event comes.
func Example_flowControl() {
	ctx := context.Background()
	pool := examplePool(ctx)
	defer pool.Close()

	client, err := flow.NewClient(pool, nil)
	if err != nil {
		log.Fatal(err)
	}
	type Order struct {
		OrderID string `json:"orderId"`
		Account string `json:"account"`
	}
	_, err = flow.CreateFunction(client, flow.FunctionOpts{
		ID:          "charge",
		Concurrency: []flow.Concurrency{{Limit: 2, Key: "event.data.account"}},
		Idempotency: "event.data.orderId",
	}, flow.EventTrigger("order/placed"),
		func(ctx context.Context, in flow.Input[Order]) (any, error) {
			return flow.Step(ctx, "charge", func(ctx context.Context) (string, error) {
				return "charged " + in.Event.Data.OrderID, nil
			})
		})
	if err != nil {
		log.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)

	for range 2 { // the same order twice
		ids, _ := client.Send(ctx, flow.Event{Name: "order/placed", Data: Order{OrderID: "o-1", Account: "acme"}})
		runs, _ := client.ListRuns(ctx, flow.RunFilter{EventID: ids[0]})
		run, _ := client.AwaitRun(ctx, runs[0].ID)
		fmt.Println(run.Status, string(run.Output))
	}
	// Output:
	// completed "charged o-1"
	// skipped
}
