package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/riverflow/flow/internal/store"
)

// recorder is what the engine records for its metrics (docs/metrics.md).
// The engine holds nil when Config.MeterProvider is nil: each call site is
// then a nil check and nothing more. Attributes are bounded: a function ID,
// a status, an outcome, a state or a reason; never a run or step ID.
type recorder interface {
	// runStarted: the first segment of a run of fn claimed it.
	runStarted(fn string)
	// runEnded: a run of fn ended with status.
	runEnded(fn string, status RunStatus)
	// stepAttempt: an attempt of a step of fn ended with outcome after d.
	stepAttempt(fn, outcome string, d time.Duration)
	// queueLag: a segment of fn started lag after its job became runnable.
	queueLag(fn string, lag time.Duration)
	// wakeLate: the waker made a suspended run of fn runnable late seconds
	// after its wake time.
	wakeLate(fn string, late float64)
	// takeover: a run of fn was handed to a new job, for reason.
	takeover(fn, reason string)
	// observe starts the backlog gauges' collection; the returned function
	// stops it.
	observe(s *store.Store) (stop func(), err error)
}

// Reasons of a takeover (flow.run.takeovers).
const (
	takeoverLeaseLapsed = "lease_lapsed" // the executing process stopped renewing its lease
	takeoverOrphaned    = "orphaned"     // the job was fetched by a process that died before its claim
	takeoverResumed     = "resumed"      // the segment was cut off by a database error in this process
)

// backlogLate is how far past its wake time a suspended run counts as late
// in flow.run.wake.late: beyond the waker's ordinary latency of a few ms.
const backlogLate = time.Second

// backlogTimeout bounds the backlog statement of one collection.
const backlogTimeout = 5 * time.Second

// Metric attribute keys.
const (
	attrMetricFunction = attribute.Key("flow.function_id")
	attrMetricStatus   = attribute.Key("flow.status")
	attrMetricOutcome  = attribute.Key("flow.outcome")
	attrMetricState    = attribute.Key("flow.state")
	attrMetricReason   = attribute.Key("flow.reason")
)

// secondsBuckets are the histograms' bucket boundaries, in seconds: from a
// millisecond (a step that only computes, a notified wake-up) to ten
// minutes (a slow HTTP call, a deep backlog).
var secondsBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// otelRecorder records the engine's metrics through an OpenTelemetry meter.
type otelRecorder struct {
	meter        metric.Meter
	runsStarted  metric.Int64Counter
	runsEnded    metric.Int64Counter
	stepAttempts metric.Int64Counter
	stepDuration metric.Float64Histogram
	queueLagHist metric.Float64Histogram
	wakeLatency  metric.Float64Histogram
	takeovers    metric.Int64Counter
	backlog      metric.Int64ObservableGauge
	wakeDue      metric.Int64ObservableGauge
	wakeLateNow  metric.Int64ObservableGauge
	logErr       func(err error)
}

// newRecorder returns the recorder of mp, or nil (no metrics) if mp is nil.
// logErr receives the errors of the backlog collection. An error says an
// instrument was refused; the recorder is usable all the same.
func newRecorder(mp metric.MeterProvider, logErr func(error)) (recorder, error) {
	if mp == nil {
		return nil, nil
	}
	m := mp.Meter(tracerName)
	r := &otelRecorder{meter: m, logErr: logErr}
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	var err error
	r.runsStarted, err = m.Int64Counter("flow.run.started", metric.WithUnit("{run}"),
		metric.WithDescription("Runs whose first segment started executing."))
	add(err)
	r.runsEnded, err = m.Int64Counter("flow.run.ended", metric.WithUnit("{run}"),
		metric.WithDescription("Runs that ended, by status: completed, failed or cancelled."))
	add(err)
	r.stepAttempts, err = m.Int64Counter("flow.step.attempts", metric.WithUnit("{attempt}"),
		metric.WithDescription("Attempts of Step and StepTx, by outcome: completed, errored (a retry follows), failed (for good), interrupted or lost."))
	add(err)
	r.stepDuration, err = m.Float64Histogram("flow.step.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of one attempt of a Step or StepTx, by outcome."),
		metric.WithExplicitBucketBoundaries(secondsBuckets...))
	add(err)
	r.queueLagHist, err = m.Float64Histogram("flow.run.queue.lag", metric.WithUnit("s"),
		metric.WithDescription("Time from a run's job becoming runnable to its segment starting."),
		metric.WithExplicitBucketBoundaries(secondsBuckets...))
	add(err)
	r.wakeLatency, err = m.Float64Histogram("flow.run.wake.latency", metric.WithUnit("s"),
		metric.WithDescription("How late the waker made a suspended run runnable, after its wake time."),
		metric.WithExplicitBucketBoundaries(secondsBuckets...))
	add(err)
	r.takeovers, err = m.Int64Counter("flow.run.takeovers", metric.WithUnit("{run}"),
		metric.WithDescription("Runs handed to a new job because their segment's process died or lost the database, by reason."))
	add(err)
	r.backlog, err = m.Int64ObservableGauge("flow.run.backlog", metric.WithUnit("{run}"),
		metric.WithDescription("Runs that have not ended, by function and state: queued, parked (for a concurrency slot), running, sleeping, waiting."))
	add(err)
	r.wakeDue, err = m.Int64ObservableGauge("flow.run.wake.due", metric.WithUnit("{run}"),
		metric.WithDescription("Suspended or delayed runs whose wake time has passed but that are not runnable yet."))
	add(err)
	r.wakeLateNow, err = m.Int64ObservableGauge("flow.run.wake.late", metric.WithUnit("{run}"),
		metric.WithDescription("Suspended or delayed runs more than a second past their wake time and not runnable yet."))
	add(err)
	if err := errors.Join(errs...); err != nil {
		// The API returns a working (if unnamed) instrument with its error:
		// the metrics go on without it.
		return r, fmt.Errorf("flow: create metrics: %w", err)
	}
	return r, nil
}

func fnAttr(fn string) metric.MeasurementOption {
	return metric.WithAttributes(attrMetricFunction.String(fn))
}

func (r *otelRecorder) runStarted(fn string) {
	r.runsStarted.Add(context.Background(), 1, fnAttr(fn))
}

func (r *otelRecorder) runEnded(fn string, status RunStatus) {
	r.runsEnded.Add(context.Background(), 1, metric.WithAttributes(
		attrMetricFunction.String(fn), attrMetricStatus.String(string(status))))
}

func (r *otelRecorder) stepAttempt(fn, outcome string, d time.Duration) {
	attrs := metric.WithAttributes(attrMetricFunction.String(fn), attrMetricOutcome.String(outcome))
	r.stepAttempts.Add(context.Background(), 1, attrs)
	r.stepDuration.Record(context.Background(), d.Seconds(), attrs)
}

func (r *otelRecorder) queueLag(fn string, lag time.Duration) {
	r.queueLagHist.Record(context.Background(), max(lag, 0).Seconds(), fnAttr(fn))
}

func (r *otelRecorder) wakeLate(fn string, late float64) {
	r.wakeLatency.Record(context.Background(), max(late, 0), fnAttr(fn))
}

func (r *otelRecorder) takeover(fn, reason string) {
	r.takeovers.Add(context.Background(), 1, metric.WithAttributes(
		attrMetricFunction.String(fn), attrMetricReason.String(reason)))
}

// observe registers the gauges' callback: one grouped statement per
// collection (MetricsRunBacklog), whatever the number of runs.
func (r *otelRecorder) observe(s *store.Store) (func(), error) {
	reg, err := r.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, backlogTimeout)
		defer cancel()
		rows, err := s.RunBacklog(ctx, backlogLate)
		if err != nil {
			err = fmt.Errorf("flow: collect the run backlog: %w", err)
			r.logErr(err)
			return err
		}
		for _, row := range rows {
			o.ObserveInt64(r.backlog, row.Runs, metric.WithAttributes(
				attrMetricFunction.String(row.FunctionID), attrMetricState.String(row.State)))
			if row.State == "running" {
				continue // a running run's wake time is not a wake-up
			}
			attrs := metric.WithAttributes(attrMetricFunction.String(row.FunctionID), attrMetricState.String(row.State))
			o.ObserveInt64(r.wakeDue, row.Due, attrs)
			o.ObserveInt64(r.wakeLateNow, row.Late, attrs)
		}
		return nil
	}, r.backlog, r.wakeDue, r.wakeLateNow)
	if err != nil {
		return nil, fmt.Errorf("flow: register the backlog metrics: %w", err)
	}
	return func() { _ = reg.Unregister() }, nil
}

// recordClaim records a claimed segment: the run's start, if this is its
// first segment, and its queue lag, from the time River's job became
// runnable (its scheduled_at: when it was inserted or woken; for a run a
// freed concurrency slot woke, its place in line) to now.
func (c *Engine) recordClaim(job *river.Job[runArgs], row *store.ClaimedRun) {
	if row.FirstSegment {
		c.metrics.runStarted(row.FunctionID)
	}
	c.metrics.queueLag(row.FunctionID, time.Since(job.ScheduledAt))
}
