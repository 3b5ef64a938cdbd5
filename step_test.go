package flow_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// stepResult is a struct step result, to check that results go through a
// JSON round trip on the first execution as on replays.
type stepResult struct {
	N     int
	Name  string
	Tags  []string
	Inner struct{ OK bool }
}

// stepRecorder collects values from handlers, which run on other goroutines.
type stepRecorder[T any] struct {
	mu   sync.Mutex
	vals []T
}

func (r *stepRecorder[T]) add(v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.vals = append(r.vals, v)
}

func (r *stepRecorder[T]) get() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]T(nil), r.vals...)
}

// stepIDs returns the IDs of a run's steps, in order.
func stepIDs(run *flow.Run) []string {
	ids := make([]string, len(run.Steps))
	for i, st := range run.Steps {
		ids[i] = st.ID
	}
	return ids
}

// stepByID returns the run's step with the given ID, failing the test if
// there is none.
func stepByID(t *testing.T, run *flow.Run, id string) flow.RunStep {
	t.Helper()
	for _, st := range run.Steps {
		if st.ID == id {
			return st
		}
	}
	t.Fatalf("run %s has no step %q; steps: %v", run.ID, id, stepIDs(run))
	return flow.RunStep{}
}

func TestStepMemoizedAcrossReplay(t *testing.T) {
	t.Parallel()
	var entered, aCalls, bCalls atomic.Int32
	seenA := &stepRecorder[stepResult]{}
	seenB := &stepRecorder[string]{}

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "memo"}, flow.EventTrigger("test/memo"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				entered.Add(1)
				a, err := flow.Step(ctx, "a", func(ctx context.Context) (stepResult, error) {
					n := aCalls.Add(1)
					r := stepResult{N: int(n) * 10, Name: "alpha", Tags: []string{"x", "y"}}
					r.Inner.OK = true
					return r, nil
				})
				if err != nil {
					return nil, err
				}
				seenA.add(a)
				if err := flow.Sleep(ctx, "nap", 30*time.Millisecond); err != nil {
					return nil, err
				}
				b, err := flow.Step(ctx, "b", func(ctx context.Context) (string, error) {
					bCalls.Add(1)
					return fmt.Sprintf("b after %d", a.N), nil
				})
				if err != nil {
					return nil, err
				}
				seenB.add(b)
				return a, nil
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "test/memo"})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.EqualValues(t, 2, entered.Load(), "the handler must run again after the sleep (a replay)")
	require.EqualValues(t, 1, aCalls.Load(), "step a's body must run once")
	require.EqualValues(t, 1, bCalls.Load(), "step b's body must run once")

	want := stepResult{N: 10, Name: "alpha", Tags: []string{"x", "y"}}
	want.Inner.OK = true
	require.Equal(t, []stepResult{want, want}, seenA.get(), "step a must return the same value on the first execution and on replay")
	require.Equal(t, []string{"b after 10"}, seenB.get())

	var out stepResult
	require.NoError(t, run.DecodeOutput(&out))
	require.Equal(t, want, out)
	require.Equal(t, []string{"a", "nap", "b"}, stepIDs(run))
	for _, st := range run.Steps {
		require.Equal(t, "completed", st.Status, st.ID)
		require.Equal(t, 1, st.Attempts, st.ID)
	}
	require.JSONEq(t, `{"N":10,"Name":"alpha","Tags":["x","y"],"Inner":{"OK":true}}`, string(stepByID(t, run, "a").Output))
	require.Equal(t, "run", stepByID(t, run, "a").Kind)
	require.Equal(t, "sleep", stepByID(t, run, "nap").Kind)
}

func TestStepRepeatedIDsGetSuffixes(t *testing.T) {
	t.Parallel()
	var entered, calls atomic.Int32
	seen := &stepRecorder[[]int]{}

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "loop"}, flow.EventTrigger("test/loop"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				entered.Add(1)
				var got []int
				for i := 0; i < 3; i++ {
					v, err := flow.Step(ctx, "item", func(ctx context.Context) (int, error) {
						// A value that differs on every call, so that a replay
						// returning a re-run's value (or another item's) shows.
						return int(calls.Add(1))*100 + i, nil
					})
					if err != nil {
						return nil, err
					}
					got = append(got, v)
				}
				seen.add(got)
				if err := flow.Sleep(ctx, "nap", 30*time.Millisecond); err != nil {
					return nil, err
				}
				return got, nil
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "test/loop"})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.EqualValues(t, 2, entered.Load(), "the handler must replay after the sleep")
	require.EqualValues(t, 3, calls.Load(), "each item's body runs once")
	require.Equal(t, []string{"item", "item:1", "item:2", "nap"}, stepIDs(run))

	first := []int{100, 201, 302}
	require.Equal(t, [][]int{first, first}, seen.get(), "replay must map each repeated ID to its own stored result")
	for i, id := range []string{"item", "item:1", "item:2"} {
		require.JSONEq(t, fmt.Sprint(first[i]), string(stepByID(t, run, id).Output), id)
	}
	var out []int
	require.NoError(t, run.DecodeOutput(&out))
	require.Equal(t, first, out)
}

func TestStepRetriedUntilSuccess(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "flaky"}, flow.EventTrigger("test/flaky"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				return flow.Step(ctx, "flaky", func(ctx context.Context) (string, error) {
					if n := calls.Add(1); n <= 2 {
						return "", fmt.Errorf("transient failure %d", n)
					}
					return "ok", nil
				})
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "test/flaky"})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.EqualValues(t, 3, calls.Load())
	st := stepByID(t, run, "flaky")
	require.Equal(t, 3, st.Attempts)
	require.Equal(t, "completed", st.Status)
	require.JSONEq(t, `"ok"`, string(st.Output))
	require.Equal(t, 0, run.Attempt, "step failures are not failures of the function body")
	var out string
	require.NoError(t, run.DecodeOutput(&out))
	require.Equal(t, "ok", out)
}

func TestStepErrorHandledWithFallback(t *testing.T) {
	t.Parallel()
	var calls, entered atomic.Int32
	// The StepError the handler received, on the first execution that saw it
	// and on the replay after the sleep that follows the fallback.
	errs := &stepRecorder[flow.StepError]{}
	var causeKept atomic.Bool

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "fallback", Retries: flow.Ptr(2)}, flow.EventTrigger("test/fallback"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				entered.Add(1)
				v, err := flow.Step(ctx, "always-fails", func(ctx context.Context) (string, error) {
					calls.Add(1)
					return "", errors.New("backend unavailable")
				})
				var se *flow.StepError
				switch {
				case errors.As(err, &se):
					errs.add(*se)
					if errors.Unwrap(se) != nil && strings.Contains(errors.Unwrap(se).Error(), "backend unavailable") {
						causeKept.Store(true)
					}
					v, err = flow.Step(ctx, "fallback", func(ctx context.Context) (string, error) { return "from fallback", nil })
					if err != nil {
						return nil, err
					}
				case err != nil:
					return nil, err
				}
				if err := flow.Sleep(ctx, "nap", 20*time.Millisecond); err != nil {
					return nil, err
				}
				return v, nil
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "test/fallback"})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.EqualValues(t, 3, calls.Load(), "Retries 2 means 3 attempts")
	var out string
	require.NoError(t, run.DecodeOutput(&out))
	require.Equal(t, "from fallback", out)

	st := stepByID(t, run, "always-fails")
	require.Equal(t, 3, st.Attempts)
	require.Equal(t, "failed", st.Status)
	require.Contains(t, st.Error, "backend unavailable")

	got := errs.get()
	require.Len(t, got, 2, "the handler sees the StepError when the step fails for good and again on the replay after the sleep")
	for _, se := range got {
		require.Equal(t, run.ID, se.RunID)
		require.Equal(t, "always-fails", se.StepID)
		require.Equal(t, 3, se.Attempts)
		require.Contains(t, se.Message, "backend unavailable")
	}
	require.True(t, causeKept.Load(), "the StepError must wrap the step's original error in the execution where it failed")
	require.EqualValues(t, 4, entered.Load(), "3 attempts of the step, then one replay after the sleep")
}

func TestStepErrorUnhandledFailsRunWithoutRetry(t *testing.T) {
	t.Parallel()
	var calls, entered atomic.Int32

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "unhandled", Retries: flow.Ptr(2)}, flow.EventTrigger("test/unhandled"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				entered.Add(1)
				return flow.Step(ctx, "always-fails", func(ctx context.Context) (string, error) {
					calls.Add(1)
					return "", errors.New("still broken")
				})
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "test/unhandled"})
	require.Equal(t, flow.RunFailed, run.Status)
	require.Contains(t, run.Error, "still broken")
	require.Contains(t, run.Error, "always-fails")
	require.EqualValues(t, 3, calls.Load())
	require.EqualValues(t, 3, entered.Load(), "a StepError returned unhandled fails the run without retrying the function")
	require.Equal(t, 0, run.Attempt)
	st := stepByID(t, run, "always-fails")
	require.Equal(t, 3, st.Attempts)
	require.Equal(t, "failed", st.Status)
}

func TestStepNonRetriableFailsAtOnce(t *testing.T) {
	t.Parallel()
	sentinel := errors.New("bad input")
	var calls atomic.Int32
	var wrapsSentinel atomic.Bool

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "permanent"}, flow.EventTrigger("test/permanent"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				_, err := flow.Step(ctx, "validate", func(ctx context.Context) (int, error) {
					calls.Add(1)
					return 0, flow.NonRetriable(sentinel)
				})
				var se *flow.StepError
				if errors.As(err, &se) && se.Attempts == 1 && errors.Is(err, sentinel) {
					wrapsSentinel.Store(true)
				}
				return nil, err
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "test/permanent"})
	require.Equal(t, flow.RunFailed, run.Status)
	require.Contains(t, run.Error, "bad input")
	require.EqualValues(t, 1, calls.Load())
	require.True(t, wrapsSentinel.Load(), "the StepError must have Attempts 1 and wrap the NonRetriable error")
	st := stepByID(t, run, "validate")
	require.Equal(t, 1, st.Attempts)
	require.Equal(t, "failed", st.Status)
}

func TestStepNoRetries(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "once", Retries: flow.Ptr(0)}, flow.EventTrigger("test/once"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				return flow.Step(ctx, "try", func(ctx context.Context) (int, error) {
					calls.Add(1)
					return 0, errors.New("nope")
				})
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "test/once"})
	require.Equal(t, flow.RunFailed, run.Status)
	require.Contains(t, run.Error, "nope")
	require.EqualValues(t, 1, calls.Load())
	require.Equal(t, 1, stepByID(t, run, "try").Attempts)
}

func TestStepRetryAfterDelaysNextAttempt(t *testing.T) {
	t.Parallel()
	const delay = 200 * time.Millisecond
	attemptTimes := &stepRecorder[time.Time]{}

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) { // RetryBackoff is 20ms: RetryAfter must override it
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "retry-after"}, flow.EventTrigger("test/retry-after"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				return flow.Step(ctx, "rate-limited", func(ctx context.Context) (string, error) {
					attemptTimes.add(time.Now())
					if len(attemptTimes.get()) == 1 {
						return "", flow.RetryAfter(errors.New("429 too many requests"), delay)
					}
					return "done", nil
				})
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "test/retry-after"})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	times := attemptTimes.get()
	require.Len(t, times, 2)
	require.GreaterOrEqual(t, times[1].Sub(times[0]), delay, "the second attempt must wait for the RetryAfter delay, not the 20ms backoff")
	st := stepByID(t, run, "rate-limited")
	require.Equal(t, 2, st.Attempts)
	require.Equal(t, "completed", st.Status)
}

func TestFunctionBodyErrorRetried(t *testing.T) {
	t.Parallel()
	var stepCalls atomic.Int32
	attempts := &stepRecorder[int]{}

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "body-retry"}, flow.EventTrigger("test/body-retry"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				attempts.add(in.Attempt)
				v, err := flow.Step(ctx, "before", func(ctx context.Context) (int, error) {
					return int(stepCalls.Add(1)), nil
				})
				if err != nil {
					return nil, err
				}
				if in.Attempt < 2 {
					return nil, fmt.Errorf("body failure at attempt %d", in.Attempt)
				}
				return v, nil
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "test/body-retry"})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.Equal(t, []int{0, 1, 2}, attempts.get(), "each retry of the body sees the next Input.Attempt")
	require.Equal(t, 2, run.Attempt)
	require.EqualValues(t, 1, stepCalls.Load(), "a completed step is not re-run when the body is retried")
	var out int
	require.NoError(t, run.DecodeOutput(&out))
	require.Equal(t, 1, out)
}

func TestFunctionBodyErrorFailsAfterRetries(t *testing.T) {
	t.Parallel()
	attempts := &stepRecorder[int]{}

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "body-fails", Retries: flow.Ptr(2)}, flow.EventTrigger("test/body-fails"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				attempts.add(in.Attempt)
				return nil, fmt.Errorf("body always fails (attempt %d)", in.Attempt)
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "test/body-fails"})
	require.Equal(t, flow.RunFailed, run.Status)
	require.Contains(t, run.Error, "body always fails (attempt 2)")
	require.Equal(t, []int{0, 1, 2}, attempts.get(), "Retries 2: three attempts of the body, no more")
	require.Equal(t, 2, run.Attempt)
}

func TestFunctionBodyNonRetriableFailsAtOnce(t *testing.T) {
	t.Parallel()
	var entered atomic.Int32

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "body-permanent"}, flow.EventTrigger("test/body-permanent"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				entered.Add(1)
				return nil, flow.NonRetriable(errors.New("config missing"))
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "test/body-permanent"})
	require.Equal(t, flow.RunFailed, run.Status)
	require.Contains(t, run.Error, "config missing")
	require.EqualValues(t, 1, entered.Load())
	require.Equal(t, 0, run.Attempt)
}

func TestStepPanicRetried(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "step-panic"}, flow.EventTrigger("test/step-panic"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				return flow.Step(ctx, "boom", func(ctx context.Context) (string, error) {
					if calls.Add(1) == 1 {
						panic("step exploded")
					}
					return "recovered", nil
				})
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "test/step-panic"})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.EqualValues(t, 2, calls.Load())
	st := stepByID(t, run, "boom")
	require.Equal(t, 2, st.Attempts)
	require.Equal(t, "completed", st.Status)
	var out string
	require.NoError(t, run.DecodeOutput(&out))
	require.Equal(t, "recovered", out)
}

func TestFunctionPanicRetried(t *testing.T) {
	t.Parallel()
	attempts := &stepRecorder[int]{}

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "body-panic"}, flow.EventTrigger("test/body-panic"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				attempts.add(in.Attempt)
				if in.Attempt == 0 {
					panic("handler exploded")
				}
				return "survived", nil
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "test/body-panic"})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.Equal(t, []int{0, 1}, attempts.get(), "a panic in the body counts as a failed attempt and is retried")
	require.Equal(t, 1, run.Attempt)

	// The process (and the client) survived: another run still works.
	run = awaitOnly(t, c, flow.Event{Name: "test/body-panic"})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
}

func TestFunctionPanicFailsAfterRetries(t *testing.T) {
	t.Parallel()
	var entered atomic.Int32

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "always-panics", Retries: flow.Ptr(1)}, flow.EventTrigger("test/always-panics"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				entered.Add(1)
				panic("handler always explodes")
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "test/always-panics"})
	require.Equal(t, flow.RunFailed, run.Status)
	require.Contains(t, run.Error, "handler always explodes")
	require.EqualValues(t, 2, entered.Load())
}

func TestStepTxCommitsWithResult(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	ctx := testCtx(t)
	_, err := pool.Exec(ctx, `CREATE TABLE step_tx_test (id serial PRIMARY KEY, note text NOT NULL)`)
	require.NoError(t, err)
	var calls, entered atomic.Int32
	// Rows visible to the second attempt before it inserts: the first
	// attempt's insert must have been rolled back.
	var rowsSeenBySecond atomic.Int32
	rowsSeenBySecond.Store(-1)

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "steptx"}, flow.EventTrigger("test/steptx"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				entered.Add(1)
				id, err := flow.StepTx(ctx, "insert", func(ctx context.Context, tx pgx.Tx) (int, error) {
					n := calls.Add(1)
					if n == 2 {
						var count int32
						if err := tx.QueryRow(ctx, `SELECT count(*) FROM step_tx_test`).Scan(&count); err != nil {
							return 0, err
						}
						rowsSeenBySecond.Store(count)
					}
					var id int
					if err := tx.QueryRow(ctx, `INSERT INTO step_tx_test (note) VALUES ($1) RETURNING id`,
						fmt.Sprintf("attempt %d", n)).Scan(&id); err != nil {
						return 0, err
					}
					if n == 1 {
						return 0, errors.New("fail after insert")
					}
					return id, nil
				})
				if err != nil {
					return nil, err
				}
				if err := flow.Sleep(ctx, "nap", 30*time.Millisecond); err != nil {
					return nil, err
				}
				return id, nil
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "test/steptx"})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.EqualValues(t, 2, calls.Load(), "the failed attempt and the committed one; no run on replay")
	require.EqualValues(t, 3, entered.Load(), "first attempt, retry, replay after the sleep")
	require.EqualValues(t, 0, rowsSeenBySecond.Load(), "the failed attempt's insert must be rolled back")

	var count int
	var note string
	var rowID int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM step_tx_test`).Scan(&count))
	require.Equal(t, 1, count)
	require.NoError(t, pool.QueryRow(ctx, `SELECT id, note FROM step_tx_test`).Scan(&rowID, &note))
	require.Equal(t, "attempt 2", note)

	st := stepByID(t, run, "insert")
	require.Equal(t, "completed", st.Status)
	require.Equal(t, 2, st.Attempts)
	require.JSONEq(t, fmt.Sprint(rowID), string(st.Output), "the stored result is the committed attempt's")
	var out int
	require.NoError(t, run.DecodeOutput(&out))
	require.Equal(t, rowID, out)
}

func TestStepOutputTooLarge(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxStepOutputBytes = 64
	var calls atomic.Int32
	var gotTooLarge atomic.Bool

	c := flowtest.Client(t, cfg, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "big"}, flow.EventTrigger("test/big"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				_, err := flow.Step(ctx, "big", func(ctx context.Context) (string, error) {
					calls.Add(1)
					return strings.Repeat("x", 200), nil
				})
				var se *flow.StepError
				if errors.As(err, &se) && errors.Is(err, flow.ErrStepOutputTooLarge) && se.Attempts == 1 {
					gotTooLarge.Store(true)
					return "handled", nil
				}
				if err != nil {
					return nil, err
				}
				return "unexpected success", nil
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "test/big"})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.True(t, gotTooLarge.Load(), "the step must return a StepError wrapping ErrStepOutputTooLarge after 1 attempt")
	require.EqualValues(t, 1, calls.Load(), "an oversized output is not retried")
	st := stepByID(t, run, "big")
	require.Equal(t, "failed", st.Status)
	require.Equal(t, 1, st.Attempts)
	require.Contains(t, st.Error, flow.ErrStepOutputTooLarge.Error())
}

func TestStepTooManySteps(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxStepsPerRun = 5
	var calls, entered atomic.Int32

	c := flowtest.Client(t, cfg, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "many"}, flow.EventTrigger("test/many"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				entered.Add(1)
				for i := 0; i < 10; i++ {
					if _, err := flow.Step(ctx, "s", func(ctx context.Context) (int, error) {
						calls.Add(1)
						return i, nil
					}); err != nil {
						return nil, err
					}
				}
				return "all done", nil
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "test/many"})
	require.Equal(t, flow.RunFailed, run.Status)
	require.Contains(t, run.Error, flow.ErrTooManySteps.Error())
	require.EqualValues(t, 5, calls.Load(), "only MaxStepsPerRun steps run")
	require.EqualValues(t, 1, entered.Load(), "too many steps fails the run without retries")
	require.Len(t, run.Steps, 5)
}

func TestStepOutsideRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	called := false
	_, err := flow.Step(ctx, "x", func(ctx context.Context) (int, error) { called = true; return 1, nil })
	require.ErrorIs(t, err, flow.ErrNotInRun)
	require.False(t, called)
	_, err = flow.StepTx(ctx, "x", func(ctx context.Context, tx pgx.Tx) (int, error) { called = true; return 1, nil })
	require.ErrorIs(t, err, flow.ErrNotInRun)
	require.False(t, called)
	require.ErrorIs(t, flow.Sleep(ctx, "x", time.Millisecond), flow.ErrNotInRun)
	require.ErrorIs(t, flow.SleepUntil(ctx, "x", time.Now()), flow.ErrNotInRun)
}

func TestStepNestedIsError(t *testing.T) {
	t.Parallel()
	var innerCalls atomic.Int32
	innerErrs := &stepRecorder[string]{}

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "nested"}, flow.EventTrigger("test/nested"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				return flow.Step(ctx, "outer", func(ctx context.Context) (string, error) {
					_, err := flow.Step(ctx, "inner", func(ctx context.Context) (int, error) {
						innerCalls.Add(1)
						return 1, nil
					})
					if err == nil {
						innerErrs.add("<nil>")
					} else {
						innerErrs.add(err.Error())
					}
					sleepErr := flow.Sleep(ctx, "inner-sleep", time.Millisecond)
					if sleepErr == nil {
						innerErrs.add("<nil>")
					} else {
						innerErrs.add(sleepErr.Error())
					}
					return "outer done", nil
				})
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "test/nested"})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.EqualValues(t, 0, innerCalls.Load(), "a nested step's body must not run")
	errs := innerErrs.get()
	require.Len(t, errs, 2)
	for _, e := range errs {
		require.NotEqual(t, "<nil>", e, "a step inside a step must return an error")
		require.Contains(t, e, "outer")
	}
	require.Equal(t, []string{"outer"}, stepIDs(run), "the nested steps are not stored")
}

func TestStepNonDeterminismFailsRun(t *testing.T) {
	t.Parallel()
	var replaying atomic.Bool
	var entered atomic.Int32

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "nondet"}, flow.EventTrigger("test/nondet"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				entered.Add(1)
				if replaying.Swap(true) {
					// The code changed under the run: "x" is now a sleep.
					if err := flow.Sleep(ctx, "x", time.Millisecond); err != nil {
						return nil, err
					}
					return "replayed", nil
				}
				if _, err := flow.Step(ctx, "x", func(ctx context.Context) (int, error) { return 1, nil }); err != nil {
					return nil, err
				}
				if err := flow.Sleep(ctx, "nap", 20*time.Millisecond); err != nil {
					return nil, err
				}
				return "first", nil
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "test/nondet"})
	require.Equal(t, flow.RunFailed, run.Status)
	require.Contains(t, run.Error, run.ID)
	require.Contains(t, run.Error, `"x"`)
	require.Contains(t, run.Error, "run")
	require.Contains(t, run.Error, "sleep")
	require.EqualValues(t, 2, entered.Load(), "a non-determinism failure is not retried")
}
