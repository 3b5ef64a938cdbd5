package flow_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

func TestTracingSpansPerSegmentAndStep(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	cfg := testConfig()
	cfg.TracerProvider = tp
	var failures atomic.Int32

	c := flowtest.ClientOn(t, flowtest.Pool(t), cfg, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "traced"}, flow.EventTrigger("test/traced"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				return flow.Step(ctx, "work", func(ctx context.Context) (int, error) {
					_, user := tp.Tracer("user").Start(ctx, "user-span")
					user.End()
					if failures.Add(1) == 1 {
						return 0, errors.New("first attempt fails")
					}
					return 1, nil
				})
			})
		require.NoError(t, err)
	})
	run := awaitOnly(t, c, flow.Event{Name: "test/traced"})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)

	// A segment's span ends just after the run's end is published.
	var byName map[string][]sdktrace.ReadOnlySpan
	require.Eventually(t, func() bool {
		byName = map[string][]sdktrace.ReadOnlySpan{}
		for _, s := range rec.Ended() {
			byName[s.Name()] = append(byName[s.Name()], s)
		}
		return len(byName["flow.run traced"]) == 2
	}, 10*time.Second, 5*time.Millisecond, "both segments' spans end")
	segments := byName["flow.run traced"]
	steps := byName["flow.step work"]
	users := byName["user-span"]
	require.Len(t, segments, 2, "one span per execution: the failed attempt's, then the retry's")
	require.Len(t, steps, 2, "one span per step attempt")
	require.Len(t, users, 2)

	attrs := func(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
		m := map[attribute.Key]attribute.Value{}
		for _, kv := range s.Attributes() {
			m[kv.Key] = kv.Value
		}
		return m
	}
	statuses := map[string]bool{}
	for _, s := range segments {
		a := attrs(s)
		require.Equal(t, run.ID, a["flow.run_id"].AsString())
		require.Equal(t, "traced", a["flow.function_id"].AsString())
		statuses[a["flow.status"].AsString()] = true
	}
	require.Equal(t, map[string]bool{"suspended:queued": true, "completed": true}, statuses)

	stepStatus := map[string]int64{}
	for _, s := range steps {
		a := attrs(s)
		require.Equal(t, "work", a["flow.step_id"].AsString())
		require.Equal(t, "run", a["flow.step_kind"].AsString())
		stepStatus[a["flow.status"].AsString()] = a["flow.attempt"].AsInt64()
		// The step's span is a child of its segment's span.
		require.True(t, hasParent(s, segments), "step span nests under a segment span")
	}
	require.Equal(t, map[string]int64{"errored": 1, "completed": 2}, stepStatus)
	for _, u := range users {
		require.True(t, hasParent(u, steps), "a user's span inside a step nests under the step's span")
	}
}

func hasParent(s sdktrace.ReadOnlySpan, parents []sdktrace.ReadOnlySpan) bool {
	for _, p := range parents {
		if s.Parent().SpanID() == p.SpanContext().SpanID() && s.Parent().TraceID() == p.SpanContext().TraceID() {
			return true
		}
	}
	return false
}
