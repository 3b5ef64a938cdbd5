package engine

import (
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Config is the engine's resolved settings: the root package's flow.Config
// after its defaults and validation, with the same field names and meanings
// (see flow.Config for each).
type Config struct {
	Queue              string
	Workers            int
	Logger             *slog.Logger
	ID                 string
	FetchCooldown      time.Duration
	FetchPollInterval  time.Duration
	LeaseTTL           time.Duration
	WakePollInterval   time.Duration
	RetryBackoff       func(n int) time.Duration
	MaxStepsPerRun     int
	MaxStepOutputBytes int
	MaxEventBytes      int
	MaxExpressionCost  int
	ExternalRiver      bool
	TracerProvider     trace.TracerProvider
	MeterProvider      metric.MeterProvider
	RetentionPeriod    time.Duration
	// HeartbeatInterval is how often a started client confirms its
	// functions in the registry (not a flow.Config field: tests shorten
	// it). Zero means DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration
}

// DefaultMaxExpressionCost is the default of Config.MaxExpressionCost.
const DefaultMaxExpressionCost = defaultMaxExpressionCost
