package flowtest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riverflow/flow"
)

// awaitTimeout bounds the helpers that wait for a run.
const awaitTimeout = time.Minute

// StartRun sends ev, expects it to start exactly one run, and returns that
// run's ID without waiting for it: for a run that sleeps or waits, which
// the test then drives with [AwaitSleeping], [AwaitWaiting], [Advance] and
// the events it sends, before [flow.Client.AwaitRun] returns its end.
func StartRun(tb testing.TB, c *flow.Client, ev flow.Event) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), awaitTimeout)
	defer cancel()
	id, err := startRun(ctx, c, ev)
	if err != nil {
		tb.Fatalf("flowtest: %v", err)
	}
	return id
}

func startRun(ctx context.Context, c *flow.Client, ev flow.Event) (string, error) {
	ids, err := c.Send(ctx, ev)
	if err != nil {
		return "", fmt.Errorf("send %q: %w", ev.Name, err)
	}
	runs, err := c.ListRuns(ctx, flow.RunFilter{EventID: ids[0]})
	if err != nil {
		return "", fmt.Errorf("list runs of event %s: %w", ids[0], err)
	}
	if len(runs) != 1 {
		return "", fmt.Errorf("event %q started %d runs, want 1", ev.Name, len(runs))
	}
	return runs[0].ID, nil
}

// AwaitWaiting waits (up to a minute) until the run waits in the step
// stepID (a flow.WaitForEvent, or an Invoke waiting for its child), and
// returns the run. From then on, an event the wait matches resumes the run:
// the wait was registered in the same transaction that set the run waiting.
// It fails the test if the run ends first, or goes past the step (its wait
// completed or timed out) without the helper seeing it wait there.
func AwaitWaiting(tb testing.TB, c *flow.Client, runID, stepID string) *flow.Run {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), awaitTimeout)
	defer cancel()
	run, err := awaitStep(ctx, c, runID, stepID, "waiting")
	if err != nil {
		tb.Fatalf("flowtest: AwaitWaiting: %v", err)
	}
	return run
}

// AwaitSleeping waits (up to a minute) until the run sleeps in the step
// stepID (a flow.Sleep or flow.SleepUntil), and returns the run; its step's
// WakeAt says until when. It fails the test if the run ends first, or goes
// past the step without the helper seeing it sleep there.
func AwaitSleeping(tb testing.TB, c *flow.Client, runID, stepID string) *flow.Run {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), awaitTimeout)
	defer cancel()
	run, err := awaitStep(ctx, c, runID, stepID, "sleeping")
	if err != nil {
		tb.Fatalf("flowtest: AwaitSleeping: %v", err)
	}
	return run
}

// awaitStep polls the run until its step stepID has status want ("waiting"
// or "sleeping") and the run is suspended on it.
func awaitStep(ctx context.Context, c *flow.Client, runID, stepID, want string) (*flow.Run, error) {
	kinds := map[string][]string{"waiting": {"wait", "invoke"}, "sleeping": {"sleep"}}[want]
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		run, err := c.GetRun(ctx, runID)
		if err != nil {
			return nil, fmt.Errorf("run %s: %w", runID, err)
		}
		if st := stepOf(run, stepID); st != nil {
			if !slices.Contains(kinds, st.Kind) {
				return nil, fmt.Errorf("step %q of run %s is a %s step, not one that can be %s", stepID, runID, st.Kind, want)
			}
			switch st.Status {
			case want:
				if run.Status == flow.RunSleeping || run.Status == flow.RunWaiting {
					return run, nil
				}
			case "completed", "failed", "timed_out":
				return nil, fmt.Errorf("run %s went past step %q (%s) before it was seen %s there", runID, stepID, st.Status, want)
			}
		}
		if run.Status.Ended() {
			return nil, fmt.Errorf("run %s ended as %s (%s) before it was %s in step %q", runID, run.Status, run.Error, want, stepID)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("run %s was never %s in step %q (run %s; steps %s)", runID, want, stepID, run.Status, stepList(run))
		case <-tick.C:
		}
	}
}

func stepOf(run *flow.Run, id string) *flow.RunStep {
	for i := range run.Steps {
		if run.Steps[i].ID == id {
			return &run.Steps[i]
		}
	}
	return nil
}

func stepList(run *flow.Run) string {
	if len(run.Steps) == 0 {
		return "none"
	}
	steps := make([]string, len(run.Steps))
	for i, st := range run.Steps {
		steps[i] = fmt.Sprintf("%q %s", st.ID, st.Status)
	}
	return strings.Join(steps, ", ")
}
