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
		if err := c.confirmFunctions(ctx, ids); err != nil {
			c.cfg.Logger.WarnContext(ctx, "flow: confirm registered functions", "error", err)
		}
	}
}

// heartbeatTimeout bounds one confirmation.
const heartbeatTimeout = 5 * time.Second

// confirmFunctions runs one confirmation to its end even when ctx is
// cancelled meanwhile (bounded by heartbeatTimeout): a statement cut off by
// a cancel could still commit on the server after Stop returned, and a
// stopped client must not confirm anything.
func (c *Engine) confirmFunctions(ctx context.Context, ids []string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), heartbeatTimeout)
	defer cancel()
	return c.store.HeartbeatFunctions(ctx, ids)
}
