package flowtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riverflow/flow"
)

// Client returns a started flow client for a test, on a fresh migrated
// database of its own (see Pool). define, which may be nil, creates the
// test's functions on it before it starts. cfg may be nil for the defaults;
// tests usually want a short RetryBackoff. The client stops when the test
// ends.
//
//	c := flowtest.Client(t, &flow.Config{RetryBackoff: func(int) time.Duration { return 10 * time.Millisecond }},
//		func(c *flow.Client) { _, err := flow.CreateFunction(c, opts, trigger, handler); ... })
//	run := flowtest.RunEvent(t, c, flow.Event{Name: "user/signed.up", Data: ...})
func Client(tb testing.TB, cfg *flow.Config, define func(c *flow.Client)) *flow.Client {
	tb.Helper()
	return ClientOn(tb, Pool(tb), cfg, define)
}

// ClientOn is [Client] on a pool of your own: your application's pool, so
// that the test can send events in the same transactions as your own writes
// and look at your tables, or a pool shared by two clients, as two processes
// of one service share a database. The pool must reach a database with flow's
// schema migrated (every database from [Pool] and [DatabaseURL] has it). The
// client stops when the test ends; the pool stays yours.
//
//	pool := flowtest.Pool(t)
//	c := flowtest.ClientOn(t, pool, nil, func(c *flow.Client) { ... })
//	tx, _ := pool.Begin(ctx) // your writes, then c.SendTx(ctx, tx, ev), then tx.Commit(ctx)
func ClientOn(tb testing.TB, pool *pgxpool.Pool, cfg *flow.Config, define func(c *flow.Client)) *flow.Client {
	tb.Helper()
	c, err := flow.NewClient(pool, cfg)
	if err != nil {
		tb.Fatalf("flowtest: new client: %v", err)
	}
	if define != nil {
		define(c)
	}
	if err := c.Start(context.Background()); err != nil {
		tb.Fatalf("flowtest: start client: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			tb.Errorf("flowtest: stop client: %v", err)
		}
	})
	return c
}

// RunEvent sends ev, expects it to start exactly one run, waits (up to a
// minute) for that run to end, and returns it with its steps. For a run that
// sleeps or waits for an event, use [StartRun] instead, which does not wait,
// and drive the run with [AwaitSleeping], [AwaitWaiting] and [Advance].
func RunEvent(tb testing.TB, c *flow.Client, ev flow.Event) *flow.Run {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ids, err := c.Send(ctx, ev)
	if err != nil {
		tb.Fatalf("flowtest: send %q: %v", ev.Name, err)
	}
	runs, err := c.ListRuns(ctx, flow.RunFilter{EventID: ids[0]})
	if err != nil {
		tb.Fatalf("flowtest: list runs of event %s: %v", ids[0], err)
	}
	if len(runs) != 1 {
		tb.Fatalf("flowtest: event %q started %d runs, want 1", ev.Name, len(runs))
	}
	run, err := c.AwaitRun(ctx, runs[0].ID)
	if err != nil {
		tb.Fatalf("flowtest: await run %s: %v%s", runs[0].ID, err, suspendedHint(c, runs[0].ID))
	}
	return run
}

// suspendedHint explains why RunEvent gave up on a run that sleeps or waits.
func suspendedHint(c *flow.Client, runID string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	run, err := c.GetRun(ctx, runID)
	if err != nil || (run.Status != flow.RunSleeping && run.Status != flow.RunWaiting) {
		return ""
	}
	return fmt.Sprintf(" (the run is %s: start it with flowtest.StartRun, then drive it with AwaitSleeping, AwaitWaiting, Advance and the events it waits for)", run.Status)
}

// AwaitStatus polls the run until it has status want (up to a minute), and
// returns it. It fails the test if the run ends with another status first,
// or never reaches want. Use it for statuses a run passes through, such as
// [flow.RunSleeping] or [flow.RunWaiting], before the test sends the event a
// wait expects; for the end of a run, [flow.Client.AwaitRun] is simpler.
func AwaitStatus(tb testing.TB, c *flow.Client, runID string, want flow.RunStatus) *flow.Run {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		run, err := c.GetRun(ctx, runID)
		if err != nil {
			tb.Fatalf("flowtest: run %s never reached status %s: %v", runID, want, err)
		}
		if run.Status == want {
			return run
		}
		if run.Status.Ended() {
			tb.Fatalf("flowtest: run %s ended as %s (%s) before reaching %s", runID, run.Status, run.Error, want)
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("flowtest: run %s never reached status %s (last %s)", runID, want, run.Status)
		case <-tick.C:
		}
	}
}
