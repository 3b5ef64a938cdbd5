package flow_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// failedPair is what a handler saw from a step that failed for good: the
// value and the error's text.
type failedPair struct {
	Val     stepResult
	Err     string
	IsStep  bool
	Attempt int
}

// Ported from inngestgo tests/step_errors_test.go TestStepErrors: a step
// that returns a value with an error and has no retries left hands the
// function both; the function goes on to a step that succeeds and returns
// its value.
func TestStepErrorsUpstream(t *testing.T) {
	t.Parallel()
	var aCount atomic.Int32
	seen := &stepRecorder[failedPair]{}

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "always-fail", Name: "Always fail", Retries: flow.Ptr(0)},
			flow.EventTrigger("test/fail"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				val, err := flow.Step(ctx, "fails", func(ctx context.Context) (any, error) {
					return "some-data", errors.New("this step fails")
				})
				var se *flow.StepError
				p := failedPair{IsStep: errors.As(err, &se)}
				if err != nil {
					p.Err = err.Error()
				}
				p.Val.Name, _ = val.(string)
				seen.add(p)

				val, err = flow.Step(ctx, "succeeds", func(ctx context.Context) (any, error) {
					return []any{"ok", true}, nil
				})
				aCount.Add(1)
				return val, err
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "test/fail", Data: map[string]any{"test": true, "id": "1"}})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.EqualValues(t, 1, aCount.Load())
	var out []any
	require.NoError(t, run.DecodeOutput(&out))
	require.Equal(t, []any{"ok", true}, out)

	got := seen.get()
	require.Len(t, got, 1)
	require.Equal(t, "some-data", got[0].Val.Name, "the value comes with the StepError")
	require.True(t, got[0].IsStep)
	require.Contains(t, got[0].Err, "this step fails")

	st := stepByID(t, run, "fails")
	require.Equal(t, "failed", st.Status)
	require.JSONEq(t, `"some-data"`, string(st.Output), "the value is stored with the failure")
}

// Ported from inngestgo tests/step_errors_test.go TestStepErrorCalledOnce:
// a step retried twice (RetryAtError(now) upstream, RetryAfter(err, 0) here)
// runs 3 times and the function gets past it once; the StepError returned
// unhandled fails the run without retrying the function. Upstream, a step
// that must retry never returns; here it returns an error the function must
// return unchanged (see Step), so the ported function does that before
// counting.
func TestStepErrorCalledOnceUpstream(t *testing.T) {
	t.Parallel()
	var stepCount, fnCount atomic.Int32
	vals := &stepRecorder[string]{}

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "always-fail", Retries: flow.Ptr(2)},
			flow.EventTrigger("test/fail"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				val, err := flow.Step(ctx, "fails", func(ctx context.Context) (string, error) {
					stepCount.Add(1)
					return "some-data", flow.RetryAfter(errors.New("this step fails"), 0)
				})
				var se *flow.StepError
				if err != nil && !errors.As(err, &se) {
					return nil, err // the run is suspending for the retry
				}
				fnCount.Add(1)
				vals.add(val)
				return val, err
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "test/fail", Data: map[string]any{"test": true, "id": "1"}})
	require.Equal(t, flow.RunFailed, run.Status)
	require.Contains(t, run.Error, "this step fails")
	require.EqualValues(t, 3, stepCount.Load(), "the step runs 3 times")
	require.EqualValues(t, 1, fnCount.Load(), "the function gets past the step once, and is not retried")
	require.Equal(t, 0, run.Attempt)
	require.Equal(t, []string{"some-data"}, vals.get())
}

// A failed step's value and error are memoized: the replay after a sleep
// returns the same pair, decoded from the stored JSON as a success's result
// is, without calling the step again.
func TestStepFailedValueReplayed(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	seen := &stepRecorder[failedPair]{}
	want := stepResult{N: 7, Name: "partial", Tags: []string{"a", "b"}}
	want.Inner.OK = true

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "replay", Retries: flow.Ptr(1)}, flow.EventTrigger("test/replay"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				v, err := flow.Step(ctx, "partial", func(ctx context.Context) (stepResult, error) {
					n := calls.Add(1)
					r := want
					r.N = int(n) + 5 // the last attempt's value: 7
					return r, errors.New("upstream timed out")
				})
				var se *flow.StepError
				if !errors.As(err, &se) {
					return nil, err
				}
				seen.add(failedPair{Val: v, Err: err.Error(), IsStep: true, Attempt: se.Attempts})
				if err := flow.Sleep(ctx, "nap", 10*time.Millisecond); err != nil {
					return nil, err
				}
				return v, nil
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "test/replay"})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.EqualValues(t, 2, calls.Load())
	got := seen.get()
	require.Len(t, got, 2, "the failure, then the replay after the sleep")
	require.Equal(t, want, got[0].Val)
	require.Equal(t, got[0], got[1], "the replay returns the same value and error")
	require.Equal(t, 2, got[1].Attempt)
	var out stepResult
	require.NoError(t, run.DecodeOutput(&out))
	require.Equal(t, want, out)
}

// The pair is stored, not held in memory: another client (another process
// of the service) that replays the run after the first stopped gets it.
func TestStepFailedValueAcrossRestart(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	seen := &stepRecorder[failedPair]{}
	var calls atomic.Int32
	define := func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "restart", Retries: flow.Ptr(0)}, flow.EventTrigger("test/restart"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				v, err := flow.Step(ctx, "partial", func(ctx context.Context) (stepResult, error) {
					calls.Add(1)
					return stepResult{N: 3, Name: "half"}, errors.New("quota exceeded")
				})
				var se *flow.StepError
				if !errors.As(err, &se) {
					return nil, err
				}
				seen.add(failedPair{Val: v, Err: err.Error(), IsStep: true, Attempt: se.Attempts})
				if _, err := flow.WaitForEvent[any](ctx, "go-on", flow.WaitOpts{Event: "test/go-on", Timeout: time.Minute}); err != nil {
					return nil, err
				}
				return v, nil
			})
		require.NoError(t, err)
	}

	first := newClient(t, pool, nil)
	define(first)
	require.NoError(t, first.Start(context.Background()))
	ids := sendOne(t, first, flow.Event{Name: "test/restart"})
	require.Len(t, ids, 1)
	flowtest.AwaitStatus(t, first, ids[0], flow.RunWaiting)
	require.NoError(t, first.Stop(testCtx(t)))

	second := flowtest.ClientOn(t, pool, nil, define)
	_, err := second.Send(testCtx(t), flow.Event{Name: "test/go-on"})
	require.NoError(t, err)
	run, err := second.AwaitRun(testCtx(t), ids[0])
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.EqualValues(t, 1, calls.Load())
	got := seen.get()
	require.Len(t, got, 2)
	require.Equal(t, stepResult{N: 3, Name: "half"}, got[0].Val)
	require.Equal(t, got[0], got[1], "the other client's replay returns the same value and error")
}

// StepTx returns its function's value with the StepError too; the step's
// transaction is rolled back all the same.
func TestStepTxFailedValue(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	_, err := pool.Exec(testCtx(t), `CREATE TABLE failed_value_marks (id int)`)
	require.NoError(t, err)
	seen := &stepRecorder[failedPair]{}

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "tx", Retries: flow.Ptr(0)}, flow.EventTrigger("test/tx"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				v, err := flow.StepTx(ctx, "write", func(ctx context.Context, tx pgx.Tx) (int, error) {
					if _, err := tx.Exec(ctx, `INSERT INTO failed_value_marks VALUES (1)`); err != nil {
						return 0, err
					}
					return 41, errors.New("checksum mismatch")
				})
				var se *flow.StepError
				if !errors.As(err, &se) {
					return nil, err
				}
				seen.add(failedPair{Val: stepResult{N: v}, Err: err.Error(), IsStep: true})
				if err := flow.Sleep(ctx, "nap", 10*time.Millisecond); err != nil {
					return nil, err
				}
				return v, nil
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "test/tx"})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	got := seen.get()
	require.Len(t, got, 2)
	require.Equal(t, 41, got[0].Val.N)
	require.Contains(t, got[0].Err, "checksum mismatch")
	require.Equal(t, got[0], got[1])
	var n int
	require.NoError(t, pool.QueryRow(testCtx(t), `SELECT count(*) FROM failed_value_marks`).Scan(&n))
	require.Zero(t, n, "the failed step's transaction is rolled back")
	require.JSONEq(t, `41`, string(stepByID(t, run, "write").Output))
}

// unencodable is a value whose JSON encoding fails.
type unencodable struct{ N int }

func (unencodable) MarshalJSON() ([]byte, error) { return nil, errors.New("no JSON for you") }

// A value that cannot be stored (it does not encode, is too large, or the
// database refuses it) is left out: the step still fails with its own error,
// whose stored message also says why the value is missing, and the function
// gets the zero value, the same on the replay.
func TestStepFailedValueNotStorable(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxStepOutputBytes = 64
	type seenCase struct {
		Zero bool
		Err  string
	}
	seen := map[string]*stepRecorder[seenCase]{"encode": {}, "large": {}, "refused": {}}
	record := func(name string, zero bool, err error) error {
		var se *flow.StepError
		if !errors.As(err, &se) {
			return err
		}
		seen[name].add(seenCase{Zero: zero, Err: err.Error()})
		return nil
	}

	c := flowtest.Client(t, cfg, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "unstorable", Retries: flow.Ptr(0)}, flow.EventTrigger("test/unstorable"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				u, err := flow.Step(ctx, "encode", func(ctx context.Context) (unencodable, error) {
					return unencodable{N: 1}, errors.New("first failure")
				})
				if err := record("encode", u == unencodable{}, err); err != nil {
					return nil, err
				}
				s, err := flow.Step(ctx, "large", func(ctx context.Context) (string, error) {
					return strings.Repeat("x", 200), errors.New("second failure")
				})
				if err := record("large", s == "", err); err != nil {
					return nil, err
				}
				s, err = flow.Step(ctx, "refused", func(ctx context.Context) (string, error) {
					return "nul\x00byte", errors.New("third failure")
				})
				if err := record("refused", s == "", err); err != nil {
					return nil, err
				}
				if err := flow.Sleep(ctx, "nap", 10*time.Millisecond); err != nil {
					return nil, err
				}
				return "done", nil
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "test/unstorable"})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	for name, want := range map[string][]string{
		"encode":  {"first failure", "its value was not stored", "no JSON for you"},
		"large":   {"second failure", "its value was not stored", flow.ErrStepOutputTooLarge.Error()},
		"refused": {"third failure", "its value was not stored"},
	} {
		st := stepByID(t, run, name)
		require.Equal(t, "failed", st.Status, name)
		require.Empty(t, st.Output, name)
		got := seen[name].get()
		require.Len(t, got, 2, "%s: the failure, then the replay after the sleep", name)
		require.Equal(t, got[0], got[1], "%s: the replay returns the same pair", name)
		require.True(t, got[0].Zero, "%s: the zero value", name)
		for _, w := range want {
			require.Contains(t, st.Error, w, name)
			require.Contains(t, got[0].Err, w, name)
		}
	}
}

// A step that panics has no value: the function gets the zero value with
// the StepError, and nothing is stored beside it.
func TestStepPanicHasNoFailedValue(t *testing.T) {
	t.Parallel()
	zero := &stepRecorder[bool]{}

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "panics", Retries: flow.Ptr(0)}, flow.EventTrigger("test/panics"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				v, err := flow.Step(ctx, "boom", func(ctx context.Context) (*stepResult, error) {
					panic("kaboom")
				})
				var se *flow.StepError
				if !errors.As(err, &se) {
					return nil, err
				}
				zero.add(v == nil)
				return "handled", nil
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "test/panics"})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.Equal(t, []bool{true}, zero.get())
	require.Empty(t, stepByID(t, run, "boom").Output)
}

// StepError values stay comparable with == now that they carry the failed
// step's value (this fails to compile otherwise).
func TestStepErrorComparable(t *testing.T) {
	t.Parallel()
	a, b := flow.StepError{RunID: "r", StepID: "s"}, flow.StepError{RunID: "r", StepID: "s"}
	require.True(t, a == b)
}
