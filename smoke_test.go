package flow_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

func TestSmoke(t *testing.T) {
	t.Parallel()
	type in struct{ Name string }

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "hello"}, flow.EventTrigger("test/hello"),
			func(ctx context.Context, input flow.Input[in]) (any, error) {
				a, err := flow.Step(ctx, "a", func(ctx context.Context) (string, error) { return "hi " + input.Event.Data.Name, nil })
				if err != nil {
					return nil, err
				}
				if err := flow.Sleep(ctx, "nap", 50*time.Millisecond); err != nil {
					return nil, err
				}
				return a + "!", nil
			})
		require.NoError(t, err)
	})
	run := awaitOnly(t, c, flow.Event{Name: "test/hello", Data: in{Name: "bob"}})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	var out string
	require.NoError(t, run.DecodeOutput(&out))
	require.Equal(t, "hi bob!", out)
	require.Len(t, run.Steps, 2)
}
