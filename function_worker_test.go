package flow_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

func functionInfo(t *testing.T, c *flow.Client, id string) flow.FunctionInfo {
	t.Helper()
	fns, err := c.ListFunctions(testCtx(t))
	require.NoError(t, err)
	for _, fn := range fns {
		if fn.ID == id {
			return fn
		}
	}
	require.Failf(t, "function not listed", "%q not in %+v", id, fns)
	return flow.FunctionInfo{}
}

// TestListFunctionsShowsRegisteredOptions: a process that does not define a
// function (a dashboard, the CLI) lists all its options from the registry:
// event and cron triggers, retries, CancelOn, Timeouts and flow control, as
// the process defining it does.
func TestListFunctionsShowsRegisteredOptions(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	worker := newClient(t, pool, nil)
	_, err := flow.CreateFunction(worker, flow.FunctionOpts{
		ID: "billing", Name: "Billing", Retries: flow.Ptr(2),
		CancelOn:    []flow.CancelOn{{Event: "order/cancelled", Match: "data.id", Timeout: 48 * time.Hour}},
		Timeouts:    flow.Timeouts{Start: time.Minute, Finish: 24 * time.Hour},
		Concurrency: []flow.Concurrency{{Limit: 2, Key: "event.data.customer"}},
	}, flow.Triggers(flow.EventTrigger("order/placed"), flow.CronTrigger("TZ=Europe/Paris 0 9 * * *")),
		func(ctx context.Context, in flow.Input[map[string]any]) (any, error) { return nil, nil })
	require.NoError(t, err)
	start(t, worker)

	viewer := newClient(t, pool, nil) // defines nothing, never started
	got := functionInfo(t, viewer, "billing")
	require.False(t, got.Local)
	require.True(t, got.Registered)
	require.True(t, got.OptionsRegistered)
	require.Equal(t, "Billing", got.Name)
	require.Equal(t, 2, got.Retries)
	require.Equal(t, []flow.TriggerInfo{{Event: "order/placed"}, {Cron: "TZ=Europe/Paris 0 9 * * *"}}, got.Triggers)
	require.Equal(t, []flow.CancelOn{{Event: "order/cancelled", Match: "data.id", Timeout: 48 * time.Hour}}, got.CancelOn)
	require.Equal(t, flow.Timeouts{Start: time.Minute, Finish: 24 * time.Hour}, got.Timeouts)
	require.Equal(t, []string{"Concurrency: 2 per event.data.customer"}, got.FlowControl)

	local := functionInfo(t, worker, "billing")
	require.True(t, local.Local)
	require.Equal(t, local.Triggers, got.Triggers, "the registry shows what the definition says")
	require.Equal(t, local.CancelOn, got.CancelOn)
	require.Equal(t, local.Timeouts, got.Timeouts)
}

// TestListFunctionsNoWorker: a function's runs that wait for a worker are
// counted, and once no started client has confirmed the function within
// WorkerTimeout it has no worker. A function whose runs were started by a
// process that never started workers is listed too, unregistered and
// without a worker.
func TestListFunctionsNoWorker(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	ctx := testCtx(t)
	worker := newClient(t, pool, nil)
	_, err := flow.CreateFunction(worker, flow.FunctionOpts{ID: "orphaned"}, flow.EventTrigger("orphan/e"),
		func(ctx context.Context, in flow.Input[map[string]any]) (any, error) { return nil, nil })
	require.NoError(t, err)
	require.NoError(t, worker.Start(ctx))
	got := functionInfo(t, worker, "orphaned")
	require.True(t, got.HasWorker, "a started client defines it")
	require.Zero(t, got.AwaitingWorker)
	require.NoError(t, worker.Stop(ctx))

	sender := newClient(t, pool, nil)
	sendData(t, sender, "orphan/e", map[string]any{"n": 1})
	sendData(t, sender, "orphan/e", map[string]any{"n": 2})
	got = functionInfo(t, sender, "orphaned")
	require.Equal(t, 2, got.AwaitingWorker, "both runs are queued")
	require.True(t, got.HasWorker, "confirmed less than WorkerTimeout ago")

	// The last confirmation is now older than WorkerTimeout.
	_, err = pool.Exec(ctx, `UPDATE flow_function SET updated_at = now() - $1::interval`, (flow.WorkerTimeout + time.Minute).String())
	require.NoError(t, err)
	got = functionInfo(t, sender, "orphaned")
	require.False(t, got.HasWorker)
	require.Equal(t, 2, got.AwaitingWorker)

	starter := newClient(t, pool, nil) // defines a function, never started
	fn, err := flow.Define(starter, flow.FunctionOpts{ID: "never-started"}, flow.NoTrigger(),
		func(ctx context.Context, in flow.Input[map[string]int]) (int, error) { return 0, nil })
	require.NoError(t, err)
	_, err = flow.Start(ctx, fn, map[string]int{"n": 1})
	require.NoError(t, err)
	got = functionInfo(t, sender, "never-started")
	require.False(t, got.Registered)
	require.False(t, got.HasWorker)
	require.Equal(t, 1, got.AwaitingWorker)
}
