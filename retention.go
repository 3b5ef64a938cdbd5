package flow

import "context"

// DeleteExpired deletes ended runs and events older than
// Config.RetentionPeriod now, and stored realtime messages older than 24
// hours (or RetentionPeriod, if shorter), and returns how many runs it deleted. Started
// clients call it every few minutes; call it yourself to clean up sooner or
// from a process that does not start a client. It does nothing when
// RetentionPeriod is negative.
func (c *Client) DeleteExpired(ctx context.Context) (int64, error) {
	return c.e.DeleteExpired(ctx)
}
