package flow_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

func registryNop(ctx context.Context, in flow.Input[any]) (any, error) { return nil, nil }

func TestCreateFunctionErrors(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := newClient(t, pool, nil)

	fn, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "taken", Name: "Taken"}, flow.EventTrigger("a/b"), registryNop)
	require.NoError(t, err)
	require.Equal(t, "taken", fn.ID())
	require.Equal(t, "Taken", fn.Name())

	_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "taken"}, flow.EventTrigger("c/d"), registryNop)
	require.ErrorIs(t, err, flow.ErrDuplicateFunction)
	require.Contains(t, err.Error(), `"taken"`)

	cases := []struct {
		name    string
		opts    flow.FunctionOpts
		trigger flow.Trigger
		handler func(context.Context, flow.Input[any]) (any, error)
		mention string
	}{
		{"empty ID", flow.FunctionOpts{ID: ""}, flow.EventTrigger("a/b"), registryNop, "ID"},
		{"ID with space", flow.FunctionOpts{ID: "my fn"}, flow.EventTrigger("a/b"), registryNop, "ID"},
		{"ID starting with dash", flow.FunctionOpts{ID: "-fn"}, flow.EventTrigger("a/b"), registryNop, "ID"},
		{"ID too long", flow.FunctionOpts{ID: strings.Repeat("f", 129)}, flow.EventTrigger("a/b"), registryNop, "ID"},
		{"empty trigger", flow.FunctionOpts{ID: "f1"}, flow.Trigger{}, registryNop, "empty trigger"},
		{"empty event trigger", flow.FunctionOpts{ID: "f1"}, flow.EventTrigger(""), registryNop, "empty trigger"},
		{"empty trigger among several", flow.FunctionOpts{ID: "f1"}, flow.Triggers(flow.EventTrigger("a/b"), flow.Trigger{}), registryNop, "empty trigger"},
		{"wildcard not a whole segment", flow.FunctionOpts{ID: "f1"}, flow.EventTrigger("billing*"), registryNop, "wildcard"},
		{"bare wildcard", flow.FunctionOpts{ID: "f1"}, flow.EventTrigger("*"), registryNop, "wildcard"},
		{"wildcard in the middle", flow.FunctionOpts{ID: "f1"}, flow.EventTrigger("billing/*/paid"), registryNop, "'*'"},
		{"event trigger with space", flow.FunctionOpts{ID: "f1"}, flow.EventTrigger("a b"), registryNop, "space"},
		{"cron not a spec", flow.FunctionOpts{ID: "f1"}, flow.CronTrigger("not a cron"), registryNop, "cron"},
		{"cron minute out of range", flow.FunctionOpts{ID: "f1"}, flow.CronTrigger("61 * * * *"), registryNop, "cron"},
		{"cron bad time zone", flow.FunctionOpts{ID: "f1"}, flow.CronTrigger("TZ=Nowhere/Atlantis 0 9 * * *"), registryNop, "cron"},
		{"retries negative", flow.FunctionOpts{ID: "f1", Retries: flow.Ptr(-1)}, flow.EventTrigger("a/b"), registryNop, "Retries"},
		{"retries too many", flow.FunctionOpts{ID: "f1", Retries: flow.Ptr(21)}, flow.EventTrigger("a/b"), registryNop, "Retries"},
		{"nil handler", flow.FunctionOpts{ID: "f1"}, flow.EventTrigger("a/b"), nil, "nil handler"},
	}
	for _, tc := range cases {
		_, err := flow.CreateFunction(c, tc.opts, tc.trigger, tc.handler)
		require.Error(t, err, tc.name)
		require.True(t, errors.Is(err, flow.ErrInvalidFunction), "%s: %v", tc.name, err)
		require.Contains(t, err.Error(), tc.mention, tc.name)
	}

	valid := []struct {
		id      string
		opts    flow.FunctionOpts
		trigger flow.Trigger
	}{
		{"cron every 5 minutes", flow.FunctionOpts{ID: "cron-5m"}, flow.CronTrigger("*/5 * * * *")},
		{"cron with time zone", flow.FunctionOpts{ID: "cron-paris"}, flow.CronTrigger("TZ=Europe/Paris 0 9 * * 1")},
		{"cron descriptor", flow.FunctionOpts{ID: "cron-hourly"}, flow.CronTrigger("@hourly")},
		{"cron and event", flow.FunctionOpts{ID: "mixed"}, flow.Triggers(flow.CronTrigger("0 0 * * *"), flow.EventTrigger("x/y"))},
		{"retries zero", flow.FunctionOpts{ID: "r0", Retries: flow.Ptr(0)}, flow.EventTrigger("a/b")},
		{"retries max", flow.FunctionOpts{ID: "r20", Retries: flow.Ptr(20)}, flow.EventTrigger("a/b")},
		{"ID with all allowed characters", flow.FunctionOpts{ID: "App.billing/v2:send_email-1"}, flow.EventTrigger("a/b")},
		{"dot wildcard", flow.FunctionOpts{ID: "dotwild"}, flow.EventTrigger("user.*")},
	}
	for _, tc := range valid {
		_, err := flow.CreateFunction(c, tc.opts, tc.trigger, registryNop)
		require.NoError(t, err, tc.id)
	}
}

func TestCreateFunctionAfterStart(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "before"}, flow.EventTrigger("a/b"), registryNop)
		require.NoError(t, err)
	})

	_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "after"}, flow.EventTrigger("a/b"), registryNop)
	require.ErrorIs(t, err, flow.ErrInvalidFunction)
	require.Contains(t, err.Error(), "before Start")

	// The late function is not registered: its event starts only "before".
	runIDs := sendOne(t, c, flow.Event{Name: "a/b"})
	require.Len(t, runIDs, 1)
	run, err := c.GetRun(testCtx(t), runIDs[0])
	require.NoError(t, err)
	require.Equal(t, "before", run.FunctionID)
}

// TestFunctionRegistryReplacesTriggers checks what Start records in the registry, and that a
// later Start with the same function ID replaces its triggers.
func TestFunctionRegistryReplacesTriggers(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	ctx := testCtx(t)

	c1 := newClient(t, pool, nil)
	_, err := flow.CreateFunction(c1, flow.FunctionOpts{ID: "reg", Name: "Registered", Retries: flow.Ptr(2)},
		flow.Triggers(flow.EventTrigger("old/event"), flow.EventTrigger("billing/*"), flow.CronTrigger("@daily")), registryNop)
	require.NoError(t, err)
	require.NoError(t, c1.Start(ctx))

	var name string
	var retries int
	require.NoError(t, pool.QueryRow(ctx, "SELECT name, retries FROM flow_function WHERE id = 'reg'").Scan(&name, &retries))
	require.Equal(t, "Registered", name)
	require.Equal(t, 2, retries)
	type trig struct {
		Name     string
		IsPrefix bool
	}
	triggers := func() []trig {
		rows, err := pool.Query(ctx, "SELECT event_name, is_prefix FROM flow_trigger WHERE function_id = 'reg' ORDER BY event_name")
		require.NoError(t, err)
		var out []trig
		for rows.Next() {
			var tr trig
			require.NoError(t, rows.Scan(&tr.Name, &tr.IsPrefix))
			out = append(out, tr)
		}
		require.NoError(t, rows.Err())
		return out
	}
	require.Equal(t, []trig{{"billing/", true}, {"old/event", false}}, triggers())
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, c1.Stop(stopCtx))

	// A new deploy of the function with another trigger.
	c2 := flowtest.ClientOn(t, pool, testConfig(), func(c2 *flow.Client) {
		_, err = flow.CreateFunction(c2, flow.FunctionOpts{ID: "reg"}, flow.EventTrigger("new/event"), registryNop)
		require.NoError(t, err)
	})
	require.Equal(t, []trig{{"new/event", false}}, triggers())
	require.NoError(t, pool.QueryRow(ctx, "SELECT name, retries FROM flow_function WHERE id = 'reg'").Scan(&name, &retries))
	require.Equal(t, "reg", name)
	require.Equal(t, 4, retries)

	require.Empty(t, sendOne(t, c2, flow.Event{Name: "old/event"}), "the replaced trigger starts nothing")
	require.Empty(t, sendOne(t, c2, flow.Event{Name: "billing/paid"}), "the replaced trigger starts nothing")
	runIDs := sendOne(t, c2, flow.Event{Name: "new/event"})
	require.Len(t, runIDs, 1)
	run, err := c2.AwaitRun(ctx, runIDs[0])
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
}
