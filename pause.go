package flow

import (
	"context"
)

// PauseFunction pauses a function in every process that shares the
// database, at once: the pause is stored, and each claim of a run checks it.
// While a function is paused:
//
//   - its events are stored and start runs as usual, but the runs do not
//     start: they stay queued, with Run.Paused set;
//   - a run executing a step stops at its next step boundary: the step's
//     result is stored, and the run waits, queued and paused, to go on from
//     there;
//   - sleeping and waiting runs whose time comes (or whose event arrives)
//     wait too;
//   - cancellation and timeouts still apply: CancelRun and CancelOn cancel
//     a paused run, Timeouts.Finish cancels it at its deadline, and
//     Timeouts.Start counts the time a run was queued while paused;
//   - cron ticks are skipped (not fired later), as Inngest does.
//
// ResumeFunction starts the held runs again. Pausing a paused function does
// nothing. A function that is neither in the registry (a started client
// defines it) nor defined on this client is ErrNotFound.
func (c *Client) PauseFunction(ctx context.Context, id string) error {
	if err := checkFilterText("PauseFunction", "function ID", id); err != nil {
		return err
	}
	_, err := c.e.PauseFunction(ctx, id)
	return c.schemaError(ctx, err)
}

// ResumeFunction resumes a paused function: the runs its pause held are
// handed back to the workers in order, oldest first with Priority
// respected, each going on from its last stored step. Resuming a function
// that is not paused does nothing. An unknown function is ErrNotFound.
func (c *Client) ResumeFunction(ctx context.Context, id string) error {
	if err := checkFilterText("ResumeFunction", "function ID", id); err != nil {
		return err
	}
	_, _, err := c.e.ResumeFunction(ctx, id)
	return c.schemaError(ctx, err)
}
