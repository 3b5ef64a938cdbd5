package flow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// exprEchoFunction creates a function that returns its event's data.
func exprEchoFunction(t *testing.T, c *flow.Client, id string, trigger flow.Trigger) {
	t.Helper()
	_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: id}, trigger,
		func(ctx context.Context, in flow.Input[json.RawMessage]) (any, error) {
			return in.Event.Data, nil
		})
	require.NoError(t, err)
}

// exprRunsOf sends ev with sender and returns the functions of the runs it
// started, sorted (a function twice means two runs).
func exprRunsOf(t *testing.T, sender, reader *flow.Client, ev flow.Event) ([]string, []string) {
	t.Helper()
	ctx := testCtx(t)
	ids, err := sender.Send(ctx, ev)
	require.NoError(t, err, "Send must not fail because of a condition")
	require.Len(t, ids, 1)
	runs, err := reader.ListRuns(ctx, flow.RunFilter{EventID: ids[0]})
	require.NoError(t, err)
	fns := make([]string, len(runs))
	runIDs := make([]string, len(runs))
	for i, r := range runs {
		fns[i], runIDs[i] = r.FunctionID, r.ID
	}
	sort.Strings(fns)
	return fns, runIDs
}

// exprAwaitAll waits for the runs and requires that they completed.
func exprAwaitAll(t *testing.T, c *flow.Client, runIDs []string) {
	t.Helper()
	for _, id := range runIDs {
		run, err := c.AwaitRun(testCtx(t), id)
		require.NoError(t, err)
		require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	}
}

func TestExpressionTriggerIfFiltersEvents(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		exprEchoFunction(t, c, "pro-only", flow.EventTrigger("acct/upgraded").If(`event.data.plan == "pro"`))
		exprEchoFunction(t, c, "big-payment", flow.EventTrigger("pay/made").If(`event.data.amount > 100`))
		exprEchoFunction(t, c, "missing-is-null", flow.EventTrigger("probe/sent").If(`event.data.missing == null`))
		exprEchoFunction(t, c, "missing-gt", flow.EventTrigger("probe/sent").If(`event.data.missing > 3`))
		exprEchoFunction(t, c, "bad-path", flow.EventTrigger("probe/sent").If(`event.data.name.x == 1`))
		exprEchoFunction(t, c, "by-name", flow.EventTrigger("shop/*").If(`event.name != "shop/ignored" && event.id != ""`))
		exprEchoFunction(t, c, "string-fn", flow.EventTrigger("user/joined").If(`event.data.email.endsWith("@acme.com")`))
	})

	cases := []struct {
		ev   flow.Event
		want []string
	}{
		{flow.Event{Name: "acct/upgraded", Data: map[string]any{"plan": "pro"}}, []string{"pro-only"}},
		{flow.Event{Name: "acct/upgraded", Data: map[string]any{"plan": "free"}}, nil},
		{flow.Event{Name: "acct/upgraded", Data: map[string]any{}}, nil},
		// JSON numbers, integer or not, compare with the integer literal.
		{flow.Event{Name: "pay/made", Data: map[string]any{"amount": 150}}, []string{"big-payment"}},
		{flow.Event{Name: "pay/made", Data: map[string]any{"amount": 100.5}}, []string{"big-payment"}},
		{flow.Event{Name: "pay/made", Data: map[string]any{"amount": 100}}, nil},
		{flow.Event{Name: "pay/made", Data: json.RawMessage(`{"amount": 1e3}`)}, []string{"big-payment"}},
		{flow.Event{Name: "pay/made", Data: map[string]any{"amount": "150"}}, nil}, // a string is not a number
		// A missing field is null: == null holds, and in an ordering it is
		// 0, as in Inngest (null > 3 is false: no run, no error); a path
		// through a string is an evaluation error, which counts as false.
		{flow.Event{Name: "probe/sent", Data: map[string]any{"name": "n"}}, []string{"missing-is-null"}},
		{flow.Event{Name: "probe/sent", Data: map[string]any{"missing": 5}}, []string{"missing-gt"}},
		{flow.Event{Name: "probe/sent", Data: map[string]any{"missing": 2}}, nil},
		{flow.Event{Name: "probe/sent", Data: map[string]any{"missing": nil, "name": map[string]any{"x": 1}}},
			[]string{"bad-path", "missing-is-null"}},
		{flow.Event{Name: "shop/bought"}, []string{"by-name"}},
		{flow.Event{Name: "shop/ignored"}, nil},
		{flow.Event{Name: "user/joined", Data: map[string]any{"email": "a@acme.com"}}, []string{"string-fn"}},
		{flow.Event{Name: "user/joined", Data: map[string]any{"email": "a@other.com"}}, nil},
		{flow.Event{Name: "user/joined", Data: map[string]any{}}, nil},
	}
	var all []string
	for i, tc := range cases {
		fns, runIDs := exprRunsOf(t, c, c, tc.ev)
		want := tc.want
		if want == nil {
			want = []string{}
		}
		require.Equal(t, want, fns, "case %d: %s %+v", i, tc.ev.Name, tc.ev.Data)
		all = append(all, runIDs...)
	}
	exprAwaitAll(t, c, all)
}

// exprCheckRuns sends ev and requires that it started runs of exactly the
// functions want; it returns the run IDs.
func exprCheckRuns(t *testing.T, c *flow.Client, ev flow.Event, want ...string) []string {
	t.Helper()
	fns, runIDs := exprRunsOf(t, c, c, ev)
	if want == nil {
		want = []string{}
	}
	require.Equal(t, want, fns, "%s %+v", ev.Name, ev.Data)
	return runIDs
}

// Several conditional triggers of one function that match one event (here a
// wildcard and an exact name): any passing condition starts the run, and
// several passing start ONE run.
func TestExpressionSeveralTriggersStartOneRun(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "lead"}, flow.Triggers(
			flow.EventTrigger("lead/*").If(`event.data.score >= 50`),
			flow.EventTrigger("lead/new").If(`event.data.vip == true`),
			flow.EventTrigger("lead/vip"),
		), func(ctx context.Context, in flow.Input[json.RawMessage]) (any, error) {
			calls.Add(1)
			return in.Event.Name, nil
		})
		require.NoError(t, err)
	})

	var all []string
	all = append(all, exprCheckRuns(t, c, flow.Event{Name: "lead/new", Data: map[string]any{"score": 80, "vip": true}}, "lead")...) // both pass
	all = append(all, exprCheckRuns(t, c, flow.Event{Name: "lead/new", Data: map[string]any{"score": 80}}, "lead")...)
	all = append(all, exprCheckRuns(t, c, flow.Event{Name: "lead/new", Data: map[string]any{"score": 10, "vip": true}}, "lead")...)
	all = append(all, exprCheckRuns(t, c, flow.Event{Name: "lead/new", Data: map[string]any{"score": 10, "vip": false}})...)
	all = append(all, exprCheckRuns(t, c, flow.Event{Name: "lead/old", Data: map[string]any{"score": 90}}, "lead")...)
	all = append(all, exprCheckRuns(t, c, flow.Event{Name: "lead/old", Data: map[string]any{"vip": true}})...)
	all = append(all, exprCheckRuns(t, c, flow.Event{Name: "lead/vip"}, "lead")...) // unconditional
	exprAwaitAll(t, c, all)
	require.Equal(t, int32(5), calls.Load())
}

// Two triggers of one function on the SAME event name with different
// conditions: either passing starts the run (one run when both pass).
func TestExpressionSameNameTriggersDifferentConditions(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		exprEchoFunction(t, c, "lead", flow.Triggers(
			flow.EventTrigger("lead/new").If(`event.data.score >= 50`),
			flow.EventTrigger("lead/new").If(`event.data.vip == true`),
		))
	})

	var all []string
	all = append(all, exprCheckRuns(t, c, flow.Event{Name: "lead/new", Data: map[string]any{"score": 80, "vip": true}}, "lead")...)
	all = append(all, exprCheckRuns(t, c, flow.Event{Name: "lead/new", Data: map[string]any{"score": 80}}, "lead")...)
	all = append(all, exprCheckRuns(t, c, flow.Event{Name: "lead/new", Data: map[string]any{"score": 10, "vip": true}}, "lead")...)
	all = append(all, exprCheckRuns(t, c, flow.Event{Name: "lead/new", Data: map[string]any{"score": 10}})...)
	exprAwaitAll(t, c, all)
}

// A conditional and an unconditional trigger on the same name: the
// unconditional one starts a run whatever the condition says.
func TestExpressionSameNameConditionalAndPlainTrigger(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		exprEchoFunction(t, c, "mixed", flow.Triggers(
			flow.EventTrigger("mix/e").If(`event.data.a == 1`),
			flow.EventTrigger("mix/e"),
		))
	})

	var all []string
	all = append(all, exprCheckRuns(t, c, flow.Event{Name: "mix/e", Data: map[string]any{"a": 1}}, "mixed")...)
	all = append(all, exprCheckRuns(t, c, flow.Event{Name: "mix/e", Data: map[string]any{"a": 2}}, "mixed")...)
	exprAwaitAll(t, c, all)
}

// A condition written over several lines is one expression.
func TestExpressionMultiLineTriggerIf(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		exprEchoFunction(t, c, "multi-line", flow.EventTrigger("ml/e").If("event.data.a == 1 &&\n  event.data.b == 2"))
	})

	exprCheckRuns(t, c, flow.Event{Name: "ml/e", Data: map[string]any{"a": 2, "b": 2}}) // only the second line holds
	exprCheckRuns(t, c, flow.Event{Name: "ml/e", Data: map[string]any{"a": 1, "b": 3}})
	exprAwaitAll(t, c, exprCheckRuns(t, c, flow.Event{Name: "ml/e", Data: map[string]any{"a": 1, "b": 2}}, "multi-line"))
}

// A process that only sends (a client never started, defining no function)
// evaluates trigger conditions from the registry.
func TestExpressionTriggerIfEvaluatedBySenderOnlyClient(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	worker := flowtest.ClientOn(t, pool, testConfig(), func(worker *flow.Client) {
		exprEchoFunction(t, worker, "pro-only", flow.EventTrigger("acct/upgraded").If(`event.data.plan == "pro" && event.data.seats > 2`))
	})

	sender := newClient(t, pool, nil) // never started, no functions
	fns, runIDs := exprRunsOf(t, sender, worker, flow.Event{Name: "acct/upgraded", Data: map[string]any{"plan": "pro", "seats": 3}})
	require.Equal(t, []string{"pro-only"}, fns)
	fns2, _ := exprRunsOf(t, sender, worker, flow.Event{Name: "acct/upgraded", Data: map[string]any{"plan": "pro", "seats": 2}})
	require.Empty(t, fns2)
	fns3, _ := exprRunsOf(t, sender, worker, flow.Event{Name: "acct/upgraded", Data: map[string]any{"plan": "free", "seats": 9}})
	require.Empty(t, fns3)

	run, err := worker.AwaitRun(testCtx(t), runIDs[0])
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.JSONEq(t, `{"plan":"pro","seats":3}`, string(run.Output))

	// SendTx from the sender-only client too.
	ctx := testCtx(t)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	ids, err := sender.SendTx(ctx, tx, flow.Event{Name: "acct/upgraded", Data: map[string]any{"plan": "pro", "seats": 10}})
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	runs, err := worker.ListRuns(ctx, flow.RunFilter{EventID: ids[0]})
	require.NoError(t, err)
	require.Len(t, runs, 1)
}

func TestExpressionBadTriggerIfIsCreateFunctionError(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := newClient(t, pool, nil)
	handler := func(ctx context.Context, in flow.Input[any]) (any, error) { return nil, nil }
	cases := []struct {
		trigger flow.Trigger
		want    []string // substrings of the error
	}{
		{flow.EventTrigger("x/y").If(`event.data.x ==`), []string{"event.data.x ==", "1:16", "Syntax error"}},
		{flow.EventTrigger("x/y").If(`foo.data.x == 1`), []string{"1:1", "undeclared reference to 'foo'"}},
		{flow.EventTrigger("x/y").If(`event.data.x == 'a`), []string{"1:17"}},
		{flow.Triggers(flow.EventTrigger("x/ok").If(`event.data.a == 1`), flow.EventTrigger("x/y").If(`(event.data.a`)), []string{"x/y", "1:14"}},
		{flow.CronTrigger("@every 1m").If(`event.data.a == 1`), []string{"If applies to event triggers only"}},
	}
	for i, tc := range cases {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: fmt.Sprintf("bad-%d", i)}, tc.trigger, handler)
		require.Error(t, err, "case %d", i)
		require.ErrorIs(t, err, flow.ErrInvalidFunction, "case %d", i)
		for _, w := range tc.want {
			require.Contains(t, err.Error(), w, "case %d", i)
		}
	}
	// A failed CreateFunction leaves the ID free.
	_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "bad-0"}, flow.EventTrigger("x/y").If(`event.data.x == 1`), handler)
	require.NoError(t, err)
}

// A wait's If compares the incoming event (async) with the run's trigger
// (event): only the event satisfying it, for the right invoice, resumes.
func TestExpressionWaitIfPicksMatchingEvent(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "wait-if"}, flow.EventTrigger("invoice/opened"),
			func(ctx context.Context, in flow.Input[json.RawMessage]) (any, error) {
				ev, err := flow.WaitForEvent[json.RawMessage](ctx, "wait-pay", flow.WaitOpts{
					Event: "pay/received", Match: "data.invoice", If: `async.data.amount > event.data.min`, Timeout: time.Minute,
				})
				if err != nil {
					return nil, err
				}
				return ev.ID, nil
			})
		require.NoError(t, err)
	})

	runA := sendOne(t, c, flow.Event{Name: "invoice/opened", Data: map[string]any{"invoice": "A", "min": 100}})
	runB := sendOne(t, c, flow.Event{Name: "invoice/opened", Data: map[string]any{"invoice": "B", "min": 10}})
	require.Len(t, runA, 1)
	require.Len(t, runB, 1)
	waitUntilWaiting(t, c, runA[0])
	waitUntilWaiting(t, c, runB[0])

	send := func(inv string, amount any) string {
		return waitSendID(t, c, flow.Event{Name: "pay/received", Data: map[string]any{"invoice": inv, "amount": amount}})
	}
	send("A", 50)           // too small for A
	send("A", 100)          // not greater
	send("A", nil)          // null: 0 in an ordering, not greater
	send("B", 5)            // too small for B
	send("C", 500)          // no such invoice
	bigA := send("A", 150)  // A's
	bigB := send("B", 10.5) // B's
	send("A", 1000)         // too late: A's wait is consumed

	for _, tc := range []struct{ run, want string }{{runA[0], bigA}, {runB[0], bigB}} {
		run, err := c.AwaitRun(testCtx(t), tc.run)
		require.NoError(t, err)
		require.Equal(t, flow.RunCompleted, run.Status, run.Error)
		var got string
		require.NoError(t, run.DecodeOutput(&got))
		require.Equal(t, tc.want, got)
	}
}

func TestExpressionBadWaitIfFailsRunWithoutRetries(t *testing.T) {
	t.Parallel()
	var entries, before atomic.Int32

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "bad-wait-if", Retries: flow.Ptr(3)}, flow.EventTrigger("bad/wait"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				entries.Add(1)
				if _, err := flow.Step(ctx, "before", func(ctx context.Context) (int32, error) { return before.Add(1), nil }); err != nil {
					return nil, err
				}
				_, err := flow.WaitForEvent[any](ctx, "w", flow.WaitOpts{Event: "x/y", If: `async.data.x ==`, Timeout: time.Minute})
				return nil, err
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "bad/wait"})
	require.Equal(t, flow.RunFailed, run.Status)
	require.Contains(t, run.Error, `"w"`)
	require.Contains(t, run.Error, "If")
	require.Contains(t, run.Error, "1:16")
	require.Equal(t, int32(1), entries.Load(), "a bad If must not be retried")
	require.Equal(t, int32(1), before.Load())
	require.Equal(t, 0, run.Attempt)
	for _, st := range run.Steps {
		require.NotEqual(t, "w", st.ID, "no wait is recorded for a bad If")
	}
}

// "TZ=Europe/Paris @every 1s" is accepted (robfig/cron reads the TZ prefix
// before descriptors; @every ignores it), as are TZ prefixes on five-field
// specs; bad zones and bad specs are CreateFunction errors, not panics.
func TestCronTZSpecsValidated(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := newClient(t, pool, nil)
	handler := func(ctx context.Context, in flow.Input[flow.ScheduledTimer]) (any, error) { return nil, nil }
	for i, spec := range []string{
		"TZ=Europe/Paris @every 1s",
		"TZ=Europe/Paris * * * * *",
		"CRON_TZ=America/New_York 30 9 * * 1-5",
		"TZ=UTC @daily",
	} {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: fmt.Sprintf("ok-%d", i)}, flow.CronTrigger(spec), handler)
		require.NoError(t, err, spec)
	}
	for i, spec := range []string{
		"TZ=Nowhere/Land * * * * *",
		"TZ=Europe/Paris",     // a zone and no schedule
		"TZ=Europe/Paris    ", // likewise
		"TZ=Europe/Paris 61 * * * *",
		"@every",
	} {
		var err error
		if assert.NotPanics(t, func() {
			_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: fmt.Sprintf("bad-%d", i)}, flow.CronTrigger(spec), handler)
		}, spec) {
			assert.ErrorIs(t, err, flow.ErrInvalidFunction, spec)
		}
	}
}

// A cron trigger with a TZ fires once per tick across two started clients on
// one database: every run has its own tick.
func TestCronTZFiresOncePerTickAcrossClients(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	const spec = "TZ=Europe/Paris @every 1s"
	clients := make([]*flow.Client, 2)
	for i := range clients {
		clients[i] = flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
			_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "paris-tick"}, flow.CronTrigger(spec),
				func(ctx context.Context, in flow.Input[flow.ScheduledTimer]) (any, error) {
					if in.Event.Name != "flow/scheduled.timer" || in.Event.Data.Cron != spec || in.Event.Data.FunctionID != "paris-tick" {
						return nil, flow.NonRetriable(fmt.Errorf("unexpected event %+v", in.Event))
					}
					return in.Event.Data.Tick, nil
				})
			require.NoError(t, err)
		})
	}
	ctx := testCtx(t)
	listRuns := func() []*flow.Run {
		runs, err := clients[0].ListRuns(ctx, flow.RunFilter{FunctionID: "paris-tick", Limit: 1000})
		require.NoError(t, err)
		return runs
	}
	// Leader election can take a while; then count the runs of ~3 seconds.
	require.Eventually(t, func() bool { return len(listRuns()) > 0 }, 30*time.Second, 20*time.Millisecond)
	first := time.Now()
	before := len(listRuns())
	deadline := first.Add(3 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // measuring a rate over a window, not synchronising
	}
	runs := listRuns()
	elapsed := time.Since(first)
	fired := len(runs) - before
	require.GreaterOrEqual(t, fired, 2, "about one run per second expected over %s", elapsed)
	require.LessOrEqual(t, fired, int(elapsed/time.Second)+2, "more runs than ticks over %s", elapsed)

	ticks := map[time.Time]string{}
	events := map[string]bool{}
	for _, r := range runs {
		run, err := clients[0].AwaitRun(ctx, r.ID)
		require.NoError(t, err)
		require.Equal(t, flow.RunCompleted, run.Status, run.Error)
		var tick time.Time
		require.NoError(t, run.DecodeOutput(&tick))
		require.False(t, tick.IsZero())
		if other, dup := ticks[tick]; dup {
			require.Failf(t, "two runs for one tick", "runs %s and %s both fired for tick %s", other, r.ID, tick)
		}
		ticks[tick] = r.ID
		require.False(t, events[r.EventID], "two runs share event %s", r.EventID)
		events[r.EventID] = true
	}
	var ordered []time.Time
	for tk := range ticks {
		ordered = append(ordered, tk)
	}
	sort.Slice(ordered, func(i, j int) bool { return ordered[i].Before(ordered[j]) })
	for i := 1; i < len(ordered); i++ {
		require.GreaterOrEqual(t, ordered[i].Sub(ordered[i-1]), time.Second, "ticks %v", ordered)
	}
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM flow_event WHERE name = 'flow/scheduled.timer'`).Scan(&n))
	require.GreaterOrEqual(t, n, len(runs))
	require.LessOrEqual(t, n, len(runs)+2, "events without runs") // ticks fired after the listing
}
