package flow_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

type startIn struct {
	N   int    `json:"n"`
	Key string `json:"key,omitempty"`
}

type startOut struct {
	Double int    `json:"double"`
	Event  string `json:"event"`
	Events int    `json:"events"`
}

// doubler defines a typed function with no trigger that doubles its input
// and reports the name of its event and how many events it got.
func doubler(t *testing.T, c *flow.Client, opts flow.FunctionOpts) *flow.Func[startIn, startOut] {
	t.Helper()
	fn, err := flow.Define(c, opts, flow.NoTrigger(),
		func(ctx context.Context, in flow.Input[startIn]) (startOut, error) {
			return startOut{Double: in.Event.Data.N * 2, Event: in.Event.Name, Events: len(in.Events)}, nil
		})
	require.NoError(t, err)
	return fn
}

// TestStartRunsFunctionWithData: Start starts a run of a function with no
// trigger, returns its ID, and the run's event is a "flow/function.started"
// event carrying the data.
func TestStartRunsFunctionWithData(t *testing.T) {
	t.Parallel()
	var fn *flow.Func[startIn, startOut]
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		fn = doubler(t, c, flow.FunctionOpts{ID: "start-double"})
	})
	ctx := testCtx(t)
	runID, err := flow.Start(ctx, fn, startIn{N: 21})
	require.NoError(t, err)
	require.NotEmpty(t, runID)
	run, err := c.AwaitRun(ctx, runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.Equal(t, "start-double", run.FunctionID)
	var out startOut
	require.NoError(t, json.Unmarshal(run.Output, &out))
	require.Equal(t, startOut{Double: 42, Event: "flow/function.started", Events: 1}, out)

	// The untyped form on the client does the same.
	runID, err = c.StartFunction(ctx, fn.Function(), map[string]int{"n": 5})
	require.NoError(t, err)
	run, err = c.AwaitRun(ctx, runID)
	require.NoError(t, err)
	require.JSONEq(t, `{"double":10,"event":"flow/function.started","events":1}`, string(run.Output))
}

// TestStartTxCommitsWithCaller: StartTx's run exists iff the caller's
// transaction commits.
func TestStartTxCommitsWithCaller(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var fn *flow.Func[startIn, startOut]
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		fn = doubler(t, c, flow.FunctionOpts{ID: "start-tx"})
	})
	ctx := testCtx(t)

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	rolledBack, err := flow.StartTx(ctx, tx, fn, startIn{N: 1})
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))
	_, err = c.GetRun(ctx, rolledBack)
	require.ErrorIs(t, err, flow.ErrNotFound)

	tx, err = pool.Begin(ctx)
	require.NoError(t, err)
	committed, err := flow.StartTx(ctx, tx, fn, startIn{N: 2})
	require.NoError(t, err)
	var inTx int
	require.NoError(t, tx.QueryRow(ctx, `SELECT count(*) FROM flow_run WHERE id = $1`, committed).Scan(&inTx))
	require.Equal(t, 1, inTx)
	require.NoError(t, tx.Commit(ctx))
	run, err := c.AwaitRun(ctx, committed)
	require.NoError(t, err)
	require.JSONEq(t, `{"double":4,"event":"flow/function.started","events":1}`, string(run.Output))

	runs, err := c.ListRuns(ctx, flow.RunFilter{FunctionID: "start-tx"})
	require.NoError(t, err)
	require.Len(t, runs, 1, "the rolled-back start left no run")
}

// TestStartRateLimited: Start follows the function's rate limit: the second
// start in the period is recorded as skipped and returns ErrRunSkipped with
// the skipped run's ID.
func TestStartRateLimited(t *testing.T) {
	t.Parallel()
	var fn *flow.Func[startIn, startOut]
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		fn = doubler(t, c, flow.FunctionOpts{ID: "start-rate", RateLimit: &flow.RateLimit{Limit: 1, Period: time.Minute}})
	})
	ctx := testCtx(t)
	first, err := flow.Start(ctx, fn, startIn{N: 1})
	require.NoError(t, err)
	second, err := flow.Start(ctx, fn, startIn{N: 2})
	require.ErrorIs(t, err, flow.ErrRunSkipped)
	require.Contains(t, err.Error(), "rate limit of 1 per 1m0s reached")
	require.NotEmpty(t, second)
	require.NotEqual(t, first, second)
	run, err := c.AwaitRun(ctx, second)
	require.NoError(t, err)
	require.Equal(t, flow.RunSkipped, run.Status)
	require.Contains(t, run.Error, "rate limit")
	run, err = c.AwaitRun(ctx, first)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status)
}

// TestStartIgnoresDebounceAndBatch: a started run starts at once, alone,
// though its function debounces and batches events.
func TestStartIgnoresDebounceAndBatch(t *testing.T) {
	t.Parallel()
	var debounced, batched *flow.Func[startIn, startOut]
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		debounced = doubler(t, c, flow.FunctionOpts{ID: "start-debounced", Debounce: &flow.Debounce{Period: time.Hour}})
		batched = doubler(t, c, flow.FunctionOpts{ID: "start-batched", Batch: &flow.Batch{MaxSize: 10, Timeout: time.Hour}})
	})
	ctx := testCtx(t)
	for _, fn := range []*flow.Func[startIn, startOut]{debounced, batched} {
		runID, err := flow.Start(ctx, fn, startIn{N: 3})
		require.NoError(t, err)
		run, err := c.AwaitRun(ctx, runID)
		require.NoError(t, err)
		require.Equal(t, flow.RunCompleted, run.Status, fn.Function().ID())
		require.JSONEq(t, `{"double":6,"event":"flow/function.started","events":1}`, string(run.Output))
	}
}

// TestStartBadInput: a nil function, data that cannot be encoded, a
// function of another client and a nil transaction are clear errors that
// store nothing; a client not started still starts the run, which executes
// once a client is started.
func TestStartBadInput(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := newClient(t, pool, nil)
	fn := doubler(t, c, flow.FunctionOpts{ID: "start-bad"})
	other := newClient(t, pool, nil)
	otherFn := doubler(t, other, flow.FunctionOpts{ID: "start-bad"})
	ctx := testCtx(t)

	_, err := flow.Define[startIn, startOut](c, flow.FunctionOpts{ID: "start-nil-handler"}, flow.NoTrigger(), nil)
	require.ErrorIs(t, err, flow.ErrInvalidFunction)
	require.Contains(t, err.Error(), "nil handler")

	_, err = flow.Start[startIn, startOut](ctx, nil, startIn{})
	require.ErrorIs(t, err, flow.ErrInvalidFunction)
	require.Contains(t, err.Error(), "nil function")
	_, err = c.StartFunction(ctx, nil, nil)
	require.ErrorIs(t, err, flow.ErrInvalidFunction)

	_, err = c.StartFunction(ctx, fn.Function(), make(chan int))
	require.ErrorIs(t, err, flow.ErrInvalidEvent)
	require.Contains(t, err.Error(), "cannot be encoded as JSON")
	_, err = c.StartFunction(ctx, fn.Function(), map[string]string{"s": "a\x00b"})
	require.ErrorIs(t, err, flow.ErrInvalidEvent)

	_, err = c.StartFunction(ctx, otherFn.Function(), startIn{})
	require.ErrorIs(t, err, flow.ErrInvalidFunction)
	require.Contains(t, err.Error(), "not created on this client")

	_, err = c.StartFunctionTx(ctx, nil, fn.Function(), startIn{})
	require.ErrorIs(t, err, flow.ErrInvalidFunction)

	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM flow_run`).Scan(&n))
	require.Zero(t, n, "bad input stored no run")

	// A StartTx refused for bad input leaves the transaction usable.
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = flow.StartTx(ctx, tx, fn, startIn{N: 1})
	require.NoError(t, err)
	_, err = c.StartFunctionTx(ctx, tx, fn.Function(), make(chan int))
	require.ErrorIs(t, err, flow.ErrInvalidEvent)
	require.NoError(t, tx.Commit(ctx))

	// Not started: the run waits for a started client.
	runID, err := flow.Start(ctx, fn, startIn{N: 4})
	require.NoError(t, err)
	run, err := c.GetRun(ctx, runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunQueued, run.Status)
	start(t, c)
	run, err = c.AwaitRun(ctx, runID)
	require.NoError(t, err)
	require.JSONEq(t, `{"double":8,"event":"flow/function.started","events":1}`, string(run.Output))
}

// TestNoTriggerFunction: a function made with NoTrigger starts for no event
// (not even one named like its input events), shows no triggers, and the
// zero Trigger stays an error that points to NoTrigger.
func TestNoTriggerFunction(t *testing.T) {
	t.Parallel()
	var fn *flow.Func[startIn, startOut]
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		fn = doubler(t, c, flow.FunctionOpts{ID: "no-trigger"})
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "zero-trigger"}, flow.Trigger{},
			func(ctx context.Context, in flow.Input[any]) (any, error) { return nil, nil })
		require.ErrorIs(t, err, flow.ErrInvalidFunction)
		require.Contains(t, err.Error(), "NoTrigger")
	})
	ctx := testCtx(t)
	_, err := c.Send(ctx, flow.Event{Name: "no-trigger/anything", Data: startIn{N: 1}})
	require.NoError(t, err)
	fns, err := c.ListFunctions(ctx)
	require.NoError(t, err)
	var found bool
	for _, f := range fns {
		if f.ID == "no-trigger" {
			found = true
			require.Empty(t, f.Triggers)
		}
	}
	require.True(t, found, "ListFunctions shows the function")
	runs, err := c.ListRuns(ctx, flow.RunFilter{FunctionID: fn.Function().ID()})
	require.NoError(t, err)
	require.Empty(t, runs)
}

// TestInvokeRateLimit ports upstream's TestInvokeRateLimit: the first
// invoke of a function rate-limited to one run a minute completes its
// parent; the second fails the parent's Invoke step at once with a
// *StepError naming the rate limit, whose cause is ErrRunSkipped.
func TestInvokeRateLimit(t *testing.T) {
	t.Parallel()
	var (
		mu      sync.Mutex
		invokeE []error
	)
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		child := doubler(t, c, flow.FunctionOpts{ID: "invoked-fn", Retries: flow.Ptr(0),
			RateLimit: &flow.RateLimit{Limit: 1, Period: time.Minute}})
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "main-fn"}, flow.EventTrigger("my-event"),
			func(ctx context.Context, in flow.Input[startIn]) (any, error) {
				out, err := child.Invoke(ctx, "invoke", startIn{N: 1}, flow.InvokeOpts{})
				mu.Lock()
				invokeE = append(invokeE, err)
				mu.Unlock()
				if err != nil {
					return nil, err
				}
				return out, nil
			})
		require.NoError(t, err)
	})
	first := awaitOnly(t, c, flow.Event{Name: "my-event"})
	require.Equal(t, flow.RunCompleted, first.Status, first.Error)
	require.JSONEq(t, `{"double":2,"event":"flow/function.invoked","events":1}`, string(first.Output))

	second := awaitOnly(t, c, flow.Event{Name: "my-event"})
	require.Equal(t, flow.RunFailed, second.Status)
	require.Contains(t, second.Error, "rate limit of 1 per 1m0s reached")
	step := invokeStep(t, second, "invoke")
	require.Equal(t, "failed", string(step.Status))

	mu.Lock()
	last := invokeE[len(invokeE)-1]
	mu.Unlock()
	var se *flow.StepError
	require.ErrorAs(t, last, &se)
	require.ErrorIs(t, last, flow.ErrRunSkipped)
	require.Contains(t, se.Message, `invoked function "invoked-fn"`)

	runs, err := c.ListRuns(testCtx(t), flow.RunFilter{FunctionID: "invoked-fn"})
	require.NoError(t, err)
	statuses := map[flow.RunStatus]int{}
	for _, r := range runs {
		statuses[r.Status]++
	}
	require.Equal(t, map[flow.RunStatus]int{flow.RunCompleted: 1, flow.RunSkipped: 1}, statuses)
}

// TestInvokeIdempotencyFailsStep: a child whose idempotency key was used in
// the last 24 hours is refused, and the second parent's Invoke step fails
// at once (upstream would leave it waiting until its timeout).
func TestInvokeIdempotencyFailsStep(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		child := doubler(t, c, flow.FunctionOpts{ID: "idem-child", Idempotency: "event.data.key"})
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "idem-parent", Retries: flow.Ptr(0)}, flow.EventTrigger("idem/go"),
			func(ctx context.Context, in flow.Input[startIn]) (any, error) {
				return child.Invoke(ctx, "invoke", startIn{N: in.Event.Data.N, Key: "same"}, flow.InvokeOpts{})
			})
		require.NoError(t, err)
	})
	first := awaitOnly(t, c, flow.Event{Name: "idem/go", Data: startIn{N: 1}})
	require.Equal(t, flow.RunCompleted, first.Status, first.Error)
	second := awaitOnly(t, c, flow.Event{Name: "idem/go", Data: startIn{N: 2}})
	require.Equal(t, flow.RunFailed, second.Status)
	require.Contains(t, second.Error, "idempotency key already used")
}

// TestInvokeSingletonSkipFailsStep: a child whose singleton run is in
// progress is refused (skip mode), failing the Invoke step at once.
func TestInvokeSingletonSkipFailsStep(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		child, err := flow.Define(c, flow.FunctionOpts{ID: "single-child", Singleton: &flow.Singleton{Mode: flow.SingletonSkip}}, flow.NoTrigger(),
			func(ctx context.Context, in flow.Input[startIn]) (int, error) {
				if in.Event.Data.N == 1 {
					<-release
				}
				return in.Event.Data.N, nil
			})
		require.NoError(t, err)
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "single-parent", Retries: flow.Ptr(0)}, flow.EventTrigger("single/go"),
			func(ctx context.Context, in flow.Input[startIn]) (any, error) {
				return child.Invoke(ctx, "invoke", startIn{N: in.Event.Data.N}, flow.InvokeOpts{})
			})
		require.NoError(t, err)
	})
	ctx := testCtx(t)
	firstRuns := sendOne(t, c, flow.Event{Name: "single/go", Data: startIn{N: 1}})
	require.Len(t, firstRuns, 1)
	// Wait until the first child runs, holding the singleton.
	require.Eventually(t, func() bool {
		runs, err := c.ListRuns(ctx, flow.RunFilter{FunctionID: "single-child", Status: []flow.RunStatus{flow.RunRunning}})
		return err == nil && len(runs) == 1
	}, 30*time.Second, 10*time.Millisecond)
	second := awaitOnly(t, c, flow.Event{Name: "single/go", Data: startIn{N: 2}})
	close(release)
	require.Equal(t, flow.RunFailed, second.Status)
	require.Contains(t, second.Error, "singleton run")
	first, err := c.AwaitRun(ctx, firstRuns[0])
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, first.Status, first.Error)
}

// TestInvokeIgnoresDebounceAndBatch: an invoked child starts at once and
// alone, though its function debounces (for an hour) and batches events.
func TestInvokeIgnoresDebounceAndBatch(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		debounced := doubler(t, c, flow.FunctionOpts{ID: "inv-debounced", Debounce: &flow.Debounce{Period: time.Hour}})
		batched := doubler(t, c, flow.FunctionOpts{ID: "inv-batched", Batch: &flow.Batch{MaxSize: 10, Timeout: time.Hour}})
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "inv-parent"}, flow.EventTrigger("inv/go"),
			func(ctx context.Context, in flow.Input[startIn]) (any, error) {
				a, err := debounced.Invoke(ctx, "debounced", startIn{N: 1}, flow.InvokeOpts{})
				if err != nil {
					return nil, err
				}
				b, err := batched.Invoke(ctx, "batched", startIn{N: 2}, flow.InvokeOpts{})
				if err != nil {
					return nil, err
				}
				return []startOut{a, b}, nil
			})
		require.NoError(t, err)
	})
	run := awaitOnly(t, c, flow.Event{Name: "inv/go"})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.JSONEq(t, `[{"double":2,"event":"flow/function.invoked","events":1},{"double":4,"event":"flow/function.invoked","events":1}]`, string(run.Output))
}

// TestSendWithRunsReturnsRuns: SendWithRuns gives each event the runs it
// started, from a plain trigger, a trigger with a condition, and a function
// with flow control (a skipped run included), so that AwaitRun needs no
// ListRuns; a duplicate event starts none and reports the first event's
// runs; SendWithRunsTx's runs vanish with a rollback.
func TestSendWithRunsReturnsRuns(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		for _, f := range []struct {
			opts flow.FunctionOpts
			tr   flow.Trigger
		}{
			{flow.FunctionOpts{ID: "swr-plain"}, flow.EventTrigger("swr/go")},
			{flow.FunctionOpts{ID: "swr-if"}, flow.EventTrigger("swr/go").If("event.data.n > 0")},
			{flow.FunctionOpts{ID: "swr-rate", RateLimit: &flow.RateLimit{Limit: 1, Period: time.Minute}}, flow.EventTrigger("swr/go")},
		} {
			_, err := flow.CreateFunction(c, f.opts, f.tr, func(ctx context.Context, in flow.Input[startIn]) (any, error) {
				return in.Event.Data.N, nil
			})
			require.NoError(t, err)
		}
	})
	ctx := testCtx(t)
	sent, err := c.SendWithRuns(ctx,
		flow.Event{Name: "swr/go", Data: startIn{N: 1}, ID: "dup"},
		flow.Event{Name: "swr/go", Data: startIn{N: 0}},
		flow.Event{Name: "swr/none"},
		flow.Event{Name: "swr/go", Data: startIn{N: 2}, ID: "dup"},
	)
	require.NoError(t, err)
	require.Len(t, sent, 4)
	byFn := func(s flow.SentEvent) map[string]flow.RunStatus {
		out := map[string]flow.RunStatus{}
		for _, id := range s.RunIDs {
			run, err := c.AwaitRun(ctx, id)
			require.NoError(t, err)
			require.Equal(t, s.ID, run.EventID)
			out[run.FunctionID] = run.Status
		}
		return out
	}
	require.Equal(t, map[string]flow.RunStatus{"swr-plain": flow.RunCompleted, "swr-if": flow.RunCompleted, "swr-rate": flow.RunCompleted}, byFn(sent[0]))
	require.Equal(t, map[string]flow.RunStatus{"swr-plain": flow.RunCompleted, "swr-rate": flow.RunSkipped}, byFn(sent[1]))
	require.Empty(t, sent[2].RunIDs)
	require.Equal(t, sent[0].ID, sent[3].ID, "a duplicate returns the first event's ID")
	require.ElementsMatch(t, sent[0].RunIDs, sent[3].RunIDs, "and the first event's runs")
	again, err := c.SendWithRuns(ctx, flow.Event{Name: "swr/go", Data: startIn{N: 9}, ID: "dup"})
	require.NoError(t, err)
	require.ElementsMatch(t, sent[0].RunIDs, again[0].RunIDs, "a later duplicate too")

	// Every run of the events is reported: ListRuns finds no other.
	for _, s := range sent[:2] {
		runs, err := c.ListRuns(ctx, flow.RunFilter{EventID: s.ID})
		require.NoError(t, err)
		require.Len(t, runs, len(s.RunIDs))
	}

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	inTx, err := c.SendWithRunsTx(ctx, tx, flow.Event{Name: "swr/go", Data: startIn{N: 3}})
	require.NoError(t, err)
	require.Len(t, inTx, 1)
	require.Len(t, inTx[0].RunIDs, 3)
	require.NoError(t, tx.Rollback(ctx))
	for _, id := range inTx[0].RunIDs {
		_, err := c.GetRun(ctx, id)
		require.ErrorIs(t, err, flow.ErrNotFound)
	}

	// A bad event fails the whole call, as Send does.
	_, err = c.SendWithRuns(ctx, flow.Event{Name: ""})
	require.ErrorIs(t, err, flow.ErrInvalidEvent)
	require.True(t, errors.Is(err, flow.ErrInvalidEvent) && strings.Contains(err.Error(), "event 0"))
}

// TestStartThrottleAndSingletonCancel: a started run follows Throttle (the
// second start in the period waits its turn) and Singleton in cancel mode
// (a new start cancels the run in progress).
func TestStartThrottleAndSingletonCancel(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var throttled *flow.Func[startIn, startOut]
	var single *flow.Func[startIn, int]
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		throttled = doubler(t, c, flow.FunctionOpts{ID: "start-throttled", Throttle: &flow.Throttle{Limit: 1, Period: time.Second}})
		var err error
		single, err = flow.Define(c, flow.FunctionOpts{ID: "start-single", Singleton: &flow.Singleton{Mode: flow.SingletonCancel}}, flow.NoTrigger(),
			func(ctx context.Context, in flow.Input[startIn]) (int, error) {
				if in.Event.Data.N == 1 {
					if err := flow.Sleep(ctx, "hold", time.Hour); err != nil {
						return 0, err
					}
				}
				return in.Event.Data.N, nil
			})
		require.NoError(t, err)
	})
	defer close(release)
	ctx := testCtx(t)

	a, err := flow.Start(ctx, throttled, startIn{N: 1})
	require.NoError(t, err)
	b, err := flow.Start(ctx, throttled, startIn{N: 2})
	require.NoError(t, err)
	runA, err := c.AwaitRun(ctx, a)
	require.NoError(t, err)
	runB, err := c.AwaitRun(ctx, b)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, runB.Status)
	require.GreaterOrEqual(t, runB.StartedAt.Sub(runA.CreatedAt), 900*time.Millisecond,
		"the second start waits for the throttle's next turn")

	first, err := flow.Start(ctx, single, startIn{N: 1})
	require.NoError(t, err)
	flowtest.AwaitStatus(t, c, first, flow.RunSleeping)
	second, err := flow.Start(ctx, single, startIn{N: 2})
	require.NoError(t, err)
	run, err := c.AwaitRun(ctx, first)
	require.NoError(t, err)
	require.Equal(t, flow.RunCancelled, run.Status)
	require.Contains(t, run.Error, "replaced by singleton run "+second)
	run, err = c.AwaitRun(ctx, second)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status)
}

// TestInvokeThrottleDelaysChild: an invoked child follows its function's
// Throttle, as upstream: the second child in the period starts a period
// after the first, and its parent still gets its output.
func TestInvokeThrottleDelaysChild(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		child := doubler(t, c, flow.FunctionOpts{ID: "thr-child", Throttle: &flow.Throttle{Limit: 1, Period: time.Second}})
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "thr-parent"}, flow.EventTrigger("thr/go"),
			func(ctx context.Context, in flow.Input[startIn]) (any, error) {
				return child.Invoke(ctx, "invoke", in.Event.Data, flow.InvokeOpts{})
			})
		require.NoError(t, err)
	})
	ctx := testCtx(t)
	sent, err := c.SendWithRuns(ctx, flow.Event{Name: "thr/go", Data: startIn{N: 1}}, flow.Event{Name: "thr/go", Data: startIn{N: 2}})
	require.NoError(t, err)
	for i, s := range sent {
		require.Len(t, s.RunIDs, 1)
		run, err := c.AwaitRun(ctx, s.RunIDs[0])
		require.NoError(t, err)
		require.Equal(t, flow.RunCompleted, run.Status, run.Error)
		var out startOut
		require.NoError(t, json.Unmarshal(run.Output, &out))
		require.Equal(t, 2*(i+1), out.Double)
	}
	children, err := c.ListRuns(ctx, flow.RunFilter{FunctionID: "thr-child"})
	require.NoError(t, err)
	require.Len(t, children, 2)
	var runs []*flow.Run
	for _, r := range children {
		run, err := c.GetRun(ctx, r.ID)
		require.NoError(t, err)
		require.NotEmpty(t, run.ParentRunID)
		runs = append(runs, run)
	}
	// The throttle gives the first child to take it its turn at once (after
	// both were created), the other one a period later.
	created, later := runs[0].CreatedAt, *runs[0].StartedAt
	if runs[1].CreatedAt.Before(created) {
		created = runs[1].CreatedAt
	}
	if runs[1].StartedAt.After(later) {
		later = *runs[1].StartedAt
	}
	require.GreaterOrEqual(t, later.Sub(created), 900*time.Millisecond,
		"the second child waits for the throttle's next turn")
}

// TestSendWithRunsBatchAndDebounce: an event that joins a batch reports the
// batch's run, and one that postpones a debounced run reports that run.
func TestSendWithRunsBatchAndDebounce(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "swr-batch", Batch: &flow.Batch{MaxSize: 3, Timeout: time.Hour}},
			flow.EventTrigger("swr/batch"), func(ctx context.Context, in flow.Input[startIn]) (any, error) {
				return len(in.Events), nil
			})
		require.NoError(t, err)
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "swr-debounce", Debounce: &flow.Debounce{Period: 300 * time.Millisecond}},
			flow.EventTrigger("swr/debounce"), func(ctx context.Context, in flow.Input[startIn]) (any, error) {
				return in.Event.Data.N, nil
			})
		require.NoError(t, err)
	})
	ctx := testCtx(t)
	var batchRuns []string
	for i := range 3 {
		sent, err := c.SendWithRuns(ctx, flow.Event{Name: "swr/batch", Data: startIn{N: i}})
		require.NoError(t, err)
		require.Len(t, sent[0].RunIDs, 1)
		batchRuns = append(batchRuns, sent[0].RunIDs[0])
	}
	require.Equal(t, []string{batchRuns[0], batchRuns[0], batchRuns[0]}, batchRuns, "every event of the batch reports its run")
	run, err := c.AwaitRun(ctx, batchRuns[0])
	require.NoError(t, err)
	require.JSONEq(t, `3`, string(run.Output))

	sent, err := c.SendWithRuns(ctx, flow.Event{Name: "swr/debounce", Data: startIn{N: 1}}, flow.Event{Name: "swr/debounce", Data: startIn{N: 2}})
	require.NoError(t, err)
	require.Len(t, sent[0].RunIDs, 1)
	require.Equal(t, sent[0].RunIDs, sent[1].RunIDs, "the second event postponed the first one's run")
	run, err = c.AwaitRun(ctx, sent[1].RunIDs[0])
	require.NoError(t, err)
	require.JSONEq(t, `2`, string(run.Output), "the debounced run got the last event")
}
