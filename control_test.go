package flow_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// sendData sends one event named name with data and returns its stored ID.
func sendData(t *testing.T, c *flow.Client, name string, data map[string]any) string {
	t.Helper()
	ids, err := c.Send(testCtx(t), flow.Event{Name: name, Data: data})
	require.NoError(t, err)
	return ids[0]
}

// runsOf returns the runs of a function, oldest first.
func runsOf(t *testing.T, c *flow.Client, fnID string) []*flow.Run {
	t.Helper()
	runs, err := c.ListRuns(testCtx(t), flow.RunFilter{FunctionID: fnID})
	require.NoError(t, err)
	slices.Reverse(runs)
	return runs
}

// awaitAll waits for every run of fnID to end and returns them, oldest first.
func awaitAll(t *testing.T, c *flow.Client, fnID string) []*flow.Run {
	t.Helper()
	var out []*flow.Run
	for _, r := range runsOf(t, c, fnID) {
		run, err := c.AwaitRun(testCtx(t), r.ID)
		require.NoError(t, err)
		out = append(out, run)
	}
	return out
}

// runTimes returns a run's creation and start times as the database saw
// them.
func runTimes(t *testing.T, pool *pgxpool.Pool, runID string) (created, started time.Time) {
	t.Helper()
	require.NoError(t, pool.QueryRow(testCtx(t), "SELECT created_at, started_at FROM flow_run WHERE id = $1", runID).Scan(&created, &started))
	return created, started
}

// echoData defines a function on trigger name that returns its events' data.
func echoData(t *testing.T, c *flow.Client, opts flow.FunctionOpts, name string) {
	t.Helper()
	_, err := flow.CreateFunction(c, opts, flow.EventTrigger(name),
		func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
			out := make([]map[string]any, len(in.Events))
			for i, ev := range in.Events {
				out[i] = ev.Data
			}
			return out, nil
		})
	require.NoError(t, err)
}

func outputOf(t *testing.T, run *flow.Run) []map[string]any {
	t.Helper()
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	var out []map[string]any
	require.NoError(t, run.DecodeOutput(&out))
	return out
}

func TestThrottleDelaysStartsInOrder(t *testing.T) {
	t.Parallel()
	const period = 600 * time.Millisecond // Limit 2: one start every 300ms
	a, b, pool := twoWorkers(t, func(c *flow.Client) {
		echoData(t, c, flow.FunctionOpts{ID: "throttled", Throttle: &flow.Throttle{Limit: 2, Period: period, Burst: 1}}, "throttle/e")
	})
	for i := range 7 {
		sender := []*flow.Client{a, b}[i%2]
		sendData(t, sender, "throttle/e", map[string]any{"n": i})
	}
	runs := awaitAll(t, a, "throttled")
	require.Len(t, runs, 7, "a throttle drops nothing")
	first, _ := runTimes(t, pool, runs[0].ID)
	interval := period / 2
	var turns []time.Time
	for i, r := range runs {
		require.Equal(t, float64(i), outputOf(t, r)[0]["n"])
		_, started := runTimes(t, pool, r.ID)
		// The start the throttle booked for the run when it was sent.
		var turn time.Time
		require.NoError(t, pool.QueryRow(testCtx(t), "SELECT order_at FROM flow_run WHERE id = $1", r.ID).Scan(&turn))
		turns = append(turns, turn)
		// Limit+Burst = 3 start at once; then one per interval, in order.
		if i >= 3 {
			earliest := first.Add(time.Duration(i-2) * interval)
			require.False(t, turn.Before(earliest.Add(-20*time.Millisecond)),
				"run %d was booked %s after the first was sent, before its turn at %s", i, turn.Sub(first), earliest.Sub(first))
			require.False(t, started.Before(turn.Add(-20*time.Millisecond)),
				"run %d started %s before the start it was booked", i, turn.Sub(started))
			// Delayed runs are booked in the order they were sent, an
			// interval apart, so they start in that order unless the
			// machine is so loaded that one waits a whole interval for a
			// worker: the booking is the promise, not the worker's timing.
			require.True(t, turn.After(turns[i-1]), "delayed runs are booked in the order they were sent")
		}
	}
}

func TestRateLimitSkipsExcessEvents(t *testing.T) {
	t.Parallel()
	a, b, _ := twoWorkers(t, func(c *flow.Client) {
		echoData(t, c, flow.FunctionOpts{ID: "rated", RateLimit: &flow.RateLimit{Limit: 2, Period: time.Hour, Key: "event.data.user"}}, "rate/e")
	})
	for i, c := range []*flow.Client{a, b, a} {
		sendData(t, c, "rate/e", map[string]any{"user": "ann", "n": i})
	}
	sendData(t, b, "rate/e", map[string]any{"user": "bob", "n": 3})

	runs := awaitAll(t, a, "rated")
	require.Len(t, runs, 4, "every event is visible as a run")
	var statuses []flow.RunStatus
	for _, r := range runs {
		statuses = append(statuses, r.Status)
	}
	require.Equal(t, []flow.RunStatus{flow.RunCompleted, flow.RunCompleted, flow.RunSkipped, flow.RunCompleted}, statuses)
	require.Contains(t, runs[2].Error, "rate limit of 2 per 1h0m0s")
	skipped, err := a.ListRuns(testCtx(t), flow.RunFilter{FunctionID: "rated", Status: []flow.RunStatus{flow.RunSkipped}})
	require.NoError(t, err)
	require.Len(t, skipped, 1)
	require.Equal(t, runs[2].ID, skipped[0].ID)
}

func TestRateLimitFromSenderOnlyProcess(t *testing.T) {
	t.Parallel()
	url := flowtest.DatabaseURL(t)
	ctx := testCtx(t)
	workerPool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	t.Cleanup(workerPool.Close)
	senderPool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	t.Cleanup(senderPool.Close)
	worker := flowtest.ClientOn(t, workerPool, testConfig(), func(worker *flow.Client) {
		echoData(t, worker, flow.FunctionOpts{ID: "rated", RateLimit: &flow.RateLimit{Limit: 1, Period: time.Hour}}, "rate/e")
	})
	sender := newClient(t, senderPool, nil) // defines nothing, never started
	sendData(t, sender, "rate/e", map[string]any{"n": 0})
	sendData(t, sender, "rate/e", map[string]any{"n": 1})
	runs := awaitAll(t, worker, "rated")
	require.Len(t, runs, 2)
	require.Equal(t, flow.RunCompleted, runs[0].Status, runs[0].Error)
	require.Equal(t, flow.RunSkipped, runs[1].Status)
}

func TestIdempotencyKeyOneRunPerKey(t *testing.T) {
	t.Parallel()
	a, b, _ := twoWorkers(t, func(c *flow.Client) {
		echoData(t, c, flow.FunctionOpts{ID: "charge", Idempotency: "event.data.orderId"}, "order/paid")
	})
	sendData(t, a, "order/paid", map[string]any{"orderId": 7, "try": 1})
	sendData(t, b, "order/paid", map[string]any{"orderId": 7, "try": 2})
	sendData(t, a, "order/paid", map[string]any{"orderId": 8, "try": 1})
	runs := awaitAll(t, a, "charge")
	require.Len(t, runs, 3)
	require.Equal(t, float64(1), outputOf(t, runs[0])[0]["try"])
	require.Equal(t, flow.RunSkipped, runs[1].Status)
	require.Contains(t, runs[1].Error, "idempotency key already used by run "+runs[0].ID)
	require.Equal(t, float64(8), outputOf(t, runs[2])[0]["orderId"])
}

func TestDebounceRunsOnceWithLastEvent(t *testing.T) {
	t.Parallel()
	const period = 300 * time.Millisecond
	a, b, pool := twoWorkers(t, func(c *flow.Client) {
		echoData(t, c, flow.FunctionOpts{ID: "debounced", Debounce: &flow.Debounce{Period: period, Key: "event.data.user"}}, "doc/edited")
	})
	ctx := testCtx(t)
	wakeAt := func(id string) time.Time {
		var at *time.Time
		require.NoError(t, pool.QueryRow(ctx, "SELECT wake_at FROM flow_run WHERE id = $1", id).Scan(&at))
		require.NotNil(t, at, "the run has not started")
		return *at
	}
	// Three quick edits by ann, from two processes, and one by bob.
	sendData(t, a, "doc/edited", map[string]any{"user": "ann", "v": 1})
	annRun := runsOf(t, a, "debounced")[0].ID
	w1 := wakeAt(annRun)
	sendData(t, b, "doc/edited", map[string]any{"user": "ann", "v": 2})
	w2 := wakeAt(annRun)
	require.True(t, w2.After(w1), "each event pushes the start back")
	last := sendData(t, a, "doc/edited", map[string]any{"user": "ann", "v": 3})
	sendData(t, b, "doc/edited", map[string]any{"user": "bob", "v": 1})

	runs := awaitAll(t, a, "debounced")
	require.Len(t, runs, 2, "one run per key")
	require.Equal(t, annRun, runs[0].ID)
	require.Equal(t, last, runs[0].EventID, "the run has the last event")
	require.Equal(t, []map[string]any{{"user": "ann", "v": float64(3)}}, outputOf(t, runs[0]))
	require.Equal(t, "bob", outputOf(t, runs[1])[0]["user"])
	var lastReceived time.Time
	require.NoError(t, pool.QueryRow(ctx, "SELECT received_at FROM flow_event WHERE id = $1", last).Scan(&lastReceived))
	_, started := runTimes(t, pool, annRun)
	require.False(t, started.Before(lastReceived.Add(period-20*time.Millisecond)), "the run starts a Period after the last event")

	// After the run started, a new event debounces into a new run.
	sendData(t, b, "doc/edited", map[string]any{"user": "ann", "v": 4})
	runs = awaitAll(t, a, "debounced")
	require.Len(t, runs, 3)
	require.Equal(t, float64(4), outputOf(t, runs[2])[0]["v"])
}

func TestDebounceTimeoutCapsDelay(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		echoData(t, c, flow.FunctionOpts{ID: "capped", Debounce: &flow.Debounce{Period: time.Hour, Timeout: 300 * time.Millisecond}}, "doc/edited")
	})
	sendData(t, c, "doc/edited", map[string]any{"v": 1})
	sendData(t, c, "doc/edited", map[string]any{"v": 2})
	runs := awaitAll(t, c, "capped") // a Period of an hour would outlast the test
	require.Len(t, runs, 1)
	require.Equal(t, float64(2), outputOf(t, runs[0])[0]["v"])
	created, started := runTimes(t, pool, runs[0].ID)
	require.False(t, started.Before(created.Add(280*time.Millisecond)), "Timeout after the first event, not sooner")
}

func TestBatchStartsWhenFull(t *testing.T) {
	t.Parallel()
	a, b, _ := twoWorkers(t, func(c *flow.Client) {
		echoData(t, c, flow.FunctionOpts{ID: "batched", Batch: &flow.Batch{MaxSize: 3, Timeout: time.Hour, Key: "event.data.user"}}, "row/added")
	})
	for i := range 3 {
		sendData(t, []*flow.Client{a, b}[i%2], "row/added", map[string]any{"user": "ann", "n": i})
	}
	sendData(t, a, "row/added", map[string]any{"user": "bob", "n": 9})
	runs := runsOf(t, a, "batched")
	require.Len(t, runs, 2, "one batch per key")
	run, err := a.AwaitRun(testCtx(t), runs[0].ID) // a full batch does not wait an hour
	require.NoError(t, err)
	out := outputOf(t, run)
	require.Len(t, out, 3)
	for i, data := range out {
		require.Equal(t, map[string]any{"user": "ann", "n": float64(i)}, data, "events in arrival order")
	}
	require.Equal(t, flow.RunQueued, runStatus(t, a, runs[1].ID), "bob's batch waits to fill")
	// A fourth event for ann opens a new batch.
	sendData(t, b, "row/added", map[string]any{"user": "ann", "n": 3})
	require.Len(t, runsOf(t, a, "batched"), 3)
}

func TestBatchStartsAtTimeout(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		echoData(t, c, flow.FunctionOpts{ID: "batched", Batch: &flow.Batch{MaxSize: 10, Timeout: 300 * time.Millisecond}}, "row/added")
	})
	sendData(t, c, "row/added", map[string]any{"n": 0})
	sendData(t, c, "row/added", map[string]any{"n": 1})
	runs := awaitAll(t, c, "batched")
	require.Len(t, runs, 1)
	require.Len(t, outputOf(t, runs[0]), 2)
	created, started := runTimes(t, pool, runs[0].ID)
	require.False(t, started.Before(created.Add(280*time.Millisecond)), "the batch starts at its Timeout")
}

// Events racing the timeouts and the filling of batches, from two processes:
// each event lands in exactly one batch, and no batch is over MaxSize.
func TestBatchEveryEventOnceUnderRaces(t *testing.T) {
	t.Parallel()
	a, b, _ := twoWorkers(t, func(c *flow.Client) {
		echoData(t, c, flow.FunctionOpts{ID: "batched", Batch: &flow.Batch{MaxSize: 3, Timeout: 20 * time.Millisecond}}, "row/added")
	})
	const perSender = 60
	var wg sync.WaitGroup
	for s, c := range []*flow.Client{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perSender {
				if _, err := c.Send(context.Background(), flow.Event{Name: "row/added", Data: map[string]any{"id": fmt.Sprint(s, "-", i)}}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	runs := awaitAll(t, a, "batched")
	var got []string
	for _, r := range runs {
		out := outputOf(t, r)
		require.LessOrEqual(t, len(out), 3)
		for _, d := range out {
			got = append(got, d["id"].(string))
		}
	}
	sort.Strings(got)
	var want []string
	for s := range 2 {
		for i := range perSender {
			want = append(want, fmt.Sprint(s, "-", i))
		}
	}
	sort.Strings(want)
	require.Equal(t, want, got)
}

func TestPriorityJumpsTheQueue(t *testing.T) {
	t.Parallel()
	g := newGate()
	a, b, pool := twoWorkers(t, func(c *flow.Client) {
		gatedFunction(c, g, flow.FunctionOpts{ID: "prioritised", Concurrency: []flow.Concurrency{{Limit: 1}},
			Priority: &flow.Priority{Run: "event.data.Account == 'vip' ? 60 : 0"}})
	})
	sendKeyed(t, a, "first", "")
	g.waitEntered(t, 1)
	sendKeyed(t, b, "low1", "")
	sendKeyed(t, a, "low2", "")
	sendKeyed(t, b, "high", "vip")
	waitParked(t, pool, 3)
	for _, k := range []string{"first", "high", "low1"} {
		g.open(k)
	}
	g.open("low2")
	for _, r := range awaitAll(t, a, "prioritised") {
		require.Equal(t, flow.RunCompleted, r.Status, r.Error)
	}
	_, entered, _ := g.snapshot()
	require.Equal(t, []string{"first", "high", "low1", "low2"}, entered)
}

func TestPriorityNegativeDelays(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		echoData(t, c, flow.FunctionOpts{ID: "later", Priority: &flow.Priority{Run: "-1"}}, "later/e")
	})
	sendData(t, c, "later/e", nil)
	runs := awaitAll(t, c, "later")
	require.Equal(t, flow.RunCompleted, runs[0].Status, runs[0].Error)
	created, started := runTimes(t, pool, runs[0].ID)
	require.False(t, started.Before(created.Add(980*time.Millisecond)))
}

func TestSingletonSkip(t *testing.T) {
	t.Parallel()
	g := newGate()
	a, b, _ := twoWorkers(t, func(c *flow.Client) {
		gatedFunction(c, g, flow.FunctionOpts{ID: "single", Singleton: &flow.Singleton{Key: "event.data.Account", Mode: flow.SingletonSkip}})
	})
	first := sendKeyed(t, a, "first", "acme")
	g.waitEntered(t, 1)
	second := sendKeyed(t, b, "second", "acme")
	other := sendKeyed(t, a, "other", "bolt")
	run, err := a.AwaitRun(testCtx(t), second)
	require.NoError(t, err)
	require.Equal(t, flow.RunSkipped, run.Status)
	require.Contains(t, run.Error, "singleton run "+first+" is in progress")
	g.waitEntered(t, 2)
	g.open("first")
	g.open("other")
	for _, id := range []string{first, other} {
		run, err := a.AwaitRun(testCtx(t), id)
		require.NoError(t, err)
		require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	}
	// Once the run ended, the key is free again.
	third := sendKeyed(t, b, "third", "acme")
	g.open("third")
	run, err = a.AwaitRun(testCtx(t), third)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
}

func TestSingletonCancelWhileStepExecutes(t *testing.T) {
	t.Parallel()
	stepErr := make(chan error, 1)
	var mu sync.Mutex
	a, b, _ := twoWorkers(t, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "single", Singleton: &flow.Singleton{Mode: flow.SingletonCancel}},
			flow.EventTrigger("single/e"),
			func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
				return flow.Step(ctx, "work", func(ctx context.Context) (string, error) {
					if in.Event.Data["block"] == true {
						<-ctx.Done() // until the run is cancelled
						mu.Lock()
						defer mu.Unlock()
						select {
						case stepErr <- ctx.Err():
						default:
						}
						return "", ctx.Err()
					}
					return "new", nil
				})
			})
		require.NoError(t, err)
	})
	ctx := testCtx(t)
	sendData(t, a, "single/e", map[string]any{"block": true})
	old := runsOf(t, a, "single")[0].ID
	flowtest.AwaitStatus(t, a, old, flow.RunRunning)
	sendData(t, b, "single/e", map[string]any{"block": false})

	run, err := a.AwaitRun(ctx, old)
	require.NoError(t, err)
	require.Equal(t, flow.RunCancelled, run.Status)
	require.Contains(t, run.Error, "replaced by singleton run")
	select {
	case err := <-stepErr:
		require.ErrorIs(t, err, context.Canceled, "the executing step's context is cancelled")
	case <-ctx.Done():
		t.Fatal("the old run's step was not interrupted")
	}
	runs := awaitAll(t, a, "single")
	require.Len(t, runs, 2)
	require.Equal(t, flow.RunCompleted, runs[1].Status, runs[1].Error)
}

func TestFlowControlValidation(t *testing.T) {
	t.Parallel()
	c := newClient(t, flowtest.Pool(t), nil)
	noop := func(ctx context.Context, in flow.Input[any]) (any, error) { return nil, nil }
	cases := []struct {
		opts    flow.FunctionOpts
		mention string
	}{
		{flow.FunctionOpts{Concurrency: []flow.Concurrency{{Limit: 1}, {Limit: 1}, {Limit: 1}}}, "at most 2 Concurrency limits"},
		{flow.FunctionOpts{Concurrency: []flow.Concurrency{{Limit: 0}}}, "Concurrency[0].Limit must be at least 1"},
		{flow.FunctionOpts{Concurrency: []flow.Concurrency{{Limit: 1, Key: "event.data."}}}, "Concurrency[0].Key"},
		{flow.FunctionOpts{Throttle: &flow.Throttle{Limit: 1}}, "Throttle.Period"},
		{flow.FunctionOpts{Throttle: &flow.Throttle{Limit: 1, Period: time.Second, Burst: -1}}, "Throttle.Burst"},
		{flow.FunctionOpts{RateLimit: &flow.RateLimit{Limit: 1, Period: 48 * time.Hour}}, "RateLimit.Period must be positive and at most 24h"},
		{flow.FunctionOpts{Debounce: &flow.Debounce{Period: time.Second, Timeout: -time.Second}}, "Debounce.Timeout"},
		{flow.FunctionOpts{Batch: &flow.Batch{MaxSize: 0, Timeout: time.Second}}, "Batch.MaxSize"},
		{flow.FunctionOpts{Priority: &flow.Priority{Run: "event.data.p +"}}, "Priority.Run"},
		{flow.FunctionOpts{Idempotency: "event.data.id =="}, "Idempotency"},
		{flow.FunctionOpts{Singleton: &flow.Singleton{Mode: "wait"}}, `Singleton.Mode must be "skip", "cancel" or "queue"`},
		{flow.FunctionOpts{Batch: &flow.Batch{MaxSize: 5, Timeout: time.Second}, Idempotency: "event.data.id"}, "Batch cannot be combined with Idempotency"},
		{flow.FunctionOpts{Batch: &flow.Batch{MaxSize: 5, Timeout: time.Second}, RateLimit: &flow.RateLimit{Limit: 1, Period: time.Second}}, "Batch cannot be combined with RateLimit"},
		{flow.FunctionOpts{Batch: &flow.Batch{MaxSize: 5, Timeout: time.Second}, Debounce: &flow.Debounce{Period: time.Second}}, "Batch cannot be combined with Debounce"},
		{flow.FunctionOpts{Batch: &flow.Batch{MaxSize: 5, Timeout: time.Second}, Singleton: &flow.Singleton{Mode: flow.SingletonSkip}}, "Batch cannot be combined with Singleton"},
		{flow.FunctionOpts{Batch: &flow.Batch{MaxSize: 5, Timeout: time.Second}, Priority: &flow.Priority{Run: "1"}}, "Batch cannot be combined with Priority"},
		{flow.FunctionOpts{Batch: &flow.Batch{MaxSize: 5, Timeout: time.Second}, CancelOn: []flow.CancelOn{{Event: "x/y"}}}, "Batch cannot be combined with CancelOn"},
	}
	for i, tc := range cases {
		tc.opts.ID = fmt.Sprint("bad-", i)
		_, err := flow.CreateFunction(c, tc.opts, flow.EventTrigger("x/e"), noop)
		require.ErrorIs(t, err, flow.ErrInvalidFunction, tc.mention)
		require.Contains(t, err.Error(), tc.mention)
		require.Contains(t, err.Error(), tc.opts.ID, "the error names the function")
	}
	// Allowed together: batching with a concurrency limit and a throttle.
	_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "ok", Batch: &flow.Batch{MaxSize: 5, Timeout: time.Second},
		Concurrency: []flow.Concurrency{{Limit: 2}}, Throttle: &flow.Throttle{Limit: 1, Period: time.Second}}, flow.EventTrigger("x/e"), noop)
	require.NoError(t, err)
}

// The registry keeps a function's flow control: any client lists it.
func TestFlowControlListed(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		echoData(t, c, flow.FunctionOpts{ID: "listed",
			Concurrency: []flow.Concurrency{{Limit: 5}, {Limit: 1, Key: "event.data.account"}},
			Throttle:    &flow.Throttle{Limit: 10, Period: time.Minute, Burst: 2},
			Singleton:   &flow.Singleton{Mode: flow.SingletonCancel, Key: "event.data.user"},
		}, "listed/e")
	})
	other := newClient(t, pool, nil) // defines nothing
	fns, err := other.ListFunctions(testCtx(t))
	require.NoError(t, err)
	require.Len(t, fns, 1)
	require.False(t, fns[0].Local)
	require.Equal(t, []string{
		"Concurrency: 5",
		"Concurrency: 1 per event.data.account",
		"Throttle: 10 per 1m0s, burst 2",
		"Singleton (cancel) per event.data.user",
	}, fns[0].FlowControl)
}

// DeleteExpired drops idempotency keys past their 24 hours (the key can be
// used again) and rate-limit state that no longer limits anything.
func TestFlowControlStateExpires(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		echoData(t, c, flow.FunctionOpts{ID: "once", Idempotency: "event.data.id"}, "once/e")
		echoData(t, c, flow.FunctionOpts{ID: "rated", RateLimit: &flow.RateLimit{Limit: 1, Period: time.Hour}}, "rated/e")
	})
	ctx := testCtx(t)
	sendData(t, c, "once/e", map[string]any{"id": 1})
	sendData(t, c, "rated/e", nil)
	count := func(table string) int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n))
		return n
	}
	_, err := c.DeleteExpired(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, count("flow_idempotency"), "a fresh key stays")
	require.Equal(t, 1, count("flow_limit"), "a limit in force stays")

	_, err = pool.Exec(ctx, "UPDATE flow_idempotency SET seen_at = now() - interval '25 hours'")
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "UPDATE flow_limit SET tat = now() - interval '2 minutes'")
	require.NoError(t, err)
	_, err = c.DeleteExpired(ctx)
	require.NoError(t, err)
	require.Zero(t, count("flow_idempotency"))
	require.Zero(t, count("flow_limit"))
	// The key starts a run again.
	sendData(t, c, "once/e", map[string]any{"id": 1})
	runs := awaitAll(t, c, "once")
	require.Len(t, runs, 2)
	require.Equal(t, flow.RunCompleted, runs[1].Status, runs[1].Error)
}

// Without a concurrency limit, priority orders the queue itself: with one
// worker busy, a high-priority run sent last starts first.
func TestPriorityOrdersTheQueue(t *testing.T) {
	t.Parallel()
	g := newGate()
	cfg := testConfig()
	cfg.Workers = 1
	c := flowtest.Client(t, cfg, func(c *flow.Client) {
		gatedFunction(c, g, flow.FunctionOpts{ID: "queued", Priority: &flow.Priority{Run: "event.data.Account == 'vip' ? 60 : 0"}})
	})
	sendKeyed(t, c, "first", "")
	g.waitEntered(t, 1)
	sendKeyed(t, c, "low1", "")
	sendKeyed(t, c, "low2", "")
	sendKeyed(t, c, "high", "vip")
	for _, k := range []string{"first", "high", "low1", "low2"} {
		g.open(k)
	}
	for _, r := range awaitAll(t, c, "queued") {
		require.Equal(t, flow.RunCompleted, r.Status, r.Error)
	}
	_, entered, _ := g.snapshot()
	require.Equal(t, []string{"first", "high", "low1", "low2"}, entered)
}
