package flow_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// twoWorkers returns two started clients on one database, each with its own
// pool, as two processes working the same queue would be, after define has
// created the same functions on each. It returns a pool for inspection.
func twoWorkers(t *testing.T, define func(c *flow.Client)) (*flow.Client, *flow.Client, *pgxpool.Pool) {
	t.Helper()
	url := flowtest.DatabaseURL(t)
	ctx := testCtx(t)
	clients := make([]*flow.Client, 2)
	var pool *pgxpool.Pool
	for i := range clients {
		p, err := pgxpool.New(ctx, url)
		require.NoError(t, err)
		t.Cleanup(p.Close)
		pool = p
		clients[i] = flowtest.ClientOn(t, p, testConfig(), define)
	}
	return clients[0], clients[1], pool
}

// gate lets a test hold steps while it looks, and counts how many are
// inside at once.
type gate struct {
	mu      sync.Mutex
	inside  map[string]bool
	max     int
	entered []string
	release map[string]chan struct{}
	changed chan struct{}
	// with holds, for each key that entered, the keys inside when it did.
	with map[string][]string
	// ctxDone holds the keys whose step left the gate because its context
	// was cancelled.
	ctxDone map[string]bool
}

func newGate() *gate {
	return &gate{inside: map[string]bool{}, release: map[string]chan struct{}{}, changed: make(chan struct{}, 1),
		with: map[string][]string{}, ctxDone: map[string]bool{}}
}

func (g *gate) ch(key string) chan struct{} {
	if g.release[key] == nil {
		g.release[key] = make(chan struct{})
	}
	return g.release[key]
}

// enter records key inside and blocks until open(key).
func (g *gate) enter(ctx context.Context, key string) error {
	g.mu.Lock()
	for k := range g.inside {
		g.with[key] = append(g.with[key], k)
	}
	g.inside[key] = true
	g.entered = append(g.entered, key)
	g.max = max(g.max, len(g.inside))
	ch := g.ch(key)
	g.mu.Unlock()
	select {
	case g.changed <- struct{}{}:
	default:
	}
	defer func() {
		g.mu.Lock()
		delete(g.inside, key)
		g.mu.Unlock()
	}()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		g.mu.Lock()
		g.ctxDone[key] = true
		g.mu.Unlock()
		return ctx.Err()
	}
}

// entry returns the keys that were inside when key entered, and whether
// key's step has since left the gate with its context cancelled.
func (g *gate) entry(key string) (with []string, ctxDone bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.with[key]...), g.ctxDone[key]
}

func (g *gate) open(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.ch(key))
}

func (g *gate) snapshot() (inside []string, entered []string, most int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for k := range g.inside {
		inside = append(inside, k)
	}
	return inside, append([]string(nil), g.entered...), g.max
}

// waitEntered waits until n keys have entered the gate.
func (g *gate) waitEntered(t *testing.T, n int) []string {
	t.Helper()
	require.Eventually(t, func() bool {
		_, entered, _ := g.snapshot()
		return len(entered) >= n
	}, 20*time.Second, 2*time.Millisecond, "waiting for %d runs to enter", n)
	_, entered, _ := g.snapshot()
	return entered
}

// gatedFunction defines a function whose run holds a step in g, keyed by
// the event's data.key, until the test opens it.
func gatedFunction(c *flow.Client, g *gate, opts flow.FunctionOpts) {
	type in struct{ Key, Account string }
	_, err := flow.CreateFunction(c, opts, flow.EventTrigger("gated/run"),
		func(ctx context.Context, input flow.Input[in]) (any, error) {
			return flow.Step(ctx, "hold", func(ctx context.Context) (string, error) {
				return input.Event.Data.Key, g.enter(ctx, input.Event.Data.Key)
			})
		})
	if err != nil {
		panic(err)
	}
}

func sendKeyed(t *testing.T, c *flow.Client, key, account string) string {
	t.Helper()
	ids, err := c.Send(testCtx(t), flow.Event{Name: "gated/run", Data: map[string]string{"Key": key, "Account": account}})
	require.NoError(t, err)
	runs, err := c.ListRuns(testCtx(t), flow.RunFilter{EventID: ids[0]})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	return runs[0].ID
}

// waitParked waits until n runs wait for a concurrency slot. A run becomes a
// waiter, in its place in line, when its first claim finds no free slot: a
// few milliseconds after it is sent.
func waitParked(t *testing.T, pool *pgxpool.Pool, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		var parked int
		err := pool.QueryRow(testCtx(t), "SELECT count(*) FROM flow_run WHERE slot_wait IS NOT NULL AND status = 'queued'").Scan(&parked)
		return err == nil && parked == n
	}, 20*time.Second, 2*time.Millisecond, "waiting for %d runs to wait for a slot", n)
}

func runStatus(t *testing.T, c *flow.Client, id string) flow.RunStatus {
	t.Helper()
	r, err := c.GetRun(testCtx(t), id)
	require.NoError(t, err)
	return r.Status
}

func TestConcurrencyLimitAcrossProcesses(t *testing.T) {
	t.Parallel()
	g := newGate()
	a, b, pool := twoWorkers(t, func(c *flow.Client) {
		gatedFunction(c, g, flow.FunctionOpts{ID: "limited", Concurrency: []flow.Concurrency{{Limit: 2}}})
	})
	var ids []string
	send := func(i int) {
		sender := a
		if i%2 == 1 {
			sender = b
		}
		ids = append(ids, sendKeyed(t, sender, fmt.Sprint("r", i), ""))
	}
	// Two runs take the two slots. Which runs first try to claim a slot
	// depends on which process fetches its job first: only runs that have
	// parked wait in line (README), so the others are sent once both slots
	// are held.
	send(0)
	send(1)
	entered := g.waitEntered(t, 2)
	require.ElementsMatch(t, []string{"r0", "r1"}, entered[:2], "the first two runs take the two slots")
	for i := 2; i < 6; i++ {
		send(i)
	}
	// The others wait, queued, not executing.
	waitParked(t, pool, 4)
	for _, id := range ids[2:] {
		require.Equal(t, flow.RunQueued, runStatus(t, a, id))
	}
	_, entered, most := g.snapshot()
	require.Len(t, entered, 2, "no third run executes while both slots are held")
	require.Equal(t, 2, most)

	// Freeing a slot starts the next waiter at once (the safety-net recheck
	// is minutes away, beyond this test's deadline).
	g.open("r0")
	entered = g.waitEntered(t, 3)
	require.Equal(t, "r2", entered[2])
	// Each freed slot goes to the oldest waiter.
	for i := 1; i <= 3; i++ {
		g.open(fmt.Sprint("r", i))
		entered = g.waitEntered(t, i+3)
		require.Equal(t, fmt.Sprint("r", i+2), entered[i+2], "waiting runs start in order")
	}
	g.open("r4")
	g.open("r5")
	for i, id := range ids {
		run, err := a.AwaitRun(testCtx(t), id)
		require.NoError(t, err)
		require.Equal(t, flow.RunCompleted, run.Status, "run %d: %s", i, run.Error)
	}
	_, entered, most = g.snapshot()
	require.Equal(t, 2, most, "never more than the limit at once, over both processes")
	require.Len(t, entered, 6)
}

func TestConcurrencyKeyedLimits(t *testing.T) {
	t.Parallel()
	g := newGate()
	a, b, pool := twoWorkers(t, func(c *flow.Client) {
		gatedFunction(c, g, flow.FunctionOpts{ID: "per-account", Concurrency: []flow.Concurrency{
			{Limit: 3},                            // the whole function
			{Limit: 1, Key: "event.data.Account"}, // each account
		}})
	})
	a1 := sendKeyed(t, a, "a1", "acme")
	g.waitEntered(t, 1)
	a2 := sendKeyed(t, b, "a2", "acme") // waits: acme's one slot is taken
	b1 := sendKeyed(t, a, "b1", "bolt") // another account is not held up behind a2
	g.waitEntered(t, 2)
	c1 := sendKeyed(t, b, "c1", "corp")
	g.waitEntered(t, 3)
	d1 := sendKeyed(t, a, "d1", "dyn") // the function's limit of 3 is reached
	waitParked(t, pool, 2)
	inside, entered, _ := g.snapshot()
	require.ElementsMatch(t, []string{"a1", "b1", "c1"}, inside)
	require.Len(t, entered, 3)
	require.Equal(t, flow.RunQueued, runStatus(t, a, a2))
	require.Equal(t, flow.RunQueued, runStatus(t, a, d1))

	// Freeing b1 frees a function slot but no acme slot: d1 starts, a2 waits.
	g.open("b1")
	entered = g.waitEntered(t, 4)
	require.Equal(t, "d1", entered[3])
	require.Equal(t, flow.RunQueued, runStatus(t, a, a2))
	// Freeing a1 frees acme's slot and a function slot: a2 starts.
	g.open("a1")
	entered = g.waitEntered(t, 5)
	require.Equal(t, "a2", entered[4])
	for _, k := range []string{"a2", "c1", "d1"} {
		g.open(k)
	}
	for _, id := range []string{a1, a2, b1, c1, d1} {
		run, err := a.AwaitRun(testCtx(t), id)
		require.NoError(t, err)
		require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	}
}

// A sleeping or waiting run holds no slot; it takes one again to resume.
func TestConcurrencySleepingRunsHoldNoSlot(t *testing.T) {
	t.Parallel()
	var resumed atomic.Int64

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "sleepy", Concurrency: []flow.Concurrency{{Limit: 1}}},
			flow.EventTrigger("sleepy/run"),
			func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
				if in.Event.Data["wait"] == true {
					if _, err := flow.WaitForEvent[map[string]any](ctx, "wait", flow.WaitOpts{Event: "sleepy/go", Timeout: time.Hour}); err != nil {
						return nil, err
					}
					resumed.Add(1)
				}
				return "done", nil
			})
		require.NoError(t, err)
	})

	waiting := sendOne(t, c, flow.Event{Name: "sleepy/run", Data: map[string]any{"wait": true}})[0]
	flowtest.AwaitStatus(t, c, waiting, flow.RunWaiting)
	// The waiting run holds no slot: another run of the function completes.
	other := awaitOnly(t, c, flow.Event{Name: "sleepy/run"})
	require.Equal(t, flow.RunCompleted, other.Status, other.Error)

	_, err := c.Send(testCtx(t), flow.Event{Name: "sleepy/go"})
	require.NoError(t, err)
	run, err := c.AwaitRun(testCtx(t), waiting)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.EqualValues(t, 1, resumed.Load())
}

// Cancelling a running run or a waiting one frees the slot for the next.
// As in Inngest, the slot passes when the cancel commits: the cancelled
// step's context is cancelled promptly, but its body may still be returning
// when the next run starts, and nothing it returns is stored.
func TestConcurrencyCancelFreesSlot(t *testing.T) {
	t.Parallel()
	g := newGate()
	a, b, pool := twoWorkers(t, func(c *flow.Client) {
		gatedFunction(c, g, flow.FunctionOpts{ID: "cancel-slot", Concurrency: []flow.Concurrency{{Limit: 1}}})
	})
	r0 := sendKeyed(t, a, "r0", "")
	g.waitEntered(t, 1)
	r1 := sendKeyed(t, b, "r1", "")
	r2 := sendKeyed(t, a, "r2", "")
	waitParked(t, pool, 2)

	// Cancel the waiter first: it gives up its place; then the running run.
	ok, err := b.CancelRun(testCtx(t), r1)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = a.CancelRun(testCtx(t), r0)
	require.NoError(t, err)
	require.True(t, ok)
	entered := g.waitEntered(t, 2)
	require.Equal(t, "r2", entered[1], "the slot goes to the next waiter at once")
	with, _ := g.entry("r2")
	require.Subset(t, []string{"r0"}, with, "only the cancelled run's step may still be returning when the next starts")
	if len(with) > 0 {
		t.Logf("r2 started while the cancelled r0's step was still returning")
	}
	// The cancelled run's step sees its context cancelled (River signals the
	// process running it), though the test never opens its gate.
	require.Eventually(t, func() bool {
		_, done := g.entry("r0")
		return done
	}, 20*time.Second, 2*time.Millisecond, "the cancelled run's step never saw its context cancelled")
	g.open("r2")
	run, err := a.AwaitRun(testCtx(t), r2)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	with, _ = g.entry("r0")
	require.Empty(t, with, "r0 started alone")
	_, entered, _ = g.snapshot()
	require.Equal(t, []string{"r0", "r2"}, entered, "the cancelled waiter never runs, the cancelled run never again")
	for _, id := range []string{r0, r1} {
		run, err := a.GetRun(testCtx(t), id)
		require.NoError(t, err)
		require.Equal(t, flow.RunCancelled, run.Status)
		for _, st := range run.Steps {
			require.NotEqual(t, "completed", st.Status, "run %s: a cancelled step stores nothing", id)
			require.Empty(t, st.Output, "run %s: a cancelled step stores nothing", id)
		}
	}
}

// Timeouts.Start counts the time spent waiting for a slot.
func TestConcurrencyStartTimeoutWhileWaiting(t *testing.T) {
	t.Parallel()
	g := newGate()
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		gatedFunction(c, g, flow.FunctionOpts{ID: "start-timeout", Concurrency: []flow.Concurrency{{Limit: 1}},
			Timeouts: flow.Timeouts{Start: 300 * time.Millisecond}})
	})
	// The run that holds the slot has the same 300ms start timeout: on a
	// loaded machine it may itself wait that long for a worker, and is then
	// rightly cancelled before it starts. Send another until one holds it.
	var r0, holder string
	for i := 0; r0 == ""; i++ {
		require.Less(t, i, 10, "no run started within its 300ms start timeout in 10 tries")
		key := fmt.Sprint("r0-", i)
		id := sendKeyed(t, c, key, "")
		var status flow.RunStatus
		require.Eventually(t, func() bool {
			if _, entered, _ := g.snapshot(); slices.Contains(entered, key) {
				return true
			}
			status = runStatus(t, c, id)
			return status.Ended()
		}, 20*time.Second, 2*time.Millisecond, "run %s neither started nor ended", key)
		if status.Ended() {
			run, err := c.GetRun(testCtx(t), id)
			require.NoError(t, err)
			require.Equal(t, flow.RunCancelled, run.Status, run.Error)
			require.Contains(t, run.Error, "start timeout")
			continue
		}
		r0, holder = id, key
	}
	r1 := sendKeyed(t, c, "r1", "")
	run, err := c.AwaitRun(testCtx(t), r1)
	require.NoError(t, err)
	require.Equal(t, flow.RunCancelled, run.Status)
	require.Contains(t, run.Error, "start timeout")
	_, entered, _ := g.snapshot()
	require.NotContains(t, entered, "r1", "a run cancelled by its start timeout never executes")
	g.open(holder)
	run, err = c.AwaitRun(testCtx(t), r0)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
}

// Reruns and invoked runs take slots like the runs events start.
func TestConcurrencyAppliesToRerunsAndInvokes(t *testing.T) {
	t.Parallel()
	g := newGate()
	pool := flowtest.Pool(t)
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		limited, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "limited", Concurrency: []flow.Concurrency{{Limit: 1}}},
			flow.EventTrigger("gated/run"),
			func(ctx context.Context, in flow.Input[map[string]string]) (any, error) {
				return flow.Step(ctx, "hold", func(ctx context.Context) (string, error) {
					return in.Event.Data["Key"], g.enter(ctx, in.Event.Data["Key"])
				})
			})
		require.NoError(t, err)
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "parent"}, flow.EventTrigger("parent/run"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				return flow.Invoke[string](ctx, "child", limited, map[string]string{"Key": "child"}, flow.InvokeOpts{})
			})
		require.NoError(t, err)
	})

	g.open("c0")
	c0 := sendKeyed(t, c, "c0", "")
	run, err := c.AwaitRun(testCtx(t), c0)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)

	r0 := sendKeyed(t, c, "r0", "")
	g.waitEntered(t, 2)
	rerun, err := c.Rerun(testCtx(t), c0)
	require.NoError(t, err)
	parent := sendOne(t, c, flow.Event{Name: "parent/run"})[0]
	waitParked(t, pool, 2)
	_, entered, _ := g.snapshot()
	require.Equal(t, []string{"c0", "r0"}, entered, "the rerun and the invoked run wait for the slot")

	g.open("r0")
	g.open("child")
	for _, id := range []string{r0, rerun, parent} {
		run, err := c.AwaitRun(testCtx(t), id)
		require.NoError(t, err)
		require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	}
	_, entered, most := g.snapshot()
	require.Equal(t, 1, most, "one at a time")
	require.ElementsMatch(t, []string{"c0", "r0", "c0", "child"}, entered)
}

// A run that suspends (here, to wait for an event) hands its slot to the
// run parked behind it at once.
func TestConcurrencySuspendHandsSlotOn(t *testing.T) {
	t.Parallel()
	g := newGate()
	pool := flowtest.Pool(t)
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "suspender", Concurrency: []flow.Concurrency{{Limit: 1}}},
			flow.EventTrigger("gated/run"),
			func(ctx context.Context, in flow.Input[map[string]string]) (any, error) {
				key := in.Event.Data["Key"]
				if _, err := flow.Step(ctx, "hold", func(ctx context.Context) (string, error) { return key, g.enter(ctx, key) }); err != nil {
					return nil, err
				}
				if key == "a" {
					if _, err := flow.WaitForEvent[any](ctx, "go", flow.WaitOpts{Event: "suspender/go", Timeout: time.Hour}); err != nil {
						return nil, err
					}
				}
				return key, nil
			})
		require.NoError(t, err)
	})
	a := sendKeyed(t, c, "a", "")
	g.waitEntered(t, 1)
	b := sendKeyed(t, c, "b", "")
	waitParked(t, pool, 1)

	g.open("a") // a goes on to wait for an event, freeing the slot
	entered := g.waitEntered(t, 2)
	require.Equal(t, "b", entered[1], "the parked run starts once the slot's holder suspends")
	require.Equal(t, flow.RunWaiting, runStatus(t, c, a))
	g.open("b")
	run, err := c.AwaitRun(testCtx(t), b)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	_, err = c.Send(testCtx(t), flow.Event{Name: "suspender/go"})
	require.NoError(t, err)
	run, err = c.AwaitRun(testCtx(t), a)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
}
