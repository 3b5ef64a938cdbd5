package flowtest_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

func TestClientRunsTheTestsFunctions(t *testing.T) {
	t.Parallel()
	var attempts atomic.Int32
	c := flowtest.Client(t, &flow.Config{RetryBackoff: func(int) time.Duration { return 10 * time.Millisecond }},
		func(c *flow.Client) {
			_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "greet"}, flow.EventTrigger("test/greet"),
				func(ctx context.Context, in flow.Input[map[string]string]) (any, error) {
					return flow.Step(ctx, "compose", func(ctx context.Context) (string, error) {
						if attempts.Add(1) == 1 {
							return "", errors.New("flaky")
						}
						return "hello " + in.Event.Data["name"], nil
					})
				})
			require.NoError(t, err)
		})

	run := flowtest.RunEvent(t, c, flow.Event{Name: "test/greet", Data: map[string]string{"name": "ada"}})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	var out string
	require.NoError(t, run.DecodeOutput(&out))
	require.Equal(t, "hello ada", out)
	require.Len(t, run.Steps, 1)
	require.Equal(t, 2, run.Steps[0].Attempts, "the flaky step was retried")
}
