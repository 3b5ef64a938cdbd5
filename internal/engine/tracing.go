package engine

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

const tracerName = "github.com/riverflow/flow"

// Span attribute keys.
const (
	attrRunID      = attribute.Key("flow.run_id")
	attrFunctionID = attribute.Key("flow.function_id")
	attrStepID     = attribute.Key("flow.step_id")
	attrStepKind   = attribute.Key("flow.step_kind")
	attrAttempt    = attribute.Key("flow.attempt")
	attrStatus     = attribute.Key("flow.status")
	attrGen        = attribute.Key("flow.segment")
)

func newTracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		return noop.NewTracerProvider().Tracer(tracerName)
	}
	return tp.Tracer(tracerName)
}

// startSegmentSpan starts the span of one execution (segment) of a run. The
// span of the call that sent the run's event (the job's TraceParent) is its
// parent, so that one trace goes from the sender (an HTTP request, say) to
// every segment and step of the run; when ctx has a span already (River's
// own middleware), that stays the parent and the sender's is a link.
func (s *Segment) startSegmentSpan(ctx context.Context) context.Context {
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attrRunID.String(s.run.ID), attrFunctionID.String(s.fn.id),
			attrGen.Int(int(s.run.Gen)), attrAttempt.Int(int(s.run.Attempt)))}
	if tp := s.job.Args.TraceParent; tp != "" && s.c.cfg.TracerProvider != nil {
		if sender := parseTraceParent(tp); sender.IsValid() {
			if trace.SpanContextFromContext(ctx).IsValid() {
				opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sender}))
			} else {
				ctx = trace.ContextWithRemoteSpanContext(ctx, sender)
			}
		}
	}
	ctx, s.span = s.c.tracer.Start(ctx, "flow.run "+s.fn.id, opts...)
	return ctx
}

// traceParentOf returns the W3C traceparent of ctx's span, for the jobs of
// the runs a send starts; nil if ctx has no valid span.
func traceParentOf(ctx context.Context) *string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return nil
	}
	tp := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + sc.TraceFlags().String()
	return &tp
}

// parseTraceParent returns the span context of a W3C traceparent, invalid
// if tp is not one.
func parseTraceParent(tp string) trace.SpanContext {
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": tp})
	return trace.SpanContextFromContext(ctx)
}

// endSegmentSpan records how the segment ended: completed, failed,
// cancelled, suspended (sleeping, waiting, queued for a retry) or lost.
func (s *Segment) endSegmentSpan(status string, err error) {
	if s.span == nil {
		return
	}
	s.span.SetAttributes(attrStatus.String(status))
	if err != nil {
		s.span.RecordError(err)
		s.span.SetStatus(codes.Error, err.Error())
	}
	s.span.End()
}

// startStepSpan starts the span of one attempt of a step; the step's
// function runs in the returned context, so its own spans nest under it.
func (s *Segment) startStepSpan(ctx context.Context, sid, kind string, attempt int32) (context.Context, trace.Span) {
	return s.c.tracer.Start(ctx, "flow.step "+sid, trace.WithAttributes(
		attrRunID.String(s.run.ID), attrFunctionID.String(s.fn.id),
		attrStepID.String(sid), attrStepKind.String(kind), attrAttempt.Int(int(attempt))))
}

// endStepSpan ends a step attempt's span with its outcome.
func endStepSpan(span trace.Span, status string, err error) {
	span.SetAttributes(attrStatus.String(status))
	if err != nil && !IsSuspend(err) {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// endStepAttempt ends the span of a step attempt that started at start and
// records the attempt's metrics (flow.step.attempts, flow.step.duration).
func (s *Segment) endStepAttempt(span trace.Span, start time.Time, status string, err error) {
	endStepSpan(span, status, err)
	if s.c.metrics != nil {
		s.c.metrics.stepAttempt(s.fn.id, status, time.Since(start))
	}
}
