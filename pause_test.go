package flow_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// runOrder records the order in which runs executed a step.
type runOrder struct {
	mu sync.Mutex
	ns []int
}

func (o *runOrder) add(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ns = append(o.ns, n)
}

func (o *runOrder) get() []int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]int(nil), o.ns...)
}

type pauseData struct {
	N int `json:"n"`
	P int `json:"p"`
}

// awaitHeld polls the run until its function's pause holds it (Paused),
// and returns it.
func awaitHeld(t *testing.T, c *flow.Client, runID string) *flow.Run {
	t.Helper()
	ctx := testCtx(t)
	for {
		run, err := c.GetRun(ctx, runID)
		require.NoError(t, err)
		if run.Paused {
			return run
		}
		require.False(t, run.Status.Ended(), "run %s ended (%s) before its pause held it", runID, run.Status)
		select {
		case <-ctx.Done():
			t.Fatalf("run %s never held by its function's pause (status %s)", runID, run.Status)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// pausedOrderClient starts a client with one worker and a function that
// records the order its runs execute in; priority adds Priority from
// event.data.p.
func pausedOrderClient(t *testing.T, id string, priority bool) (*flow.Client, *runOrder) {
	t.Helper()
	o := &runOrder{}
	cfg := testConfig()
	cfg.Workers = 1 // one run at a time: the order of execution is River's fetch order
	c := flowtest.Client(t, cfg, func(c *flow.Client) {
		opts := flow.FunctionOpts{ID: id}
		if priority {
			opts.Priority = &flow.Priority{Run: "event.data.p"}
		}
		_, err := flow.CreateFunction(c, opts, flow.EventTrigger(id+"/go"),
			func(ctx context.Context, in flow.Input[pauseData]) (any, error) {
				return flow.Step(ctx, "record", func(ctx context.Context) (int, error) {
					o.add(in.Event.Data.N)
					return in.Event.Data.N, nil
				})
			})
		require.NoError(t, err)
	})
	return c, o
}

// sendHeld sends events n = 0..count-1 (with priorities ps, if given) to a
// paused function and waits until its pause holds every run.
func sendHeld(t *testing.T, c *flow.Client, name string, ps []int) []string {
	t.Helper()
	var ids []string
	for n, p := range ps {
		ids = append(ids, sendOne(t, c, flow.Event{Name: name, Data: pauseData{N: n, P: p}})...)
	}
	for _, id := range ids {
		run := awaitHeld(t, c, id)
		require.Equal(t, flow.RunQueued, run.Status, "a held run that never started stays queued")
	}
	return ids
}

func TestPauseHoldsRunsAndResumeStartsThemOldestFirst(t *testing.T) {
	t.Parallel()
	c, o := pausedOrderClient(t, "pause-order", false)
	ctx := testCtx(t)
	require.NoError(t, c.PauseFunction(ctx, "pause-order"))
	ids := sendHeld(t, c, "pause-order/go", []int{0, 0, 0, 0, 0})
	require.Empty(t, o.get(), "no run of a paused function executes")

	list, err := c.ListRuns(ctx, flow.RunFilter{FunctionID: "pause-order"})
	require.NoError(t, err)
	require.Len(t, list, 5)
	for _, r := range list {
		require.True(t, r.Paused, "ListRuns shows run %s paused", r.ID)
	}

	require.NoError(t, c.ResumeFunction(ctx, "pause-order"))
	for _, id := range ids {
		run, err := c.AwaitRun(ctx, id)
		require.NoError(t, err)
		require.Equal(t, flow.RunCompleted, run.Status)
		require.False(t, run.Paused)
	}
	require.Equal(t, []int{0, 1, 2, 3, 4}, o.get(), "resumed runs start oldest first")
}

func TestResumeRespectsPriority(t *testing.T) {
	t.Parallel()
	c, o := pausedOrderClient(t, "pause-priority", true)
	ctx := testCtx(t)
	require.NoError(t, c.PauseFunction(ctx, "pause-priority"))
	// Run 3 is sent last with the highest priority (600 s ahead), run 2
	// with 60 s: they go first, in that order.
	ids := sendHeld(t, c, "pause-priority/go", []int{0, 0, 60, 600})
	require.NoError(t, c.ResumeFunction(ctx, "pause-priority"))
	for _, id := range ids {
		_, err := c.AwaitRun(ctx, id)
		require.NoError(t, err)
	}
	require.Equal(t, []int{3, 2, 0, 1}, o.get(), "resumed runs start by priority, then oldest first")
}

func TestPauseFromAnotherProcess(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var calls counter
	worker := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "pause-remote"}, flow.EventTrigger("pause-remote/go"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				calls.add("handler")
				return "ok", nil
			})
		require.NoError(t, err)
	})
	// An operator's process: defines nothing, never starts.
	ops := newClient(t, pool, nil)
	ctx := testCtx(t)
	require.NoError(t, ops.PauseFunction(ctx, "pause-remote"))
	ids := sendOne(t, ops, flow.Event{Name: "pause-remote/go"})
	awaitHeld(t, worker, ids[0])
	require.Zero(t, calls.get("handler"))
	require.NoError(t, ops.ResumeFunction(ctx, "pause-remote"))
	run, err := worker.AwaitRun(ctx, ids[0])
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status)
	require.Equal(t, 1, calls.get("handler"))
}

func TestPauseStopsAnExecutingRunAtItsNextStepBoundary(t *testing.T) {
	t.Parallel()
	var calls counter
	inA := make(chan struct{})
	release := make(chan struct{})
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "pause-boundary"}, flow.EventTrigger("pause-boundary/go"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				a, err := flow.Step(ctx, "a", func(ctx context.Context) (string, error) {
					if calls.add("a") == 1 {
						close(inA)
						<-release
					}
					return "A", nil
				})
				if err != nil {
					return nil, err
				}
				b, err := flow.Step(ctx, "b", func(ctx context.Context) (string, error) {
					calls.add("b")
					return "B", nil
				})
				return a + b, err
			})
		require.NoError(t, err)
	})
	ctx := testCtx(t)
	ids := sendOne(t, c, flow.Event{Name: "pause-boundary/go"})
	<-inA
	require.NoError(t, c.PauseFunction(ctx, "pause-boundary"))
	close(release)

	run := awaitHeld(t, c, ids[0])
	require.Equal(t, flow.RunQueued, run.Status)
	require.Len(t, run.Steps, 1, "step a, executing at the pause, is stored; b did not run")
	require.Equal(t, "a", run.Steps[0].ID)
	require.Zero(t, calls.get("b"))

	require.NoError(t, c.ResumeFunction(ctx, "pause-boundary"))
	run, err := c.AwaitRun(ctx, ids[0])
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status)
	require.JSONEq(t, `"AB"`, string(run.Output))
	require.Equal(t, 1, calls.get("a"), "the resumed run goes on from its stored step")
	require.Equal(t, 1, calls.get("b"))
}

func TestPauseHoldsSleepingAndWaitingRunsThatBecomeDue(t *testing.T) {
	t.Parallel()
	var calls counter
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "pause-sleep"}, flow.EventTrigger("pause-sleep/go"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				// Long enough for the test to see it sleep, and pause it, on a
				// loaded machine.
				if err := flow.Sleep(ctx, "nap", 2*time.Second); err != nil {
					return nil, err
				}
				return flow.Step(ctx, "after", func(ctx context.Context) (int, error) { return calls.add("sleep"), nil })
			})
		require.NoError(t, err)
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "pause-wait"}, flow.EventTrigger("pause-wait/go"),
			func(ctx context.Context, in flow.Input[pauseData]) (any, error) {
				ev, err := flow.WaitForEvent[pauseData](ctx, "answer", flow.WaitOpts{Event: "pause-wait/answer", Timeout: time.Hour})
				if err != nil {
					return nil, err
				}
				return flow.Step(ctx, "after", func(ctx context.Context) (int, error) {
					calls.add("wait")
					return ev.Data.N, nil
				})
			})
		require.NoError(t, err)
	})
	ctx := testCtx(t)
	sleeper := sendOne(t, c, flow.Event{Name: "pause-sleep/go"})[0]
	waiter := sendOne(t, c, flow.Event{Name: "pause-wait/go"})[0]
	flowtest.AwaitStatus(t, c, sleeper, flow.RunSleeping)
	flowtest.AwaitStatus(t, c, waiter, flow.RunWaiting)
	require.NoError(t, c.PauseFunction(ctx, "pause-sleep"))
	require.NoError(t, c.PauseFunction(ctx, "pause-wait"))
	_, err := c.Send(ctx, flow.Event{Name: "pause-wait/answer", Data: pauseData{N: 7}})
	require.NoError(t, err)

	awaitHeld(t, c, sleeper) // its sleep ended while paused
	held := awaitHeld(t, c, waiter)
	require.Equal(t, "completed", string(held.Steps[0].Status), "the event is the wait's result, kept for the resume")
	require.Zero(t, calls.total())

	require.NoError(t, c.ResumeFunction(ctx, "pause-sleep"))
	require.NoError(t, c.ResumeFunction(ctx, "pause-wait"))
	run, err := c.AwaitRun(ctx, sleeper)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status)
	run, err = c.AwaitRun(ctx, waiter)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status)
	require.JSONEq(t, `7`, string(run.Output))
}

func TestPausedRunsCanBeCancelledAndTimeOut(t *testing.T) {
	t.Parallel()
	var calls counter
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "pause-cancel"}, flow.EventTrigger("pause-cancel/go"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				calls.add("cancel")
				return nil, nil
			})
		require.NoError(t, err)
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "pause-start-timeout", Timeouts: flow.Timeouts{Start: 300 * time.Millisecond}},
			flow.EventTrigger("pause-start-timeout/go"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				calls.add("start-timeout")
				return nil, nil
			})
		require.NoError(t, err)
	})
	ctx := testCtx(t)
	require.NoError(t, c.PauseFunction(ctx, "pause-cancel"))
	require.NoError(t, c.PauseFunction(ctx, "pause-start-timeout"))

	cancelled := sendOne(t, c, flow.Event{Name: "pause-cancel/go"})[0]
	awaitHeld(t, c, cancelled)
	ok, err := c.CancelRun(ctx, cancelled)
	require.NoError(t, err)
	require.True(t, ok)

	// Timeouts.Start counts the time queued while paused: the waker cancels
	// the held run at created + 300 ms, with no resume.
	timedOut := sendOne(t, c, flow.Event{Name: "pause-start-timeout/go"})[0]
	run, err := c.AwaitRun(ctx, timedOut)
	require.NoError(t, err)
	require.Equal(t, flow.RunCancelled, run.Status)
	require.Contains(t, run.Error, "start timeout")

	require.NoError(t, c.ResumeFunction(ctx, "pause-cancel"))
	run, err = c.GetRun(ctx, cancelled)
	require.NoError(t, err)
	require.Equal(t, flow.RunCancelled, run.Status)
	require.False(t, run.Paused, "an ended run does not show as paused")
	require.Zero(t, calls.total(), "no cancelled run executed")
}

func TestPauseStateInListFunctions(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "pause-info"}, flow.EventTrigger("pause-info/go"),
			func(ctx context.Context, in flow.Input[any]) (any, error) { return nil, nil })
		require.NoError(t, err)
	})
	ctx := testCtx(t)
	info := func() flow.FunctionInfo {
		fns, err := c.ListFunctions(ctx)
		require.NoError(t, err)
		for _, f := range fns {
			if f.ID == "pause-info" {
				return f
			}
		}
		t.Fatal("pause-info not listed")
		return flow.FunctionInfo{}
	}
	require.False(t, info().Paused)
	before := time.Now().Add(-time.Minute)
	require.NoError(t, c.PauseFunction(ctx, "pause-info"))
	require.NoError(t, c.PauseFunction(ctx, "pause-info"), "pausing a paused function does nothing")
	fi := info()
	require.True(t, fi.Paused)
	require.NotNil(t, fi.PausedAt)
	require.True(t, fi.PausedAt.After(before))
	require.NoError(t, c.ResumeFunction(ctx, "pause-info"))
	require.NoError(t, c.ResumeFunction(ctx, "pause-info"), "resuming a running function does nothing")
	fi = info()
	require.False(t, fi.Paused)
	require.Nil(t, fi.PausedAt)
}

func TestPauseBadInput(t *testing.T) {
	t.Parallel()
	c := newClient(t, flowtest.Pool(t), nil)
	ctx := testCtx(t)
	for _, id := range []string{"no-such-function", ""} {
		require.ErrorIs(t, c.PauseFunction(ctx, id), flow.ErrNotFound, "pause %q", id)
		require.ErrorIs(t, c.ResumeFunction(ctx, id), flow.ErrNotFound, "resume %q", id)
	}
	err := c.PauseFunction(ctx, "bad\x00id")
	require.Error(t, err)
	require.True(t, strings.HasPrefix(err.Error(), "flow: "), err.Error())
	require.Error(t, c.ResumeFunction(ctx, "bad\xffid"))
}

func TestPauseWithConcurrencyLimitHoldsParkedRunsAndResumesInOrder(t *testing.T) {
	t.Parallel()
	o := &runOrder{}
	entered := make(chan int, 3)
	release := make(chan struct{})
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "pause-slots", Concurrency: []flow.Concurrency{{Limit: 1}}},
			flow.EventTrigger("pause-slots/go"),
			func(ctx context.Context, in flow.Input[pauseData]) (any, error) {
				_, err := flow.Step(ctx, "first", func(ctx context.Context) (int, error) {
					o.add(in.Event.Data.N)
					if in.Event.Data.N == 0 {
						entered <- 0
						<-release
					}
					return in.Event.Data.N, nil
				})
				if err != nil {
					return nil, err
				}
				return flow.Step(ctx, "second", func(ctx context.Context) (int, error) { return in.Event.Data.N, nil })
			})
		require.NoError(t, err)
	})
	ctx := testCtx(t)
	first := sendOne(t, c, flow.Event{Name: "pause-slots/go", Data: pauseData{N: 0}})[0]
	<-entered // run 0 holds the only slot
	var parked []string
	for n := 1; n <= 2; n++ {
		id := sendOne(t, c, flow.Event{Name: "pause-slots/go", Data: pauseData{N: n}})[0]
		parked = append(parked, id)
	}
	require.NoError(t, c.PauseFunction(ctx, "pause-slots"))
	close(release)
	// Run 0 stops after its step and frees the slot; the parked runs are
	// woken for it and held, out of the slot's line.
	held := awaitHeld(t, c, first)
	require.Len(t, held.Steps, 1)
	for _, id := range parked {
		awaitHeld(t, c, id)
	}
	require.Equal(t, []int{0}, o.get(), "no parked run started while paused")

	require.NoError(t, c.ResumeFunction(ctx, "pause-slots"))
	for _, id := range append([]string{first}, parked...) {
		run, err := c.AwaitRun(ctx, id)
		require.NoError(t, err)
		require.Equal(t, flow.RunCompleted, run.Status)
	}
	require.Equal(t, []int{0, 1, 2}, o.get(), "after the resume the runs take the slot oldest first")
}
