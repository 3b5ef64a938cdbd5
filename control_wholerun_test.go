package flow_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// stepLog records, in order, the step bodies that ran.
type stepLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *stepLog) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
}

// count returns how many times line was recorded.
func (l *stepLog) count(line string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, x := range l.lines {
		if x == line {
			n++
		}
	}
	return n
}

func (l *stepLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// heldSlots returns the runs holding a concurrency slot of function fnID's
// keys.
func heldSlots(t *testing.T, pool *pgxpool.Pool, fnID string) []string {
	t.Helper()
	rows, err := pool.Query(testCtx(t), `
		SELECT run_id::text FROM flow_concurrency_slot
		WHERE run_id IS NOT NULL AND starts_with(key, $1 || chr(31)) ORDER BY key, n`, fnID)
	require.NoError(t, err)
	var ids []string
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	return ids
}

type order struct {
	Order    string
	Customer string
	Hold     bool // wait for "order/shipped" before shipping
}

// TestConcurrencyRunOneOrderPerCustomer is the scenario a new user tried:
// "one order per customer at a time", Limit 1 per customer. With the
// default step-level counting, order 2's charge ran while order 1 waited
// to retry its charge; in ConcurrencyRun mode order 2 does not start until
// order 1 has ended, though order 1 backs off before a retry, sleeps and
// waits for an event meanwhile. Another customer's order is not held up.
func TestConcurrencyRunOneOrderPerCustomer(t *testing.T) {
	t.Parallel()
	log := &stepLog{}
	pool := flowtest.Pool(t)
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "orders", Concurrency: []flow.Concurrency{
			{Limit: 1, Key: "event.data.Customer", Mode: flow.ConcurrencyRun},
		}}, flow.EventTrigger("order/placed"),
			func(ctx context.Context, in flow.Input[order]) (any, error) {
				o := in.Event.Data
				if _, err := flow.Step(ctx, "charge", func(ctx context.Context) (string, error) {
					log.add(o.Order + ":charge")
					if o.Order == "o1" && log.count("o1:charge") == 1 {
						// Long enough for the test to send order 2 and see it
						// wait while order 1 backs off.
						return "", flow.RetryAfter(errors.New("card declined"), time.Second)
					}
					return "charged", nil
				}); err != nil {
					return nil, err
				}
				if err := flow.Sleep(ctx, "settle", 50*time.Millisecond); err != nil {
					return nil, err
				}
				if o.Hold {
					if _, err := flow.WaitForEvent[order](ctx, "shipped", flow.WaitOpts{
						Event: "order/shipped", Match: "data.Order", Timeout: time.Hour,
					}); err != nil {
						return nil, err
					}
				}
				return flow.Step(ctx, "ship", func(ctx context.Context) (string, error) {
					log.add(o.Order + ":ship")
					return "shipped", nil
				})
			})
		require.NoError(t, err)
	})
	send := func(o order) string {
		return sendOne(t, c, flow.Event{Name: "order/placed", Data: o})[0]
	}

	o1 := send(order{Order: "o1", Customer: "ann", Hold: true})
	// Order 1's charge failed: it backs off before its retry, holding the slot.
	require.Eventually(t, func() bool {
		run, err := c.GetRun(testCtx(t), o1)
		return err == nil && len(log.get()) == 1 && run.Status != flow.RunRunning
	}, 20*time.Second, 2*time.Millisecond, "order 1's first charge did not fail")
	require.Equal(t, []string{o1}, heldSlots(t, pool, "orders"), "order 1 holds ann's slot while it backs off")
	o2 := send(order{Order: "o2", Customer: "ann"})
	waitParked(t, pool, 1)
	other := send(order{Order: "b1", Customer: "bob"})
	run, err := c.AwaitRun(testCtx(t), other)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)

	// Order 1 retries its charge, sleeps and waits; order 2 still waits.
	flowtest.AwaitStatus(t, c, o1, flow.RunWaiting)
	require.Equal(t, flow.RunQueued, runStatus(t, c, o2))
	require.NotContains(t, log.get(), "o2:charge", "order 2 started while order 1 was in progress")
	require.Equal(t, []string{o1}, heldSlots(t, pool, "orders"), "order 1 holds ann's slot while it waits")

	_, err = c.Send(testCtx(t), flow.Event{Name: "order/shipped", Data: order{Order: "o1"}})
	require.NoError(t, err)
	for _, id := range []string{o1, o2} {
		run, err := c.AwaitRun(testCtx(t), id)
		require.NoError(t, err)
		require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	}
	var ann []string
	for _, l := range log.get() {
		if l[:2] != "b1" {
			ann = append(ann, l)
		}
	}
	require.Equal(t, []string{"o1:charge", "o1:charge", "o1:ship", "o2:charge", "o2:ship"}, ann)
	var after bool
	require.NoError(t, pool.QueryRow(testCtx(t), `
		SELECT (SELECT started_at FROM flow_run WHERE id = $2) >= (SELECT ended_at FROM flow_run WHERE id = $1)`,
		o1, o2).Scan(&after))
	require.True(t, after, "order 2 started after order 1 ended")
	require.Empty(t, heldSlots(t, pool, "orders"), "every slot is free once the runs ended")
}

// TestConcurrencyRunCancelFreesSlot: a run that holds its whole-run slot
// while it sleeps, or while it waits for an event, frees it when it is
// cancelled, and the next run in line starts at once.
func TestConcurrencyRunCancelFreesSlot(t *testing.T) {
	t.Parallel()
	log := &stepLog{}
	pool := flowtest.Pool(t)
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "exclusive", Concurrency: []flow.Concurrency{
			{Limit: 1, Mode: flow.ConcurrencyRun},
		}}, flow.EventTrigger("exclusive/run"),
			func(ctx context.Context, in flow.Input[map[string]string]) (any, error) {
				name := in.Event.Data["name"]
				if _, err := flow.Step(ctx, "start", func(ctx context.Context) (string, error) {
					log.add(name)
					return name, nil
				}); err != nil {
					return nil, err
				}
				switch in.Event.Data["then"] {
				case "sleep":
					return nil, flow.Sleep(ctx, "nap", time.Hour)
				case "wait":
					_, err := flow.WaitForEvent[any](ctx, "never", flow.WaitOpts{Event: "exclusive/never", Timeout: time.Hour})
					return nil, err
				}
				return name, nil
			})
		require.NoError(t, err)
	})
	send := func(name, then string) string {
		return sendOne(t, c, flow.Event{Name: "exclusive/run", Data: map[string]string{"name": name, "then": then}})[0]
	}

	sleeper := send("sleeper", "sleep")
	flowtest.AwaitStatus(t, c, sleeper, flow.RunSleeping)
	waiter := send("waiter", "wait")
	last := send("last", "")
	waitParked(t, pool, 2)
	require.Equal(t, []string{sleeper}, heldSlots(t, pool, "exclusive"))

	ok, err := c.CancelRun(testCtx(t), sleeper)
	require.NoError(t, err)
	require.True(t, ok)
	flowtest.AwaitStatus(t, c, waiter, flow.RunWaiting)
	require.Equal(t, []string{waiter}, heldSlots(t, pool, "exclusive"), "the cancelled sleeper's slot went to the next in line")
	require.Equal(t, flow.RunQueued, runStatus(t, c, last))

	ok, err = c.CancelRun(testCtx(t), waiter)
	require.NoError(t, err)
	require.True(t, ok)
	run, err := c.AwaitRun(testCtx(t), last)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.Equal(t, []string{"sleeper", "waiter", "last"}, log.get())
	require.Empty(t, heldSlots(t, pool, "exclusive"), "no slot is left held")
}

// TestConcurrencyRunTimeoutFreesSlot: a run cancelled by its finish
// timeout while it sleeps frees its whole-run slot.
func TestConcurrencyRunTimeoutFreesSlot(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "timed",
			Concurrency: []flow.Concurrency{{Limit: 1, Mode: flow.ConcurrencyRun}},
			Timeouts:    flow.Timeouts{Finish: 300 * time.Millisecond},
		}, flow.EventTrigger("timed/run"),
			func(ctx context.Context, in flow.Input[map[string]bool]) (any, error) {
				if in.Event.Data["slow"] {
					return nil, flow.Sleep(ctx, "nap", time.Hour)
				}
				return "quick", nil
			})
		require.NoError(t, err)
	})
	slow := sendOne(t, c, flow.Event{Name: "timed/run", Data: map[string]bool{"slow": true}})[0]
	flowtest.AwaitStatus(t, c, slow, flow.RunSleeping)
	quick := sendOne(t, c, flow.Event{Name: "timed/run"})[0]
	waitParked(t, pool, 1) // behind the sleeping run
	run, err := c.AwaitRun(testCtx(t), slow)
	require.NoError(t, err)
	require.Equal(t, flow.RunCancelled, run.Status)
	require.Contains(t, run.Error, "timeout")
	run, err = c.AwaitRun(testCtx(t), quick)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.Empty(t, heldSlots(t, pool, "timed"))
}

// TestSingletonQueue: a run for a key with one in progress waits, and
// starts when that one ends, in order; none is skipped or cancelled, and
// other keys are not held up.
func TestSingletonQueue(t *testing.T) {
	t.Parallel()
	g := newGate()
	pool := flowtest.Pool(t)
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		type in struct{ Key, Account string }
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "sync-account",
			Singleton: &flow.Singleton{Key: "event.data.Account", Mode: flow.SingletonQueue},
		}, flow.EventTrigger("gated/run"),
			func(ctx context.Context, input flow.Input[in]) (any, error) {
				if _, err := flow.Step(ctx, "hold", func(ctx context.Context) (string, error) {
					return input.Event.Data.Key, g.enter(ctx, input.Event.Data.Key)
				}); err != nil {
					return nil, err
				}
				// Still in progress, though not executing: the next run
				// of the account must not start now.
				return nil, flow.Sleep(ctx, "cool-down", 200*time.Millisecond)
			})
		require.NoError(t, err)
	})
	first := sendKeyed(t, c, "a1", "acme")
	g.waitEntered(t, 1)
	second := sendKeyed(t, c, "a2", "acme")
	third := sendKeyed(t, c, "a3", "acme")
	waitParked(t, pool, 2)
	other := sendKeyed(t, c, "b1", "bolt")
	g.waitEntered(t, 2)
	g.open("b1")
	// An event without the key's field is no singleton (its key is false,
	// as in Inngest): two such runs execute at once.
	var loose []string
	for _, k := range []string{"n1", "n2"} {
		loose = append(loose, sendOne(t, c, flow.Event{Name: "gated/run", Data: map[string]string{"Key": k}})[0])
	}
	entered := g.waitEntered(t, 4)
	require.ElementsMatch(t, []string{"n1", "n2"}, entered[2:4], "runs that are no singleton do not queue")
	g.open("n1")
	g.open("n2")

	ids := []string{first, second, third}
	for i, key := range []string{"a1", "a2", "a3"} {
		g.open(key)
		if i+1 < len(ids) {
			entered := g.waitEntered(t, i+5)
			require.Equal(t, fmt.Sprint("a", i+2), entered[i+4], "queued runs start in order")
			require.Equal(t, flow.RunCompleted, runStatus(t, c, ids[i]), "the next run started only once this one ended")
		}
	}
	for _, id := range append(append(ids, other), loose...) {
		run, err := c.AwaitRun(testCtx(t), id)
		require.NoError(t, err)
		require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	}
	_, entered, _ = g.snapshot()
	require.Equal(t, []string{"a1", "b1", "a2", "a3"}, []string{entered[0], entered[1], entered[4], entered[5]})
	require.Empty(t, heldSlots(t, pool, "sync-account"))
}

// TestConcurrencyRunBadInput: modes that do not exist, and a queue-mode
// Singleton beside two Concurrency limits (a function has two concurrency
// keys at most, and the queue takes one), are refused by CreateFunction
// with a message naming the option.
func TestConcurrencyRunBadInput(t *testing.T) {
	t.Parallel()
	c := newClient(t, flowtest.Pool(t), nil)
	noop := func(ctx context.Context, in flow.Input[any]) (any, error) { return nil, nil }
	for i, tc := range []struct {
		name string
		opts flow.FunctionOpts
		want string
	}{
		{"unknown concurrency mode", flow.FunctionOpts{Concurrency: []flow.Concurrency{{Limit: 1, Mode: "whole"}}},
			`Concurrency[0].Mode must be "step" or "run", got "whole"`},
		{"unknown singleton mode", flow.FunctionOpts{Singleton: &flow.Singleton{Mode: "wait"}},
			`Singleton.Mode must be "skip", "cancel" or "queue", got "wait"`},
		{"queue beside two limits", flow.FunctionOpts{
			Concurrency: []flow.Concurrency{{Limit: 5}, {Limit: 1, Key: "event.data.a", Mode: flow.ConcurrencyRun}},
			Singleton:   &flow.Singleton{Key: "event.data.b", Mode: flow.SingletonQueue},
		}, `Singleton.Mode "queue" waits on a concurrency key of its own: at most 1 Concurrency limit beside it, got 2`},
		{"queue with a batch", flow.FunctionOpts{
			Batch:     &flow.Batch{MaxSize: 10, Timeout: time.Second},
			Singleton: &flow.Singleton{Mode: flow.SingletonQueue},
		}, "Batch cannot be combined with Singleton"},
		{"whole-run limit of 0", flow.FunctionOpts{Concurrency: []flow.Concurrency{{Mode: flow.ConcurrencyRun}}},
			"Concurrency[0].Limit must be at least 1, got 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.opts.ID = fmt.Sprint("bad-", i)
			_, err := flow.CreateFunction(c, tc.opts, flow.EventTrigger("bad/input"), noop)
			require.ErrorIs(t, err, flow.ErrInvalidFunction)
			require.ErrorContains(t, err, tc.want)
		})
	}
	// The two modes that exist, and a queue beside one limit, are accepted.
	_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "good",
		Concurrency: []flow.Concurrency{{Limit: 5, Mode: flow.ConcurrencyStep}},
		Singleton:   &flow.Singleton{Key: "event.data.b", Mode: flow.SingletonQueue},
	}, flow.EventTrigger("good/input"), noop)
	require.NoError(t, err)
}

// TestConcurrencyRunWithStepLimit: a whole-run limit per customer beside a
// step-level limit for the function. A run that holds its customer's slot
// and goes on after a wait, while the function's one step-level slot is
// taken, waits for that slot only, in its line (slot_wait 2), still
// holding its customer's; it goes on once the slot frees.
func TestConcurrencyRunWithStepLimit(t *testing.T) {
	t.Parallel()
	g := newGate()
	pool := flowtest.Pool(t)
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "mixed", Concurrency: []flow.Concurrency{
			{Limit: 1, Key: "event.data.Customer", Mode: flow.ConcurrencyRun},
			{Limit: 1}, // the function, step-level
		}}, flow.EventTrigger("mixed/run"),
			func(ctx context.Context, in flow.Input[order]) (any, error) {
				o := in.Event.Data
				if o.Hold {
					if _, err := flow.WaitForEvent[order](ctx, "go", flow.WaitOpts{
						Event: "mixed/go", Match: "data.Order", Timeout: time.Hour,
					}); err != nil {
						return nil, err
					}
				}
				return flow.Step(ctx, "work", func(ctx context.Context) (string, error) {
					return o.Order, g.enter(ctx, o.Order)
				})
			})
		require.NoError(t, err)
	})
	first := sendOne(t, c, flow.Event{Name: "mixed/run", Data: order{Order: "x1", Customer: "x", Hold: true}})[0]
	flowtest.AwaitStatus(t, c, first, flow.RunWaiting)
	other := sendOne(t, c, flow.Event{Name: "mixed/run", Data: order{Order: "y1", Customer: "y"}})[0]
	g.waitEntered(t, 1) // y1 holds the function's slot and y's

	_, err := c.Send(testCtx(t), flow.Event{Name: "mixed/go", Data: order{Order: "x1"}})
	require.NoError(t, err)
	waitParked(t, pool, 1)
	var slotWait int
	require.NoError(t, pool.QueryRow(testCtx(t), `SELECT slot_wait FROM flow_run WHERE id = $1`, first).Scan(&slotWait))
	require.Equal(t, 2, slotWait, "x1 waits for the function's slot, not for x's, which it holds")
	require.ElementsMatch(t, []string{first, other, other}, heldSlots(t, pool, "mixed"))

	g.open("y1")
	g.waitEntered(t, 2)
	g.open("x1")
	for _, id := range []string{first, other} {
		run, err := c.AwaitRun(testCtx(t), id)
		require.NoError(t, err)
		require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	}
	_, entered, most := g.snapshot()
	require.Equal(t, []string{"y1", "x1"}, entered)
	require.Equal(t, 1, most, "the function's step-level limit held")
	require.Empty(t, heldSlots(t, pool, "mixed"))
}
