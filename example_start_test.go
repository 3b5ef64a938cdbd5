package flow_test

import (
	"context"
	"fmt"
	"log"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow"
)

type Order struct {
	ID    string `json:"id"`
	Total int    `json:"total"`
}

type Receipt struct {
	OrderID string `json:"orderId"`
	Charged int    `json:"charged"`
}

// Define gives a typed handle: Start and Invoke check the input and output
// types at compile time. NoTrigger makes a function that only Start and
// Invoke run.
func ExampleDefine() {
	ctx := context.Background()
	pool := examplePool(ctx)
	defer pool.Close()

	client, err := flow.NewClient(pool, nil)
	if err != nil {
		log.Fatal(err)
	}
	charge, err := flow.Define(client, flow.FunctionOpts{ID: "charge"}, flow.NoTrigger(),
		func(ctx context.Context, in flow.Input[Order]) (Receipt, error) {
			return Receipt{OrderID: in.Event.Data.ID, Charged: in.Event.Data.Total}, nil
		})
	if err != nil {
		log.Fatal(err)
	}
	_, err = flow.Define(client, flow.FunctionOpts{ID: "checkout"}, flow.EventTrigger("shop/checkout"),
		func(ctx context.Context, in flow.Input[Order]) (string, error) {
			// The child's input is an Order and its output a Receipt, checked
			// by the compiler.
			r, err := charge.Invoke(ctx, "charge", in.Event.Data, flow.InvokeOpts{})
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("order %s charged %d", r.OrderID, r.Charged), nil
		})
	if err != nil {
		log.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)

	sent, err := client.SendWithRuns(ctx, flow.Event{Name: "shop/checkout", Data: Order{ID: "o-1", Total: 42}})
	if err != nil {
		log.Fatal(err)
	}
	run, err := client.AwaitRun(ctx, sent[0].RunIDs[0])
	if err != nil {
		log.Fatal(err)
	}
	var out string
	_ = run.DecodeOutput(&out)
	fmt.Println(run.Status, out)
	// Output:
	// completed order o-1 charged 42
}

// Start runs a function directly with data, returning the run's ID; StartTx
// does it in the caller's transaction.
func ExampleStart() {
	ctx := context.Background()
	pool := examplePool(ctx)
	defer pool.Close()

	client, err := flow.NewClient(pool, nil)
	if err != nil {
		log.Fatal(err)
	}
	charge, err := flow.Define(client, flow.FunctionOpts{ID: "charge"}, flow.NoTrigger(),
		func(ctx context.Context, in flow.Input[Order]) (Receipt, error) {
			return Receipt{OrderID: in.Event.Data.ID, Charged: in.Event.Data.Total}, nil
		})
	if err != nil {
		log.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)

	runID, err := flow.Start(ctx, charge, Order{ID: "o-2", Total: 7})
	if err != nil {
		log.Fatal(err)
	}
	// The run and the app's own writes commit together, or not at all.
	var later string
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		later, err = flow.StartTx(ctx, tx, charge, Order{ID: "o-3", Total: 9})
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, id := range []string{runID, later} {
		run, err := client.AwaitRun(ctx, id)
		if err != nil {
			log.Fatal(err)
		}
		var r Receipt
		_ = run.DecodeOutput(&r)
		fmt.Println(run.Status, r.OrderID, r.Charged)
	}
	// Output:
	// completed o-2 7
	// completed o-3 9
}

// SendWithRuns says which runs each event started, so that AwaitRun needs no
// ListRuns.
func ExampleClient_SendWithRuns() {
	ctx := context.Background()
	pool := examplePool(ctx)
	defer pool.Close()

	client, err := flow.NewClient(pool, nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, id := range []string{"email", "crm"} {
		_, err := flow.CreateFunction(client, flow.FunctionOpts{ID: id}, flow.EventTrigger("user/signed.up"),
			func(ctx context.Context, in flow.Input[SignedUp]) (any, error) {
				return id + ": " + in.Event.Data.Email, nil
			})
		if err != nil {
			log.Fatal(err)
		}
	}
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)

	sent, err := client.SendWithRuns(ctx, flow.Event{Name: "user/signed.up", Data: SignedUp{Email: "ada@example.com"}})
	if err != nil {
		log.Fatal(err)
	}
	var outs []string
	for _, runID := range sent[0].RunIDs {
		run, err := client.AwaitRun(ctx, runID)
		if err != nil {
			log.Fatal(err)
		}
		var out string
		_ = run.DecodeOutput(&out)
		outs = append(outs, out)
	}
	slices.Sort(outs)
	fmt.Println(len(sent[0].RunIDs), "runs")
	fmt.Println(strings.Join(outs, "\n"))
	// Output:
	// 2 runs
	// crm: ada@example.com
	// email: ada@example.com
}
