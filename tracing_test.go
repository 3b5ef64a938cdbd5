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

// TestTracingSenderSpanIsParentOfRun: the span in the context of the call
// that sent the event (Send here, from a client that only sends and has no
// TracerProvider: the trace context goes through the database) is the
// parent of every segment span of the run it started, also of the segment
// after a sleep, so that one trace goes from the sender to every step. The
// same holds for StartFunction.
func TestTracingSenderSpanIsParentOfRun(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	cfg := testConfig()
	cfg.TracerProvider = tp
	pool := flowtest.Pool(t)
	var fn *flow.Function
	c := flowtest.ClientOn(t, pool, cfg, func(c *flow.Client) {
		var err error
		fn, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "traced-send"}, flow.EventTrigger("test/traced-send"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				if _, err := flow.Step(ctx, "before", func(context.Context) (int, error) { return 1, nil }); err != nil {
					return nil, err
				}
				if err := flow.Sleep(ctx, "nap", 10*time.Millisecond); err != nil {
					return nil, err
				}
				return flow.Step(ctx, "after", func(context.Context) (int, error) { return 2, nil })
			})
		require.NoError(t, err)
	})
	sender := newClient(t, pool, nil)
	ctx := testCtx(t)

	reqCtx, request := tp.Tracer("app").Start(ctx, "POST /signup")
	ids, err := sender.Send(reqCtx, flow.Event{Name: "test/traced-send"})
	require.NoError(t, err)
	request.End()
	runs, err := c.ListRuns(ctx, flow.RunFilter{EventID: ids[0]})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	run, err := c.AwaitRun(ctx, runs[0].ID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)

	startCtx, starter := tp.Tracer("app").Start(ctx, "POST /start")
	startedID, err := c.StartFunction(startCtx, fn, map[string]any{})
	require.NoError(t, err)
	starter.End()
	started, err := c.AwaitRun(ctx, startedID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, started.Status, started.Error)

	segmentsOf := func(runID string) []sdktrace.ReadOnlySpan {
		var out []sdktrace.ReadOnlySpan
		for _, s := range rec.Ended() {
			for _, kv := range s.Attributes() {
				if s.Name() == "flow.run traced-send" && kv.Key == "flow.run_id" && kv.Value.AsString() == runID {
					out = append(out, s)
				}
			}
		}
		return out
	}
	for runID, parent := range map[string]sdktrace.ReadOnlySpan{run.ID: spanNamed(t, rec, "POST /signup"), started.ID: spanNamed(t, rec, "POST /start")} {
		var segments []sdktrace.ReadOnlySpan
		require.Eventually(t, func() bool {
			segments = segmentsOf(runID)
			return len(segments) == 2
		}, 10*time.Second, 5*time.Millisecond, "both segments' spans end: before and after the sleep")
		for _, s := range segments {
			require.Equal(t, parent.SpanContext().TraceID(), s.SpanContext().TraceID(), "one trace from the sender to the run")
			require.Equal(t, parent.SpanContext().SpanID(), s.Parent().SpanID(), "the sender's span is the segment's parent")
			require.True(t, s.Parent().IsRemote(), "the parent came through the database")
		}
		steps := 0
		for _, s := range rec.Ended() {
			if (s.Name() == "flow.step before" || s.Name() == "flow.step after") && hasParent(s, segments) {
				steps++
				require.Equal(t, parent.SpanContext().TraceID(), s.SpanContext().TraceID())
			}
		}
		require.Equal(t, 2, steps, "both steps in the sender's trace")
	}
}

// A run sent from a context with no span starts its own trace.
func TestTracingNoSenderSpan(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	cfg := testConfig()
	cfg.TracerProvider = tp
	c := flowtest.ClientOn(t, flowtest.Pool(t), cfg, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "traced-root"}, flow.EventTrigger("test/traced-root"),
			func(ctx context.Context, in flow.Input[any]) (any, error) { return nil, nil })
		require.NoError(t, err)
	})
	run := awaitOnly(t, c, flow.Event{Name: "test/traced-root"})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	var segment sdktrace.ReadOnlySpan
	require.Eventually(t, func() bool {
		for _, s := range rec.Ended() {
			if s.Name() == "flow.run traced-root" {
				segment = s
				return true
			}
		}
		return false
	}, 10*time.Second, 5*time.Millisecond)
	require.False(t, segment.Parent().IsValid(), "a root span")
}

func spanNamed(t *testing.T, rec *tracetest.SpanRecorder, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	for _, s := range rec.Ended() {
		if s.Name() == name {
			return s
		}
	}
	t.Fatalf("no span %q", name)
	return nil
}
