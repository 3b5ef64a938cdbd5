package flow

import "context"

// fillRunHistory adds what GetRun shows beyond the run's and steps' rows:
// where a rerun came from, the failed attempts of its steps, and the events
// that resumed its waits or cancelled it. Each is read only when the rows
// say there may be some.
func (c *Client) fillRunHistory(ctx context.Context, run *Run) error {
	rerunOf, fromStep, ok, err := c.store.GetRerun(ctx, run.ID)
	if err != nil {
		return err
	}
	if ok {
		run.RerunOf, run.RerunFromStep = rerunOf, fromStep
	}
	var failed, waits bool
	for _, st := range run.Steps {
		failed = failed || st.Attempts > 1 || st.Status == "errored" || st.Status == "failed"
		waits = waits || st.Kind == "wait"
	}
	byStep := make(map[string]int, len(run.Steps))
	for i, st := range run.Steps {
		byStep[st.ID] = i
	}
	if failed {
		attempts, err := c.store.ListStepAttempts(ctx, run.ID)
		if err != nil {
			return err
		}
		for _, a := range attempts {
			if i, ok := byStep[a.StepID]; ok {
				run.Steps[i].FailedAttempts = append(run.Steps[i].FailedAttempts, StepAttempt{
					Attempt: int(a.Attempt), StartedAt: a.StartedAt, EndedAt: a.EndedAt, Error: a.Error,
				})
			}
		}
	}
	if waits || run.Status == RunCancelled {
		effects, err := c.store.ListRunEffects(ctx, run.ID)
		if err != nil {
			return err
		}
		for _, f := range effects {
			if f.StepID == "" {
				run.CancelledByEvent = f.EventID
			} else if i, ok := byStep[f.StepID]; ok {
				run.Steps[i].EventID = f.EventID
			}
		}
	}
	return nil
}
