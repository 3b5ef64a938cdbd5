package flow_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// explode panics in a frame of its own, which the stored error must name.
func explode(what string) {
	panic(what)
}

// A panic stores its value and the few frames where it happened as the
// error, not the whole goroutine stack (that goes to the log).
func TestPanicStoresValueAndTopFrames(t *testing.T) {
	t.Parallel()
	stepMsgs := &stepRecorder[string]{}

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "step-panics", Retries: flow.Ptr(0)}, flow.EventTrigger("test/step-panics"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				_, err := flow.Step(ctx, "boom", func(ctx context.Context) (int, error) {
					explode("step went bang")
					return 0, nil
				})
				var se *flow.StepError
				if errors.As(err, &se) {
					stepMsgs.add(se.Message)
				}
				return nil, err
			})
		require.NoError(t, err)
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "handler-panics", Retries: flow.Ptr(0)}, flow.EventTrigger("test/handler-panics"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				explode("handler went bang")
				return nil, nil
			})
		require.NoError(t, err)
	})

	check := func(msg, value string) {
		t.Helper()
		require.Contains(t, msg, value)
		require.Contains(t, msg, "flow_test.explode", "the frame that panicked")
		require.Contains(t, msg, "panic_test.go:", "with its file and line")
		require.NotContains(t, msg, "goroutine ", "not the whole stack")
		require.NotContains(t, msg, "runtime/debug", "not the recovering frames")
		require.NotContains(t, msg, "runtime.gopanic", "not the runtime's frames")
		require.LessOrEqual(t, strings.Count(msg, "\n"), 8, "a few lines: %s", msg)
	}
	run := awaitOnly(t, c, flow.Event{Name: "test/step-panics"})
	require.Equal(t, flow.RunFailed, run.Status)
	check(stepByID(t, run, "boom").Error, "step went bang")
	require.Len(t, stepMsgs.get(), 1)
	check(stepMsgs.get()[0], "step went bang")

	run = awaitOnly(t, c, flow.Event{Name: "test/handler-panics"})
	require.Equal(t, flow.RunFailed, run.Status)
	check(run.Error, "handler went bang")
}
