package engine

import (
	"context"
	"time"
)

const (
	// DefaultHeartbeatInterval is how often a started client confirms, in
	// the registry, that it still defines its functions (Config's
	// HeartbeatInterval).
	DefaultHeartbeatInterval = 30 * time.Second

	// WorkerTimeout is how long after the last confirmation a function is
	// taken to have no worker: four heartbeats, so that one slow or failed
	// update does not raise a false alarm.
	WorkerTimeout = 4 * DefaultHeartbeatInterval
)

// heartbeat confirms, every Config.HeartbeatInterval, that this started
// client defines its functions: it sets their flow_function.updated_at to
// now. Registration at Start sets it too. A function whose updated_at is
// older than WorkerTimeout has no started client defining it (the rule the
// dashboard's "no worker" warning follows).
func (c *Engine) heartbeat(ctx context.Context) {
	fns := c.sortedFunctions()
	if len(fns) == 0 {
		return
	}
	ids := make([]string, len(fns))
	for i, fn := range fns {
		ids[i] = fn.id
	}
	every := c.cfg.HeartbeatInterval
	if every <= 0 {
		every = DefaultHeartbeatInterval
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := c.store.HeartbeatFunctions(ctx, ids); err != nil && ctx.Err() == nil {
			c.cfg.Logger.WarnContext(ctx, "flow: confirm registered functions", "error", err)
		}
	}
}
