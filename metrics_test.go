package flow_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// metricsReader is an in-memory reader of a client's metrics.
type metricsReader struct {
	t      *testing.T
	reader *sdkmetric.ManualReader
}

// withMetrics gives cfg a MeterProvider whose metrics the returned reader
// collects on demand.
func withMetrics(t *testing.T, cfg *flow.Config) *metricsReader {
	reader := sdkmetric.NewManualReader()
	cfg.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	return &metricsReader{t: t, reader: reader}
}

// collect returns one collection: for each metric name, its data points as
// a map from their attributes (encoded "k=v,k=v") to the value: the sum of a
// counter, the point of a gauge, the count of a histogram's observations.
func (m *metricsReader) collect() map[string]map[string]float64 {
	m.t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(m.t, m.reader.Collect(context.Background(), &rm))
	out := map[string]map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			points := map[string]float64{}
			switch d := mt.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					points[attrsKey(p.Attributes)] = float64(p.Value)
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					points[attrsKey(p.Attributes)] = float64(p.Value)
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					points[attrsKey(p.Attributes)] = float64(p.Count)
				}
			default:
				m.t.Fatalf("metric %s: unexpected data %T", mt.Name, mt.Data)
			}
			out[mt.Name] = points
		}
	}
	return out
}

func attrsKey(s attribute.Set) string {
	return s.Encoded(attribute.DefaultEncoder())
}

// TestMetricsRunsAndSteps: after real runs, the counters say how many runs
// started and ended by status, a step's failed attempt is counted apart
// from its successful retry, every attempt has a duration, every segment a
// queue lag, and a sleep's wake-up a wake latency.
func TestMetricsRunsAndSteps(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	metrics := withMetrics(t, cfg)
	var attempts atomic.Int32
	c := flowtest.ClientOn(t, flowtest.Pool(t), cfg, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "metrics-ok"}, flow.EventTrigger("metrics/ok"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				n, err := flow.Step(ctx, "flaky", func(context.Context) (int32, error) {
					if attempts.Add(1) == 1 {
						return 0, errors.New("first attempt fails")
					}
					return 1, nil
				})
				if err != nil {
					return nil, err
				}
				if err := flow.Sleep(ctx, "nap", 10*time.Millisecond); err != nil {
					return nil, err
				}
				return n, nil
			})
		require.NoError(t, err)
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "metrics-fail"}, flow.EventTrigger("metrics/fail"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				return flow.Step(ctx, "doomed", func(context.Context) (int, error) {
					return 0, flow.NonRetriable(errors.New("no"))
				})
			})
		require.NoError(t, err)
	})
	ok := awaitOnly(t, c, flow.Event{Name: "metrics/ok"})
	require.Equal(t, flow.RunCompleted, ok.Status, ok.Error)
	failed := awaitOnly(t, c, flow.Event{Name: "metrics/fail"})
	require.Equal(t, flow.RunFailed, failed.Status)

	// A segment records its run's end just before AwaitRun hears of it.
	var got map[string]map[string]float64
	require.Eventually(t, func() bool {
		got = metrics.collect()
		return len(got["flow.run.ended"]) == 2
	}, 10*time.Second, 5*time.Millisecond, "both ends recorded")

	require.Equal(t, map[string]float64{
		"flow.function_id=metrics-fail": 1,
		"flow.function_id=metrics-ok":   1,
	}, got["flow.run.started"], "a run starts once, however many segments it has")
	require.Equal(t, map[string]float64{
		"flow.function_id=metrics-fail,flow.status=failed":  1,
		"flow.function_id=metrics-ok,flow.status=completed": 1,
	}, got["flow.run.ended"])
	require.Equal(t, map[string]float64{
		"flow.function_id=metrics-ok,flow.outcome=errored":   1,
		"flow.function_id=metrics-ok,flow.outcome=completed": 1,
		"flow.function_id=metrics-fail,flow.outcome=failed":  1,
	}, got["flow.step.attempts"], "the retried step's failed attempt counts apart from its success")
	require.Equal(t, got["flow.step.attempts"], got["flow.step.duration"], "one duration per attempt")
	// metrics-ok: the first segment, the retry's, the sleep's wake-up.
	require.Equal(t, 3.0, got["flow.run.queue.lag"]["flow.function_id=metrics-ok"])
	require.Equal(t, 1.0, got["flow.run.queue.lag"]["flow.function_id=metrics-fail"])
	// The retry's backoff and the sleep: two timed wake-ups by the waker.
	require.Equal(t, 2.0, got["flow.run.wake.latency"]["flow.function_id=metrics-ok"])
	require.Empty(t, got["flow.run.takeovers"])
}

// TestMetricsBacklogSeesSleepingRun: the backlog gauge counts a sleeping
// run under its function and state, and a run whose wake time passed
// without a waker to make it runnable as due and, a second on, late.
func TestMetricsBacklogSeesSleepingRun(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	cfg := testConfig()
	cfg.WakePollInterval = time.Hour
	metrics := withMetrics(t, cfg)
	c := flowtest.ClientOn(t, pool, cfg, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "metrics-sleeper"}, flow.EventTrigger("metrics/sleep"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				return nil, flow.Sleep(ctx, "long", time.Hour)
			})
		require.NoError(t, err)
	})
	runIDs := sendOne(t, c, flow.Event{Name: "metrics/sleep"})
	require.Len(t, runIDs, 1)
	ctx := testCtx(t)
	require.Eventually(t, func() bool {
		run, err := c.GetRun(ctx, runIDs[0])
		require.NoError(t, err)
		return run.Status == flow.RunSleeping
	}, 10*time.Second, 5*time.Millisecond)

	got := metrics.collect()
	const sleeping = "flow.function_id=metrics-sleeper,flow.state=sleeping"
	require.Equal(t, map[string]float64{sleeping: 1}, got["flow.run.backlog"])
	require.Equal(t, map[string]float64{sleeping: 0}, got["flow.run.wake.due"])
	require.Equal(t, map[string]float64{sleeping: 0}, got["flow.run.wake.late"])

	// Its wake time moved a minute into the past behind the waker's back,
	// as if every client had been down: due and late. (The waker polls
	// hourly here, and knows of no wake-up before the hour's sleep ends.)
	_, err := pool.Exec(ctx, `UPDATE flow_run SET wake_at = now() - interval '1 minute' WHERE id = $1`, runIDs[0])
	require.NoError(t, err)
	got = metrics.collect()
	require.Equal(t, map[string]float64{sleeping: 1}, got["flow.run.backlog"])
	require.Equal(t, map[string]float64{sleeping: 1}, got["flow.run.wake.due"])
	require.Equal(t, map[string]float64{sleeping: 1}, got["flow.run.wake.late"])
}

// TestMetricsTakeoverCounted: a run whose job a dead client fetched is taken
// over by a live client, and the takeover is counted with its reason.
func TestMetricsTakeoverCounted(t *testing.T) {
	t.Parallel()
	pool := recoveryPool(t, flowtest.DatabaseURL(t))
	ctx := testCtx(t)
	define := func(id string, cfg *flow.Config) *flow.Client {
		c := newClient(t, pool, cfg)
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "metrics-orphan"}, flow.EventTrigger("metrics/orphan"),
			func(ctx context.Context, in flow.Input[struct{}]) (any, error) {
				return flow.Step(ctx, "only", func(context.Context) (string, error) { return "done", nil })
			})
		require.NoError(t, err)
		return c
	}
	registrar := define("metrics-registrar", recoveryConfig("metrics-registrar", 500*time.Millisecond))
	require.NoError(t, registrar.Start(ctx))
	require.NoError(t, registrar.Stop(ctx))
	cfg := recoveryConfig("metrics-survivor", 500*time.Millisecond)
	metrics := withMetrics(t, cfg)
	c := define("metrics-survivor", cfg)

	runIDs := sendOne(t, c, flow.Event{Name: "metrics/orphan"})
	require.Len(t, runIDs, 1)
	// A client died right after River fetched the run's job (see
	// TestOrphanedJobTakenOver).
	tag, err := pool.Exec(ctx, `
		UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now(), attempted_by = ARRAY['dead-client']
		WHERE id = (SELECT job_id FROM flow_run WHERE id = $1) AND state = 'available'`, runIDs[0])
	require.NoError(t, err)
	require.EqualValues(t, 1, tag.RowsAffected())
	start(t, c)

	awaitCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	run, err := c.AwaitRun(awaitCtx, runIDs[0])
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.Equal(t, map[string]float64{"flow.function_id=metrics-orphan,flow.reason=orphaned": 1},
		metrics.collect()["flow.run.takeovers"])
}

// TestMetricsCancelCounted: a run cancelled through CancelRun counts as
// ended with status cancelled.
func TestMetricsCancelCounted(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	metrics := withMetrics(t, cfg)
	c := flowtest.ClientOn(t, flowtest.Pool(t), cfg, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "metrics-waiter"}, flow.EventTrigger("metrics/wait"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				_, err := flow.WaitForEvent[any](ctx, "never", flow.WaitOpts{Event: "metrics/never", Timeout: time.Hour})
				return nil, err
			})
		require.NoError(t, err)
	})
	runIDs := sendOne(t, c, flow.Event{Name: "metrics/wait"})
	ctx := testCtx(t)
	require.Eventually(t, func() bool {
		run, err := c.GetRun(ctx, runIDs[0])
		require.NoError(t, err)
		return run.Status == flow.RunWaiting
	}, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, map[string]float64{"flow.function_id=metrics-waiter,flow.state=waiting": 1},
		metrics.collect()["flow.run.backlog"])
	ok, err := c.CancelRun(ctx, runIDs[0])
	require.NoError(t, err)
	require.True(t, ok)
	got := metrics.collect()
	require.Equal(t, map[string]float64{"flow.function_id=metrics-waiter,flow.status=cancelled": 1}, got["flow.run.ended"])
	require.Empty(t, got["flow.run.backlog"], "no run left")
}
