package flow_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// FuzzStepID checks that whatever its ID, a step either runs once and
// replays with the same result, or fails with ErrInvalidStepID: never a raw
// database error, never a run that loops. One client and database serve
// every input.
func FuzzStepID(f *testing.F) {
	for _, id := range []string{
		"a", "a:1", "a:1:1", ":", "a:", "nap", "nap:1", "cancel:0", "with space", "tab\tand\nnewline",
		"日本語", "emoji 🙂", "\u200b", "\ufffd", "quote\"'`", "back\\slash", "%s%d", "DROP TABLE flow_step;",
		strings.Repeat("x", 512), strings.Repeat("é", 256),
		"", "\x00", "a\x00b", "\xff", "\xc3", "\xed\xa0\x80", strings.Repeat("x", 513), strings.Repeat("é", 257),
	} {
		f.Add(id)
	}

	var ids sync.Map // run key -> step ID
	type seen struct {
		mu      sync.Mutex
		vals    []string
		calls   int
		invalid bool
		other   error
	}
	var results sync.Map // run key -> *seen
	c := flowtest.Client(f, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "fuzz-step-id", Retries: flow.Ptr(0)}, flow.EventTrigger("test/fuzz-step-id"),
			func(ctx context.Context, in flow.Input[string]) (any, error) {
				idv, _ := ids.Load(in.Event.Data)
				rv, _ := results.Load(in.Event.Data)
				r := rv.(*seen)
				v, err := flow.Step(ctx, idv.(string), func(ctx context.Context) (string, error) {
					r.mu.Lock()
					r.calls++
					r.mu.Unlock()
					return "value of " + in.Event.Data, nil
				})
				r.mu.Lock()
				switch {
				case errors.Is(err, flow.ErrInvalidStepID):
					r.invalid = true
				case err != nil && !flow.IsSuspend(err):
					r.other = err
				case err == nil:
					r.vals = append(r.vals, v)
				}
				r.mu.Unlock()
				if err != nil {
					return nil, err
				}
				if err := flow.Sleep(ctx, "nap", time.Millisecond); err != nil {
					return nil, err
				}
				return v, nil
			})
		require.NoError(f, err)
	})

	var next atomic.Int64
	f.Fuzz(func(t *testing.T, id string) {
		key := strconv.FormatInt(next.Add(1), 10)
		r := &seen{}
		ids.Store(key, id)
		results.Store(key, r)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		evIDs, err := c.Send(ctx, flow.Event{Name: "test/fuzz-step-id", Data: key})
		require.NoError(t, err)
		runs, err := c.ListRuns(ctx, flow.RunFilter{EventID: evIDs[0]})
		require.NoError(t, err)
		require.Len(t, runs, 1)
		run, err := c.AwaitRun(ctx, runs[0].ID)
		require.NoError(t, err, "the run must end, not loop")

		r.mu.Lock()
		defer r.mu.Unlock()
		require.NoError(t, r.other, "only ErrInvalidStepID may fail the step")
		require.NotContains(t, run.Error, "SQLSTATE", "never a raw database error")
		valid := id != "" && len(id) <= flow.MaxStepIDBytes && utf8.ValidString(id) && !strings.Contains(id, "\x00")
		if !valid {
			require.Equal(t, flow.RunFailed, run.Status)
			require.True(t, r.invalid, "an invalid ID fails with ErrInvalidStepID")
			require.Zero(t, r.calls, "the step body never runs")
			require.Empty(t, run.Steps)
			return
		}
		require.Equal(t, flow.RunCompleted, run.Status, run.Error)
		require.False(t, r.invalid)
		require.Equal(t, 1, r.calls, "the step body runs once")
		want := "value of " + key
		require.Equal(t, []string{want, want}, r.vals, "the replay returns the stored result")
		require.Equal(t, id, run.Steps[0].ID, "the ID is stored as given")
	})
}
