package flow_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// awaitRun waits for a run to end, failing the test after limit: a run that
// loops (executes again and again) never ends.
func awaitRun(t *testing.T, c *flow.Client, runID string, limit time.Duration) *flow.Run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	run, err := c.AwaitRun(ctx, runID)
	require.NoError(t, err, "run %s did not end within %s", runID, limit)
	return run
}

// An explicit step ID that looks like a repeat's generated ID ("a:1") must not
// share its stored result with the repeat, whichever comes first.
func TestStepIDExplicitNeverTakesARepeatsID(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		calls []string // the step IDs the handler calls, in order
		ids   []string // the IDs stored, in order
	}{
		"explicit-first": {calls: []string{"a", "a:1", "a"}, ids: []string{"a", "a:1", "a:2", "nap"}},
		"repeat-first":   {calls: []string{"a", "a", "a:1"}, ids: []string{"a", "a:1", "a:1:1", "nap"}},
		"many":           {calls: []string{"a:2", "a", "a", "a:1", "a", "a:1"}, ids: []string{"a:2", "a", "a:1", "a:1:1", "a:3", "a:1:2", "nap"}},
	}
	counters := map[string]*atomic.Int32{}
	seens := map[string]*stepRecorder[[]int]{}

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		for name, tc := range cases {
			counter := &atomic.Int32{}
			seen := &stepRecorder[[]int]{}
			counters[name], seens[name] = counter, seen
			_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: name}, flow.EventTrigger("test/ids-"+name),
				func(ctx context.Context, in flow.Input[any]) (any, error) {
					var got []int
					for _, id := range tc.calls {
						v, err := flow.Step(ctx, id, func(ctx context.Context) (int, error) { return int(counter.Add(1)), nil })
						if err != nil {
							return nil, err
						}
						got = append(got, v)
					}
					seen.add(got)
					if err := flow.Sleep(ctx, "nap", 10*time.Millisecond); err != nil {
						return nil, err
					}
					return got, nil
				})
			require.NoError(t, err)
		}
	})
	for name, tc := range cases {
		run := awaitOnly(t, c, flow.Event{Name: "test/ids-" + name})
		require.Equal(t, flow.RunCompleted, run.Status, run.Error)
		want := make([]int, len(tc.calls))
		for i := range want {
			want[i] = i + 1
		}
		require.Equal(t, [][]int{want, want}, seens[name].get(), "%s: the replay must return each step's own result", name)
		require.EqualValues(t, len(tc.calls), counters[name].Load(), "%s: each step body runs once", name)
		require.Equal(t, tc.ids, stepIDs(run), name)
	}
}

// badStepIDs are step IDs no step may have: each must fail its step with
// ErrInvalidStepID, not reach the database.
var badStepIDs = []string{"", "nul\x00inside", "bad\xff\xfeutf8", strings.Repeat("x", 1000)}

// Every kind of step refuses an invalid ID with ErrInvalidStepID; the
// function gets the error, and the run fails once, never looping.
func TestStepIDInvalidFailsStep(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var kinds map[string]func(ctx context.Context, id string) error
	type caseData struct {
		Kind string
		Case int
	}
	var entered, isInvalid counter
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		child, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "child"}, flow.EventTrigger("test/never"),
			func(ctx context.Context, in flow.Input[any]) (any, error) { return "child", nil })
		require.NoError(t, err)
		kinds = map[string]func(ctx context.Context, id string) error{
			"step": func(ctx context.Context, id string) error {
				_, err := flow.Step(ctx, id, func(ctx context.Context) (int, error) { return 1, nil })
				return err
			},
			"steptx": func(ctx context.Context, id string) error {
				_, err := flow.StepTx(ctx, id, func(ctx context.Context, tx pgx.Tx) (int, error) { return 1, nil })
				return err
			},
			"sleep": func(ctx context.Context, id string) error { return flow.Sleep(ctx, id, time.Millisecond) },
			"sleepuntil": func(ctx context.Context, id string) error {
				return flow.SleepUntil(ctx, id, time.Now().Add(time.Millisecond))
			},
			"wait": func(ctx context.Context, id string) error {
				_, err := flow.WaitForEvent[any](ctx, id, flow.WaitOpts{Event: "test/never", Timeout: time.Hour})
				return err
			},
			"send": func(ctx context.Context, id string) error {
				_, err := flow.SendEvent(ctx, id, flow.Event{Name: "test/never"})
				return err
			},
			"invoke": func(ctx context.Context, id string) error {
				_, err := flow.Invoke[string](ctx, id, child, nil, flow.InvokeOpts{})
				return err
			},
			"parallel": func(ctx context.Context, id string) error {
				_, err := flow.Parallel(ctx,
					func(ctx context.Context) (int, error) {
						return flow.Step(ctx, "fine", func(ctx context.Context) (int, error) { return 1, nil })
					},
					func(ctx context.Context) (int, error) {
						return flow.Step(ctx, id, func(ctx context.Context) (int, error) { return 2, nil })
					})
				return err
			},
		}
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "bad-ids"}, flow.EventTrigger("test/bad-ids"),
			func(ctx context.Context, in flow.Input[caseData]) (any, error) {
				key := fmt.Sprint(in.Event.Data.Kind, in.Event.Data.Case)
				entered.add(key)
				err := kinds[in.Event.Data.Kind](ctx, badStepIDs[in.Event.Data.Case])
				if errors.Is(err, flow.ErrInvalidStepID) {
					isInvalid.add(key)
				}
				return nil, err
			})
		require.NoError(t, err)
	})

	runs := map[string]string{}
	for kind := range kinds {
		for i := range badStepIDs {
			ids := sendOne(t, c, flow.Event{Name: "test/bad-ids", Data: caseData{Kind: kind, Case: i}})
			require.Len(t, ids, 1)
			runs[ids[0]] = fmt.Sprint(kind, i)
		}
	}
	for runID, key := range runs {
		run := awaitRun(t, c, runID, 30*time.Second)
		require.Equal(t, flow.RunFailed, run.Status, "%s: %s", key, run.Error)
		require.Contains(t, run.Error, "invalid step ID", key)
		require.Equal(t, 1, entered.get(key), "%s: the handler runs once: the invalid ID fails the run at once", key)
		require.Equal(t, 1, isInvalid.get(key), "%s: the function gets an error wrapping ErrInvalidStepID", key)
		require.True(t, strings.ToValidUTF8(run.Error, "") == run.Error && !strings.Contains(run.Error, "\x00"), key)
	}
}

// A wake time Postgres cannot store fails the sleep with ErrInvalidTime,
// once, instead of looping.
func TestSleepUntilOutOfRangeFailsStep(t *testing.T) {
	t.Parallel()
	times := []time.Time{
		time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-5000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(1<<62, 0),
	}
	var entered, isInvalid counter

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "far"}, flow.EventTrigger("test/far"),
			func(ctx context.Context, in flow.Input[int]) (any, error) {
				key := fmt.Sprint(in.Event.Data)
				entered.add(key)
				err := flow.SleepUntil(ctx, "far", times[in.Event.Data])
				if errors.Is(err, flow.ErrInvalidTime) {
					isInvalid.add(key)
				}
				return nil, err
			})
		require.NoError(t, err)
	})

	runs := map[string]string{}
	for i := range times {
		ids := sendOne(t, c, flow.Event{Name: "test/far", Data: i})
		runs[ids[0]] = fmt.Sprint(i)
	}
	for runID, key := range runs {
		run := awaitRun(t, c, runID, 30*time.Second)
		require.Equal(t, flow.RunFailed, run.Status, "%s: %s", key, run.Error)
		require.Contains(t, run.Error, `"far"`, key)
		require.Equal(t, 1, entered.get(key), key)
		require.Equal(t, 1, isInvalid.get(key), key)
		require.Empty(t, run.Steps, key)
	}
}
