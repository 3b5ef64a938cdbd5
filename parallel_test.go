package flow_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// parStepIDs returns the IDs of a run's steps.
func parStepIDs(run *flow.Run) map[string]flow.RunStep {
	out := map[string]flow.RunStep{}
	for _, st := range run.Steps {
		out[st.ID] = st
	}
	return out
}

// Three branches each run a step that blocks until all three have started:
// only concurrent branches get past the barrier.
func TestParallelBranchesRunConcurrently(t *testing.T) {
	t.Parallel()
	var counts counter

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "par-barrier", Retries: flow.Ptr(0)}, flow.EventTrigger("par/barrier"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				var arrived atomic.Int32
				all := make(chan struct{})
				branch := func(i int) func(ctx context.Context) (int, error) {
					return func(ctx context.Context) (int, error) {
						return flow.Step(ctx, fmt.Sprintf("b%d", i), func(ctx context.Context) (int, error) {
							counts.add(fmt.Sprintf("b%d", i))
							if arrived.Add(1) == 3 {
								close(all)
							}
							select {
							case <-all:
								return i * 10, nil
							case <-time.After(10 * time.Second):
								return 0, flow.NonRetriable(fmt.Errorf("branch %d: the other branches never started (%d arrived)", i, arrived.Load()))
							}
						})
					}
				}
				return flow.Parallel(ctx, branch(0), branch(1), branch(2))
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "par/barrier"})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.JSONEq(t, `[0, 10, 20]`, string(run.Output))
	for i := range 3 {
		require.Equal(t, 1, counts.get(fmt.Sprintf("b%d", i)))
	}
}

// Branches doing Step, Sleep (of different lengths) and Step all complete,
// each step body executed once, results in branch order.
func TestParallelBranchesWithSleeps(t *testing.T) {
	t.Parallel()
	var counts counter
	var entries atomic.Int32

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "par-sleep"}, flow.EventTrigger("par/sleep"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				entries.Add(1)
				branch := func(i int, d time.Duration) func(ctx context.Context) (string, error) {
					return func(ctx context.Context) (string, error) {
						pre, err := flow.Step(ctx, fmt.Sprintf("pre-%d", i), func(ctx context.Context) (int, error) {
							return counts.add(fmt.Sprintf("pre-%d", i)), nil
						})
						if err != nil {
							return "", err
						}
						if err := flow.Sleep(ctx, fmt.Sprintf("sleep-%d", i), d); err != nil {
							return "", err
						}
						post, err := flow.Step(ctx, fmt.Sprintf("post-%d", i), func(ctx context.Context) (int, error) {
							return counts.add(fmt.Sprintf("post-%d", i)), nil
						})
						if err != nil {
							return "", err
						}
						return fmt.Sprintf("%d:%d/%d", i, pre, post), nil
					}
				}
				return flow.Parallel(ctx,
					branch(0, 250*time.Millisecond),
					branch(1, 50*time.Millisecond),
					branch(2, 150*time.Millisecond))
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "par/sleep"})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.JSONEq(t, `["0:1/1", "1:1/1", "2:1/1"]`, string(run.Output))
	steps := parStepIDs(run)
	require.Len(t, steps, 9)
	for i := range 3 {
		require.Equal(t, 1, counts.get(fmt.Sprintf("pre-%d", i)))
		require.Equal(t, 1, counts.get(fmt.Sprintf("post-%d", i)))
		sl := steps[fmt.Sprintf("sleep-%d", i)]
		post := steps[fmt.Sprintf("post-%d", i)]
		require.Equal(t, "completed", sl.Status)
		require.NotNil(t, sl.WakeAt)
		require.False(t, post.StartedAt.Before(*sl.WakeAt), "branch %d ran its post step before its sleep ended", i)
	}
	// A pause in one branch did not stop the others: every branch began its
	// sleep before any branch's post step ran.
	for i := range 3 {
		for j := range 3 {
			require.True(t, steps[fmt.Sprintf("sleep-%d", i)].StartedAt.Before(steps[fmt.Sprintf("post-%d", j)].StartedAt),
				"sleep-%d began after post-%d", i, j)
		}
	}
	require.GreaterOrEqual(t, entries.Load(), int32(2))
}

// A branch's step that fails for good makes Parallel return its StepError,
// with the other branches' results.
func TestParallelBranchErrorIsReturned(t *testing.T) {
	t.Parallel()
	var counts counter

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "par-err", Retries: flow.Ptr(1)}, flow.EventTrigger("par/err"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				ok := func(i int) func(ctx context.Context) (int, error) {
					return func(ctx context.Context) (int, error) {
						return flow.Step(ctx, fmt.Sprintf("ok-%d", i), func(ctx context.Context) (int, error) {
							counts.add(fmt.Sprintf("ok-%d", i))
							return i + 1, nil
						})
					}
				}
				bad := func(ctx context.Context) (int, error) {
					return flow.Step(ctx, "bad", func(ctx context.Context) (int, error) {
						return 0, fmt.Errorf("attempt %d failed", counts.add("bad"))
					})
				}
				results, err := flow.Parallel(ctx, ok(0), bad, ok(2))
				if flow.IsSuspend(err) {
					return nil, err
				}
				var se *flow.StepError
				if !errors.As(err, &se) {
					return nil, flow.NonRetriable(fmt.Errorf("want a StepError, got %v", err))
				}
				return map[string]any{"step": se.StepID, "attempts": se.Attempts, "message": se.Message, "results": results}, nil
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "par/err"})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	var out struct {
		Step     string `json:"step"`
		Attempts int    `json:"attempts"`
		Message  string `json:"message"`
		Results  []int  `json:"results"`
	}
	require.NoError(t, run.DecodeOutput(&out))
	require.Equal(t, "bad", out.Step)
	require.Equal(t, 2, out.Attempts)
	require.Contains(t, out.Message, "attempt 2 failed")
	require.Equal(t, []int{1, 0, 3}, out.Results)
	require.Equal(t, 2, counts.get("bad"))
	require.Equal(t, 1, counts.get("ok-0"))
	require.Equal(t, 1, counts.get("ok-2"))
}

// Returned unhandled, a branch's StepError fails the run.
func TestParallelBranchErrorFailsRun(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "par-err-fail", Retries: flow.Ptr(0)}, flow.EventTrigger("par/err-fail"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				step := func(id string, fail bool) func(ctx context.Context) (int, error) {
					return func(ctx context.Context) (int, error) {
						return flow.Step(ctx, id, func(ctx context.Context) (int, error) {
							if fail {
								return 0, errors.New(id + " broke")
							}
							return 1, nil
						})
					}
				}
				// Two failing branches: the first in branch order is returned.
				return flow.Parallel(ctx, step("fine", false), step("second", true), step("third", true))
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "par/err-fail"})
	require.Equal(t, flow.RunFailed, run.Status)
	require.Contains(t, run.Error, "second broke")
	require.NotContains(t, run.Error, "third broke")
}

// A panic in a branch fails the attempt (the function is retried, then the
// run fails) without crashing the process.
func TestParallelBranchPanicFailsAttempt(t *testing.T) {
	t.Parallel()
	var counts counter

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "par-panic", Retries: flow.Ptr(1)}, flow.EventTrigger("par/panic"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				return flow.Parallel(ctx,
					func(ctx context.Context) (int, error) {
						return flow.Step(ctx, "calm", func(ctx context.Context) (int, error) { return counts.add("calm"), nil })
					},
					func(ctx context.Context) (int, error) {
						counts.add("panicker")
						panic("branch exploded")
					})
			})
		require.NoError(t, err)
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "par-after-panic"}, flow.EventTrigger("par/after"),
			func(ctx context.Context, in flow.Input[any]) (any, error) { return "alive", nil })
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "par/panic"})
	require.Equal(t, flow.RunFailed, run.Status)
	require.Contains(t, run.Error, "branch exploded")
	require.Equal(t, 2, counts.get("panicker"), "one attempt and one retry")
	require.Equal(t, 1, counts.get("calm"), "the other branch's step is stored, not run again")

	// The process is fine.
	after := awaitOnly(t, c, flow.Event{Name: "par/after"})
	require.Equal(t, flow.RunCompleted, after.Status, after.Error)
}

// Steps called from plain goroutines the handler starts (errgroup style)
// work, with their own IDs, and replay from storage after a pause.
func TestParallelStepsFromErrgroupGoroutines(t *testing.T) {
	t.Parallel()
	var counts counter

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "par-errgroup"}, flow.EventTrigger("par/errgroup"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				fanOut := func() ([]int, error) {
					out := make([]int, 4)
					g, gctx := errgroup.WithContext(ctx)
					for i := range out {
						g.Go(func() error {
							id := fmt.Sprintf("g-%d", i)
							v, err := flow.Step(gctx, id, func(ctx context.Context) (int, error) {
								counts.add(id)
								return i * i, nil
							})
							out[i] = v
							return err
						})
					}
					return out, g.Wait()
				}
				first, err := fanOut() // after the sleep, replayed from storage
				if err != nil {
					return nil, err
				}
				if err := flow.Sleep(ctx, "nap", 50*time.Millisecond); err != nil {
					return nil, err
				}
				return first, nil
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "par/errgroup"})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.JSONEq(t, `[0,1,4,9]`, string(run.Output))
	steps := parStepIDs(run)
	for i := range 4 {
		id := fmt.Sprintf("g-%d", i)
		require.Contains(t, steps, id)
		require.Equal(t, 1, counts.get(id), id)
	}
	require.Len(t, steps, 5, "no repeat suffixes: %v", steps)
}

// A user's recover() around a Sleep cannot break the engine: the function
// that recovers and returns the error still suspends and later completes.
func TestParallelRecoverAroundSleep(t *testing.T) {
	t.Parallel()
	var counts counter
	var recovered atomic.Int32

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "par-recover"}, flow.EventTrigger("par/recover"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				var err error
				func() {
					defer func() {
						if r := recover(); r != nil {
							recovered.Add(1)
						}
					}()
					err = flow.Sleep(ctx, "nap", 150*time.Millisecond)
				}()
				if err != nil {
					return nil, err
				}
				// The same inside a Parallel branch.
				res, err := flow.Parallel(ctx, func(ctx context.Context) (int, error) {
					defer func() {
						if r := recover(); r != nil {
							recovered.Add(1)
						}
					}()
					if err := flow.Sleep(ctx, "branch-nap", 50*time.Millisecond); err != nil {
						return 0, err
					}
					return flow.Step(ctx, "branch-after", func(ctx context.Context) (int, error) { return counts.add("branch-after"), nil })
				})
				if err != nil {
					return nil, err
				}
				n, err := flow.Step(ctx, "after", func(ctx context.Context) (int, error) { return counts.add("after"), nil })
				if err != nil {
					return nil, err
				}
				return []int{res[0], n}, nil
			})
		require.NoError(t, err)
	})
	var err error

	runIDs := sendOne(t, c, flow.Event{Name: "par/recover"})
	ctx := testCtx(t)
	require.Eventually(t, func() bool {
		r, err := c.GetRun(ctx, runIDs[0])
		require.NoError(t, err)
		return r.Status == flow.RunSleeping || r.Status.Ended()
	}, 10*time.Second, 5*time.Millisecond)
	run, err := c.AwaitRun(ctx, runIDs[0])
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.JSONEq(t, `[1, 1]`, string(run.Output))
	require.Equal(t, int32(0), recovered.Load())
	steps := parStepIDs(run)
	nap := steps["nap"]
	require.NotNil(t, nap.WakeAt)
	require.False(t, steps["after"].StartedAt.Before(*nap.WakeAt))
}

// A function that swallows the pause error of a Sleep (and so returns a
// result early) still sleeps: the engine, not the return value, decides,
// and the result is the one computed after the sleep.
func TestParallelSwallowedSleepErrorStillSuspends(t *testing.T) {
	t.Parallel()
	var counts counter

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "par-swallow"}, flow.EventTrigger("par/swallow"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				slept := flow.Sleep(ctx, "nap", 150*time.Millisecond) == nil
				n, _ := flow.Step(ctx, "after", func(ctx context.Context) (int, error) { return counts.add("after"), nil })
				return map[string]any{"slept": slept, "after": n}, nil
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "par/swallow"})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.JSONEq(t, `{"slept": true, "after": 1}`, string(run.Output))
	require.Equal(t, 1, counts.get("after"))
	steps := parStepIDs(run)
	require.False(t, steps["after"].StartedAt.Before(*steps["nap"].WakeAt))
}

// Parallel inside a branch: the inner branches pause and resume on their own.
func TestParallelNested(t *testing.T) {
	t.Parallel()
	var counts counter

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "par-nested"}, flow.EventTrigger("par/nested"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				leaf := func(id string, d time.Duration) func(ctx context.Context) (int, error) {
					return func(ctx context.Context) (int, error) {
						if err := flow.Sleep(ctx, "sleep-"+id, d); err != nil {
							return 0, err
						}
						return flow.Step(ctx, "step-"+id, func(ctx context.Context) (int, error) { return counts.add(id), nil })
					}
				}
				return flow.Parallel(ctx,
					func(ctx context.Context) ([]int, error) {
						return flow.Parallel(ctx, leaf("a", 100*time.Millisecond), leaf("b", 20*time.Millisecond))
					},
					func(ctx context.Context) ([]int, error) {
						v, err := leaf("c", 60*time.Millisecond)(ctx)
						return []int{v}, err
					})
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "par/nested"})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.JSONEq(t, `[[1,1],[1]]`, string(run.Output))
	for _, id := range []string{"a", "b", "c"} {
		require.Equal(t, 1, counts.get(id), id)
	}
}
