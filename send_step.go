package flow

import "context"

// SendEvent sends events from inside a run, exactly once: the events and the
// step's record commit in one transaction, so a replay or a retry never sends
// them again. It returns the stored events' IDs. Invalid events fail the
// step without retries.
func SendEvent(ctx context.Context, id string, events ...Event) ([]string, error) {
	s, err := segmentFrom(ctx)
	if err != nil {
		return nil, err
	}
	return s.SendEvent(ctx, id, func() ([]preparedEvent, error) { return s.c.prepareEvents(events) })
}
