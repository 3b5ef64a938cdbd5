package flow

import (
	"context"
	"errors"
)

// Rerun starts a new run of a run's function with the same triggering
// event, from the top, and returns the new run's ID. The original run is
// left as it is (it may still be running).
func (c *Client) Rerun(ctx context.Context, runID string) (string, error) {
	return c.e.Rerun(ctx, runID, "")
}

// RerunFrom starts a new run of a run's function with the same triggering
// event in which the steps recorded before stepID keep their stored results:
// the new run replays them and executes stepID and everything after it
// again. stepID must be a step of the run (as shown in Run.Steps).
func (c *Client) RerunFrom(ctx context.Context, runID, stepID string) (string, error) {
	if stepID == "" {
		return "", errors.New("flow: RerunFrom: empty step ID")
	}
	return c.e.Rerun(ctx, runID, stepID)
}
