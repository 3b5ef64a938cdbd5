package engine

import (
	"context"
	"math/rand/v2"
	"time"
)

// retentionInterval is how often a started client deletes runs and events
// past Config.RetentionPeriod.
const retentionInterval = 10 * time.Minute

// cleanRetention deletes ended runs (with their steps) and events older than
// Config.RetentionPeriod, and expired event-ID dedupe records, in small
// batches, every retentionInterval. Several clients may run it at once.
func (c *Engine) cleanRetention(ctx context.Context) {
	if c.cfg.RetentionPeriod < 0 {
		return
	}
	for {
		d := retentionInterval/2 + time.Duration(rand.Int64N(int64(retentionInterval)))
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
		if _, err := c.DeleteExpired(ctx); err != nil && ctx.Err() == nil {
			c.cfg.Logger.WarnContext(ctx, "flow: delete expired runs and events", "error", err)
		}
	}
}

// DeleteExpired deletes ended runs (flow.Client.DeleteExpired) and events older than
// Config.RetentionPeriod now, and stored realtime messages older than
// RealtimeRetention, and returns how many runs it deleted. Started
// clients call it every few minutes; call it yourself to clean up sooner or
// from a process that does not start a client. It does nothing when
// RetentionPeriod is negative.
func (c *Engine) DeleteExpired(ctx context.Context) (int64, error) {
	if c.cfg.RetentionPeriod < 0 {
		return 0, nil
	}
	if err := c.deleteExpiredRealtime(ctx); err != nil {
		return 0, err
	}
	return c.store.DeleteExpired(ctx, time.Now().Add(-c.cfg.RetentionPeriod))
}
