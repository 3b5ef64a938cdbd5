package flowtest

import (
	"context"
	"testing"
	"time"

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
	c, err := flow.NewClient(Pool(tb), cfg)
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
// minute) for that run to end, and returns it with its steps.
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
		tb.Fatalf("flowtest: await run %s: %v", runs[0].ID, err)
	}
	return run
}
