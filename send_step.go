package flow

import (
	"context"

	"github.com/riverflow/flow/internal/engine"
)

// SendEvent sends events from inside a run, exactly once: the events and the
// step's record commit in one transaction, so a replay or a retry never sends
// them again. It returns the stored events' IDs. Invalid events fail the
// step without retries.
func SendEvent(ctx context.Context, id string, events ...Event) ([]string, error) {
	s, err := engine.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	return s.SendEvent(ctx, id, func() ([]engine.PreparedEvent, error) { return prepareEvents(events, s.MaxEventBytes()) })
}
