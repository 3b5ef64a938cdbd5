package flow_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// inspectClient starts a client with three functions: "ok" completes with
// a large output, "bad" fails, "nap" sleeps for an hour.
func inspectClient(t *testing.T) (*flow.Client, *pgxpool.Pool) {
	t.Helper()
	pool := flowtest.Pool(t)
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "ok", Name: "OK function"}, flow.EventTrigger("inspect/ok"),
			func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
				return map[string]string{"big": strings.Repeat("x", 10_000)}, nil
			})
		require.NoError(t, err)
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "bad", Retries: flow.Ptr(0)}, flow.EventTrigger("inspect/bad"),
			func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
				return nil, errors.New("bad things")
			})
		require.NoError(t, err)
		_, err = flow.CreateFunction(c, flow.FunctionOpts{
			ID:       "nap",
			CancelOn: []flow.CancelOn{{Event: "inspect/stop", Match: "data.id"}},
			Timeouts: flow.Timeouts{Finish: 2 * time.Hour},
		}, flow.Triggers(flow.EventTrigger("inspect/*").If(`event.data.nap == true`), flow.CronTrigger("@yearly")),
			func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
				if err := flow.Sleep(ctx, "long", time.Hour); err != nil {
					return nil, err
				}
				return nil, nil
			})
		require.NoError(t, err)
	})
	return c, pool
}

func TestInspectListRunsPage(t *testing.T) {
	t.Parallel()
	c, _ := inspectClient(t)
	ctx := testCtx(t)

	var ids []string
	for i := 0; i < 5; i++ {
		runNextMilli()
		ids = append(ids, awaitOnly(t, c, flow.Event{Name: "inspect/ok"}).ID)
	}
	runNextMilli()
	failed := awaitOnly(t, c, flow.Event{Name: "inspect/bad"})
	require.Equal(t, flow.RunFailed, failed.Status)

	// Newest first, with the event's name, without the output.
	page, err := c.ListRunsPage(ctx, flow.RunQuery{})
	require.NoError(t, err)
	require.Len(t, page.Runs, 6)
	require.Empty(t, page.Next)
	require.Equal(t, failed.ID, page.Runs[0].ID)
	require.Equal(t, "inspect/bad", page.Runs[0].EventName)
	require.Equal(t, flow.RunFailed, page.Runs[0].Status)
	require.Contains(t, page.Runs[0].Error, "bad things")
	require.Equal(t, ids[4], page.Runs[1].ID)
	require.Equal(t, "inspect/ok", page.Runs[1].EventName)
	require.Equal(t, flow.RunCompleted, page.Runs[1].Status)
	require.NotNil(t, page.Runs[1].EndedAt)
	require.Empty(t, page.Runs[1].Output, "lists leave outputs out")

	// Paging: two at a time, following Next, sees every run once.
	var seen []string
	before := ""
	for {
		p, err := c.ListRunsPage(ctx, flow.RunQuery{FunctionID: "ok", Limit: 2, Before: before})
		require.NoError(t, err)
		for _, r := range p.Runs {
			seen = append(seen, r.ID)
		}
		if p.Next == "" {
			break
		}
		require.Len(t, p.Runs, 2)
		require.Equal(t, p.Runs[1].ID, p.Next)
		before = p.Next
	}
	require.Equal(t, []string{ids[4], ids[3], ids[2], ids[1], ids[0]}, seen)

	// Status filter.
	p, err := c.ListRunsPage(ctx, flow.RunQuery{Status: []flow.RunStatus{flow.RunFailed, flow.RunCancelled}})
	require.NoError(t, err)
	require.Len(t, p.Runs, 1)
	require.Equal(t, failed.ID, p.Runs[0].ID)

	// Time range: [created of ids[2], created of failed) holds ids[2..4].
	r2, err := c.GetRun(ctx, ids[2])
	require.NoError(t, err)
	require.True(t, r2.CreatedAt.After(page.Runs[4].CreatedAt), "runs created in distinct instants")
	p, err = c.ListRunsPage(ctx, flow.RunQuery{CreatedAfter: r2.CreatedAt, CreatedBefore: failed.CreatedAt})
	require.NoError(t, err)
	got := []string{}
	for _, r := range p.Runs {
		got = append(got, r.ID)
	}
	require.Equal(t, []string{ids[4], ids[3], ids[2]}, got)
	p, err = c.ListRunsPage(ctx, flow.RunQuery{CreatedAfter: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	require.Empty(t, p.Runs)
	p, err = c.ListRunsPage(ctx, flow.RunQuery{CreatedBefore: time.Now().Add(-time.Hour)})
	require.NoError(t, err)
	require.Empty(t, p.Runs)

	// Event filter.
	p, err = c.ListRunsPage(ctx, flow.RunQuery{EventID: failed.EventID})
	require.NoError(t, err)
	require.Len(t, p.Runs, 1)
	require.Equal(t, failed.ID, p.Runs[0].ID)

	// Bad arguments are errors, not database errors.
	_, err = c.ListRunsPage(ctx, flow.RunQuery{Before: "x'; DROP TABLE flow_run; --"})
	require.ErrorContains(t, err, "not a run ID")
	_, err = c.ListRunsPage(ctx, flow.RunQuery{EventID: "nope"})
	require.ErrorContains(t, err, "not an event ID")
	_, err = c.ListRunsPage(ctx, flow.RunQuery{Status: []flow.RunStatus{"exploded"}})
	require.ErrorContains(t, err, "unknown run status")
}

func TestInspectCountRuns(t *testing.T) {
	t.Parallel()
	c, _ := inspectClient(t)
	ctx := testCtx(t)

	for i := 0; i < 3; i++ {
		awaitOnly(t, c, flow.Event{Name: "inspect/ok"})
	}
	awaitOnly(t, c, flow.Event{Name: "inspect/bad"})
	napIDs := sendOne(t, c, flow.Event{Name: "inspect/nap", Data: map[string]any{"nap": true}})
	require.Len(t, napIDs, 1)
	require.Eventually(t, func() bool {
		r, err := c.GetRun(ctx, napIDs[0])
		return err == nil && r.Status == flow.RunSleeping
	}, 10*time.Second, 10*time.Millisecond)

	counts, err := c.CountRuns(ctx, flow.RunQuery{})
	require.NoError(t, err)
	require.Equal(t, flow.RunCounts{flow.RunCompleted: 3, flow.RunFailed: 1, flow.RunSleeping: 1}, counts)
	require.Equal(t, 5, counts.Total())

	byFn, err := c.CountRunsByFunction(ctx, flow.RunQuery{})
	require.NoError(t, err)
	require.Equal(t, map[string]flow.RunCounts{
		"ok":  {flow.RunCompleted: 3},
		"bad": {flow.RunFailed: 1},
		"nap": {flow.RunSleeping: 1},
	}, byFn)

	counts, err = c.CountRuns(ctx, flow.RunQuery{FunctionID: "ok"})
	require.NoError(t, err)
	require.Equal(t, flow.RunCounts{flow.RunCompleted: 3}, counts)
	counts, err = c.CountRuns(ctx, flow.RunQuery{CreatedAfter: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	require.Empty(t, counts)
}

func TestInspectListEvents(t *testing.T) {
	t.Parallel()
	c, _ := inspectClient(t)
	ctx := testCtx(t)

	badRun := awaitOnly(t, c, flow.Event{Name: "inspect/bad"})
	require.Equal(t, flow.RunFailed, badRun.Status)
	runNextMilli()
	okRun := awaitOnly(t, c, flow.Event{Name: "inspect/ok", Data: map[string]string{"small": "yes"}})
	runNextMilli()
	bigIDs, err := c.Send(ctx, flow.Event{Name: "other/big", Data: map[string]string{"s": strings.Repeat("y", 5000)}, ID: "dedupe-1"})
	require.NoError(t, err)
	runNextMilli()
	napRuns := sendOne(t, c, flow.Event{Name: "inspect/nap", Data: map[string]any{"nap": true}})
	require.Len(t, napRuns, 1)
	// A rerun counts among the runs of its event.
	rerunID, err := c.Rerun(ctx, okRun.ID)
	require.NoError(t, err)
	_, err = c.AwaitRun(ctx, rerunID)
	require.NoError(t, err)

	// The run-end events are there (flow/function.finished only when
	// something listens for it; failures always), unless hidden.
	events, err := c.ListEvents(ctx, flow.EventFilter{Name: "flow/*"})
	require.NoError(t, err)
	require.Len(t, events, 1, "the failed run's flow/function.failed")
	require.Equal(t, flow.EventFunctionFailed, events[0].Name)

	events, err = c.ListEvents(ctx, flow.EventFilter{HideRunEnded: true})
	require.NoError(t, err)
	require.Len(t, events, 4)
	nap, big, ok := events[0], events[1], events[2]
	require.Equal(t, "inspect/nap", nap.Name)
	require.Len(t, nap.Runs, 1)
	require.Equal(t, napRuns[0], nap.Runs[0].ID)
	require.Equal(t, "nap", nap.Runs[0].FunctionID)

	require.Equal(t, bigIDs[0], big.ID)
	require.Equal(t, "dedupe-1", big.DedupeID)
	require.Nil(t, big.Data, "data over MaxDataBytes is left out")
	require.Greater(t, big.DataSize, 5000)
	require.Empty(t, big.Runs)

	require.Equal(t, okRun.EventID, ok.ID)
	require.JSONEq(t, `{"small":"yes"}`, string(ok.Data))
	require.Equal(t, len(ok.Data), ok.DataSize)
	require.False(t, ok.ReceivedAt.IsZero())
	require.False(t, ok.TS.IsZero())
	require.Len(t, ok.Runs, 2)
	require.Equal(t, okRun.ID, ok.Runs[0].ID)
	require.Equal(t, rerunID, ok.Runs[1].ID)
	require.Equal(t, flow.RunCompleted, ok.Runs[0].Status)
	require.Empty(t, ok.Runs[0].Output)

	// A larger MaxDataBytes includes the big data.
	events, err = c.ListEvents(ctx, flow.EventFilter{Name: "other/big", MaxDataBytes: 10_000})
	require.NoError(t, err)
	require.Len(t, events, 1)
	require.Contains(t, string(events[0].Data), "yyyy")

	// Name filters: exact and wildcard.
	events, err = c.ListEvents(ctx, flow.EventFilter{Name: "inspect/*"})
	require.NoError(t, err)
	require.Len(t, events, 3) // bad, ok, nap
	events, err = c.ListEvents(ctx, flow.EventFilter{Name: "inspect/"})
	require.NoError(t, err)
	require.Empty(t, events)

	// Paging.
	events, err = c.ListEvents(ctx, flow.EventFilter{Limit: 2, HideRunEnded: true})
	require.NoError(t, err)
	require.Len(t, events, 2)
	events, err = c.ListEvents(ctx, flow.EventFilter{Limit: 2, HideRunEnded: true, Before: events[1].ID})
	require.NoError(t, err)
	require.Len(t, events, 2)
	require.Equal(t, okRun.EventID, events[0].ID)
	require.Equal(t, badRun.EventID, events[1].ID)

	_, err = c.ListEvents(ctx, flow.EventFilter{Before: "1 OR 1=1"})
	require.ErrorContains(t, err, "not an event ID")
}

func TestInspectGetEvent(t *testing.T) {
	t.Parallel()
	c, _ := inspectClient(t)
	ctx := testCtx(t)

	run := awaitOnly(t, c, flow.Event{Name: "inspect/ok", Data: map[string]string{"s": strings.Repeat("z", 6000)}})
	ev, err := c.GetEvent(ctx, run.EventID)
	require.NoError(t, err)
	require.Equal(t, "inspect/ok", ev.Name)
	require.Contains(t, string(ev.Data), strings.Repeat("z", 6000), "GetEvent returns the whole data")
	require.Len(t, ev.Runs, 1)
	require.Equal(t, run.ID, ev.Runs[0].ID)

	_, err = c.GetEvent(ctx, "01900000-0000-7000-8000-000000000000")
	require.ErrorIs(t, err, flow.ErrNotFound)
	_, err = c.GetEvent(ctx, "not-a-uuid")
	require.ErrorIs(t, err, flow.ErrNotFound)
}

func TestInspectListFunctions(t *testing.T) {
	t.Parallel()
	c, pool := inspectClient(t)
	ctx := testCtx(t)

	fns, err := c.ListFunctions(ctx)
	require.NoError(t, err)
	require.Len(t, fns, 3)
	require.Equal(t, []string{"bad", "nap", "ok"}, []string{fns[0].ID, fns[1].ID, fns[2].ID})
	bad, nap, ok := fns[0], fns[1], fns[2]
	require.Equal(t, 0, bad.Retries)
	require.Equal(t, "OK function", ok.Name)
	require.Equal(t, 4, ok.Retries)
	require.True(t, ok.Registered)
	require.True(t, ok.Local)
	require.False(t, ok.UpdatedAt.IsZero())
	require.Equal(t, []flow.TriggerInfo{{Event: "inspect/ok"}}, ok.Triggers)
	require.Equal(t, []flow.TriggerInfo{{Event: "inspect/*", If: "event.data.nap == true"}, {Cron: "@yearly"}}, nap.Triggers)
	require.Equal(t, []flow.CancelOn{{Event: "inspect/stop", Match: "data.id"}}, nap.CancelOn)
	require.Equal(t, 2*time.Hour, nap.Timeouts.Finish)

	// A client that defines none of them sees the registry, which holds
	// the same triggers and options as the definition.
	other := newClient(t, pool, nil)
	fns, err = other.ListFunctions(ctx)
	require.NoError(t, err)
	require.Len(t, fns, 3)
	nap = fns[1]
	require.Equal(t, "nap", nap.ID)
	require.True(t, nap.Registered)
	require.False(t, nap.Local)
	require.True(t, nap.OptionsRegistered)
	require.Equal(t, []flow.TriggerInfo{{Event: "inspect/*", If: "event.data.nap == true"}, {Cron: "@yearly"}}, nap.Triggers)
	require.Equal(t, []flow.CancelOn{{Event: "inspect/stop", Match: "data.id"}}, nap.CancelOn)
	require.Equal(t, 2*time.Hour, nap.Timeouts.Finish)

	// A function defined but not yet registered (its client has not
	// started) shows as local only.
	_, err = flow.CreateFunction(other, flow.FunctionOpts{ID: "fresh"}, flow.EventTrigger("inspect/fresh"),
		func(ctx context.Context, in flow.Input[any]) (any, error) { return nil, nil })
	require.NoError(t, err)
	fns, err = other.ListFunctions(ctx)
	require.NoError(t, err)
	require.Len(t, fns, 4)
	require.Equal(t, "fresh", fns[1].ID)
	require.True(t, fns[1].Local)
	require.False(t, fns[1].Registered)
}
