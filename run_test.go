package flow_test

import (
	"context"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// runNextMilli returns once the clock is past the millisecond it read at the
// call, so that a run created afterwards has a later time-ordered ID than
// every run created before (run IDs are UUIDv7 with millisecond precision).
// It busy-waits at most about a millisecond.
func runNextMilli() {
	ms := time.Now().UnixMilli()
	for time.Now().UnixMilli() == ms {
	}
}

func TestRunGetRun(t *testing.T) {
	t.Parallel()
	type in struct{ N int }
	var bCalls atomic.Int64

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "inspect", Retries: flow.Ptr(2)}, flow.EventTrigger("run/inspect"),
			func(ctx context.Context, input flow.Input[in]) (any, error) {
				a, err := flow.Step(ctx, "a", func(ctx context.Context) (int, error) { return input.Event.Data.N, nil })
				if err != nil {
					return nil, err
				}
				b, err := flow.Step(ctx, "b", func(ctx context.Context) (int, error) {
					if bCalls.Add(1) == 1 {
						return 0, errors.New("first attempt of b fails")
					}
					return a * 2, nil
				})
				if err != nil {
					return nil, err
				}
				if err := flow.Sleep(ctx, "nap", 10*time.Millisecond); err != nil {
					return nil, err
				}
				return map[string]int{"a": a, "b": b}, nil
			})
		require.NoError(t, err)
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "broken", Retries: flow.Ptr(0)}, flow.EventTrigger("run/broken"),
			func(ctx context.Context, input flow.Input[in]) (any, error) {
				_, err := flow.Step(ctx, "explode", func(ctx context.Context) (int, error) {
					return 0, errors.New("kaboom")
				})
				return nil, err
			})
		require.NoError(t, err)
	})
	ctx := testCtx(t)

	ids, err := c.Send(ctx, flow.Event{Name: "run/inspect", Data: in{N: 21}})
	require.NoError(t, err)
	runs, err := c.ListRuns(ctx, flow.RunFilter{EventID: ids[0]})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	runID := runs[0].ID
	_, err = c.AwaitRun(ctx, runID)
	require.NoError(t, err)

	run, err := c.GetRun(ctx, runID)
	require.NoError(t, err)
	require.Equal(t, runID, run.ID)
	require.Equal(t, "inspect", run.FunctionID)
	require.Equal(t, ids[0], run.EventID)
	require.Equal(t, flow.RunCompleted, run.Status)
	require.Empty(t, run.Error)
	require.JSONEq(t, `{"a":21,"b":42}`, string(run.Output))
	require.Empty(t, run.ParentRunID)
	require.False(t, run.CreatedAt.IsZero())
	require.NotNil(t, run.StartedAt)
	require.NotNil(t, run.EndedAt)
	require.False(t, run.EndedAt.Before(*run.StartedAt))

	require.Len(t, run.Steps, 3)
	want := []struct {
		id, kind, status string
		attempts         int
		output           string
	}{
		{"a", "run", "completed", 1, "21"},
		{"b", "run", "completed", 2, "42"},
		{"nap", "sleep", "completed", 1, ""},
	}
	for i, w := range want {
		st := run.Steps[i]
		require.Equal(t, w.id, st.ID, "step %d", i)
		require.Equal(t, w.kind, st.Kind, "step %s", w.id)
		require.Equal(t, w.status, st.Status, "step %s", w.id)
		require.Equal(t, w.attempts, st.Attempts, "step %s", w.id)
		if w.output != "" {
			require.JSONEq(t, w.output, string(st.Output), "step %s", w.id)
		}
		require.False(t, st.StartedAt.IsZero(), "step %s", w.id)
		require.NotNil(t, st.EndedAt, "step %s has ended", w.id)
		require.False(t, st.EndedAt.Before(st.StartedAt), "step %s", w.id)
	}
	require.NotNil(t, run.Steps[2].WakeAt, "a sleep records its wake time")

	// A failed run shows its error and its failed step.
	runIDs := sendOne(t, c, flow.Event{Name: "run/broken"})
	require.Len(t, runIDs, 1)
	_, err = c.AwaitRun(ctx, runIDs[0])
	require.NoError(t, err)
	failed, err := c.GetRun(ctx, runIDs[0])
	require.NoError(t, err)
	require.Equal(t, flow.RunFailed, failed.Status)
	require.Contains(t, failed.Error, "kaboom")
	require.Empty(t, failed.Output)
	require.NotNil(t, failed.EndedAt)
	require.Len(t, failed.Steps, 1)
	require.Equal(t, "explode", failed.Steps[0].ID)
	require.Equal(t, "failed", failed.Steps[0].Status)
	require.Equal(t, 1, failed.Steps[0].Attempts)
	require.Contains(t, failed.Steps[0].Error, "kaboom")
	require.NotNil(t, failed.Steps[0].EndedAt)

	// Unknown IDs.
	const unknown = "01900000-0000-7000-8000-000000000000"
	_, err = c.GetRun(ctx, unknown)
	require.ErrorIs(t, err, flow.ErrNotFound)
	_, err = c.AwaitRun(ctx, unknown)
	require.ErrorIs(t, err, flow.ErrNotFound)
}

func TestRunListRunsFilters(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "list-ok"}, flow.EventTrigger("list/ok"),
			func(ctx context.Context, input flow.Input[any]) (any, error) { return "ok", nil })
		require.NoError(t, err)
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "list-bad"}, flow.EventTrigger("list/bad"),
			func(ctx context.Context, input flow.Input[any]) (any, error) {
				return nil, flow.NonRetriable(errors.New("bad on purpose"))
			})
		require.NoError(t, err)
	})
	ctx := testCtx(t)

	// Sent in this order, each in a later millisecond: ok0 bad0 ok1 bad1 ok2.
	var sent []string // run IDs in creation order
	runOf := map[string]string{}
	eventOf := map[string]string{}
	for i := range 5 {
		name := "list/ok"
		if i%2 == 1 {
			name = "list/bad"
		}
		runNextMilli()
		ids, err := c.Send(ctx, flow.Event{Name: name})
		require.NoError(t, err)
		runs, err := c.ListRuns(ctx, flow.RunFilter{EventID: ids[0]})
		require.NoError(t, err)
		require.Len(t, runs, 1)
		require.Equal(t, ids[0], runs[0].EventID)
		sent = append(sent, runs[0].ID)
		runOf[runs[0].ID] = runs[0].FunctionID
		eventOf[runs[0].ID] = ids[0]
	}
	for _, id := range sent {
		run, err := c.AwaitRun(ctx, id)
		require.NoError(t, err)
		require.True(t, run.Status.Ended())
	}
	newestFirst := func(ids ...string) []string {
		out := append([]string(nil), ids...)
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
		return out
	}
	list := func(f flow.RunFilter) []string {
		t.Helper()
		runs, err := c.ListRuns(ctx, f)
		require.NoError(t, err)
		out := make([]string, len(runs))
		for i, r := range runs {
			out[i] = r.ID
			require.Nil(t, r.Steps, "ListRuns does not fill steps")
			require.Equal(t, runOf[r.ID], r.FunctionID)
			require.Equal(t, eventOf[r.ID], r.EventID)
		}
		return out
	}

	all := list(flow.RunFilter{})
	require.Equal(t, newestFirst(sent...), all, "newest first")
	require.True(t, sort.SliceIsSorted(all, func(i, j int) bool { return all[i] > all[j] }), "IDs are time-ordered")

	require.Equal(t, newestFirst(sent[0], sent[2], sent[4]), list(flow.RunFilter{FunctionID: "list-ok"}))
	require.Equal(t, newestFirst(sent[1], sent[3]), list(flow.RunFilter{FunctionID: "list-bad"}))
	require.Empty(t, list(flow.RunFilter{FunctionID: "nope"}))

	require.Equal(t, []string{sent[3]}, list(flow.RunFilter{EventID: eventOf[sent[3]]}))
	require.Empty(t, list(flow.RunFilter{EventID: "01900000-0000-7000-8000-000000000000"}))

	require.Equal(t, newestFirst(sent[0], sent[2], sent[4]), list(flow.RunFilter{Status: []flow.RunStatus{flow.RunCompleted}}))
	require.Equal(t, newestFirst(sent[1], sent[3]), list(flow.RunFilter{Status: []flow.RunStatus{flow.RunFailed}}))
	require.Equal(t, all, list(flow.RunFilter{Status: []flow.RunStatus{flow.RunFailed, flow.RunCompleted}}))
	require.Empty(t, list(flow.RunFilter{Status: []flow.RunStatus{flow.RunQueued, flow.RunWaiting}}))
	require.Empty(t, list(flow.RunFilter{FunctionID: "list-ok", Status: []flow.RunStatus{flow.RunFailed}}))

	require.Equal(t, all[:2], list(flow.RunFilter{Limit: 2}))

	// Paging backwards with Before.
	var paged []string
	before := ""
	for page := 0; ; page++ {
		require.Less(t, page, 5, "paging does not end")
		ids := list(flow.RunFilter{Limit: 2, Before: before})
		if len(ids) == 0 {
			break
		}
		require.LessOrEqual(t, len(ids), 2)
		paged = append(paged, ids...)
		before = ids[len(ids)-1]
	}
	require.Equal(t, all, paged)
	require.Equal(t, []string{sent[2], sent[0]}, list(flow.RunFilter{FunctionID: "list-ok", Before: sent[4]}))
	require.Equal(t, []string{sent[1]}, list(flow.RunFilter{Status: []flow.RunStatus{flow.RunFailed}, Before: sent[3], Limit: 10}))
	require.Empty(t, list(flow.RunFilter{Before: sent[0]}))
}

func TestRunAwaitRun(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	type approval struct{ ID int }

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "held"}, flow.EventTrigger("await/held"),
			func(ctx context.Context, input flow.Input[any]) (any, error) {
				return flow.Step(ctx, "hold", func(ctx context.Context) (string, error) {
					entered <- struct{}{}
					<-release
					return "released", nil
				})
			})
		require.NoError(t, err)
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "waits"}, flow.EventTrigger("await/waits"),
			func(ctx context.Context, input flow.Input[approval]) (any, error) {
				ev, err := flow.WaitForEvent[approval](ctx, "approval", flow.WaitOpts{Event: "await/approved", Match: "data.ID", Timeout: time.Hour})
				if err != nil {
					return nil, err
				}
				return ev.Data.ID, nil
			})
		require.NoError(t, err)
	})
	var err error
	var releaseOnce sync.Once
	releaseHeld := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(releaseHeld) // before Stop, should the test fail early
	ctx := testCtx(t)

	// AwaitRun returns once the run ends, not before.
	runIDs := sendOne(t, c, flow.Event{Name: "await/held"})
	require.Len(t, runIDs, 1)
	type result struct {
		run *flow.Run
		err error
	}
	done := make(chan result, 1)
	go func() {
		run, err := c.AwaitRun(ctx, runIDs[0])
		done <- result{run, err}
	}()
	select {
	case <-entered:
	case <-ctx.Done():
		t.Fatal("run did not start")
	}
	select {
	case r := <-done:
		t.Fatalf("AwaitRun returned while the run was executing: %+v", r)
	default:
	}
	releaseHeld()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		t.Fatal("AwaitRun did not return after the run ended")
	}
	require.NoError(t, r.err)
	require.Equal(t, flow.RunCompleted, r.run.Status, r.run.Error)
	require.JSONEq(t, `"released"`, string(r.run.Output))
	require.Len(t, r.run.Steps, 1, "AwaitRun returns the run with its steps")

	// A run waiting for an event that does not come: AwaitRun gives up with
	// its context.
	runIDs = sendOne(t, c, flow.Event{Name: "await/waits", Data: approval{ID: 7}})
	require.Len(t, runIDs, 1)
	waitingID := runIDs[0]
	require.Eventually(t, func() bool {
		run, err := c.GetRun(ctx, waitingID)
		return err == nil && run.Status == flow.RunWaiting
	}, 10*time.Second, 10*time.Millisecond)

	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	run, err := c.AwaitRun(short, waitingID)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Nil(t, run)

	cancelled, cancelNow := context.WithCancel(ctx)
	cancelNow()
	_, err = c.AwaitRun(cancelled, waitingID)
	require.ErrorIs(t, err, context.Canceled)

	// Once the event comes, the run ends and AwaitRun returns it.
	_, err = c.Send(ctx, flow.Event{Name: "await/approved", Data: approval{ID: 7}})
	require.NoError(t, err)
	run, err = c.AwaitRun(ctx, waitingID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.JSONEq(t, `7`, string(run.Output))
}
