package engine

import (
	"fmt"
	"time"

	"github.com/riverflow/flow/internal/registry"
)

// Limits of the flow-control options.
const (
	maxConcurrencyLimits = 2
	maxThrottlePeriod    = 7 * 24 * time.Hour
	maxRateLimitPeriod   = 24 * time.Hour
	maxDebouncePeriod    = 7 * 24 * time.Hour
	maxBatchSize         = 1000
	maxBatchTimeout      = 24 * time.Hour
	maxPrioritySeconds   = 600
	idempotencyWindow    = 24 * time.Hour
)

// CheckControl checks each flow-control option on its own: the options of
// CreateFunction, and a config read from the registry.
func CheckControl(c *registry.Control) error {
	if len(c.Concurrency) > maxConcurrencyLimits {
		return fmt.Errorf("at most %d Concurrency limits, got %d", maxConcurrencyLimits, len(c.Concurrency))
	}
	if s := c.Singleton; s != nil && s.Mode == SingletonQueue && len(c.Concurrency) == maxConcurrencyLimits {
		return fmt.Errorf("Singleton.Mode %q waits on a concurrency key of its own: at most %d Concurrency limit beside it, got %d",
			SingletonQueue, maxConcurrencyLimits-1, len(c.Concurrency))
	}
	for i, cc := range c.Concurrency {
		if cc.Limit < 1 {
			return fmt.Errorf("Concurrency[%d].Limit must be at least 1, got %d", i, cc.Limit)
		}
		if cc.Mode != "" && cc.Mode != ConcurrencyStep && cc.Mode != ConcurrencyRun {
			return fmt.Errorf("Concurrency[%d].Mode must be %q or %q, got %q", i, ConcurrencyStep, ConcurrencyRun, cc.Mode)
		}
		if err := CheckExpression(cc.Key); err != nil {
			return fmt.Errorf("Concurrency[%d].Key: %v", i, err)
		}
	}
	if t := c.Throttle; t != nil {
		switch {
		case t.Limit < 1:
			return fmt.Errorf("Throttle.Limit must be at least 1, got %d", t.Limit)
		case t.Period <= 0 || t.Period > maxThrottlePeriod:
			return fmt.Errorf("Throttle.Period must be positive and at most %s, got %s", maxThrottlePeriod, t.Period)
		case t.Burst < 0:
			return fmt.Errorf("Throttle.Burst must not be negative, got %d", t.Burst)
		}
		if err := CheckExpression(t.Key); err != nil {
			return fmt.Errorf("Throttle.Key: %v", err)
		}
	}
	if r := c.RateLimit; r != nil {
		switch {
		case r.Limit < 1:
			return fmt.Errorf("RateLimit.Limit must be at least 1, got %d", r.Limit)
		case r.Period <= 0 || r.Period > maxRateLimitPeriod:
			return fmt.Errorf("RateLimit.Period must be positive and at most %s, got %s", maxRateLimitPeriod, r.Period)
		}
		if err := CheckExpression(r.Key); err != nil {
			return fmt.Errorf("RateLimit.Key: %v", err)
		}
	}
	if d := c.Debounce; d != nil {
		switch {
		case d.Period <= 0 || d.Period > maxDebouncePeriod:
			return fmt.Errorf("Debounce.Period must be positive and at most %s, got %s", maxDebouncePeriod, d.Period)
		case d.Timeout < 0:
			return fmt.Errorf("Debounce.Timeout must not be negative, got %s", d.Timeout)
		}
		if err := CheckExpression(d.Key); err != nil {
			return fmt.Errorf("Debounce.Key: %v", err)
		}
	}
	if b := c.Batch; b != nil {
		switch {
		case b.MaxSize < 1 || b.MaxSize > maxBatchSize:
			return fmt.Errorf("Batch.MaxSize must be between 1 and %d, got %d", maxBatchSize, b.MaxSize)
		case b.Timeout <= 0 || b.Timeout > maxBatchTimeout:
			return fmt.Errorf("Batch.Timeout must be positive and at most %s, got %s", maxBatchTimeout, b.Timeout)
		}
		if err := CheckExpression(b.Key); err != nil {
			return fmt.Errorf("Batch.Key: %v", err)
		}
	}
	if p := c.Priority; p != nil {
		if p.Run == "" {
			return fmt.Errorf("Priority.Run is empty")
		}
		if err := CheckExpression(p.Run); err != nil {
			return fmt.Errorf("Priority.Run: %v", err)
		}
	}
	if err := CheckExpression(c.Idempotency); err != nil {
		//lint:ignore ST1005 the first word is the field FunctionOpts.Idempotency, named as the user spells it, like "Batch.Key" above
		return fmt.Errorf("Idempotency: %v", err)
	}
	if s := c.Singleton; s != nil {
		if s.Mode != SingletonSkip && s.Mode != SingletonCancel && s.Mode != SingletonQueue {
			return fmt.Errorf("Singleton.Mode must be %q, %q or %q, got %q", SingletonSkip, SingletonCancel, SingletonQueue, s.Mode)
		}
		if err := CheckExpression(s.Key); err != nil {
			return fmt.Errorf("Singleton.Key: %v", err)
		}
	}
	return nil
}

// The modes of a singleton function (flow.SingletonMode's values).
const (
	SingletonSkip   = "skip"
	SingletonCancel = "cancel"
	SingletonQueue  = "queue"
)

// The modes of a concurrency limit (flow.ConcurrencyMode's values). The
// stored mode of a step-level limit is empty, as before modes existed.
const (
	ConcurrencyStep = "step"
	ConcurrencyRun  = "run"
)
