package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/riverflow/flow/internal/riverjob"
	"github.com/riverflow/flow/internal/store"
)

// Pausing a function (PauseFunction, ResumeFunction). The pause is one row
// in flow_function_pause, so every process sees it at its next claim:
//
//   - A claim (RunStart, RunStartSlotted) refuses a run of a paused function;
//     the refused job then holds the run (holdPaused: RunHoldPaused): one
//     generation on, with a pending job, its status and place kept, marked
//     paused_at. Nothing starts it but ResumeFunction, or the waker at its
//     earliest timeout, which cancels it (timeouts still apply while paused).
//     Events are stored and their runs created as usual: they are queued runs
//     that their first claim holds. Sleeping and waiting runs become due as
//     usual and are held by the claim of their continuation.
//   - A segment executing when the pause commits stops at its next step
//     boundary: the statement that stores a step's result also reports the
//     pause (StepSaveFenced, StepSaveCompletedMany), and the segment then
//     suspends as queued, due at once (stopForPause), so that its next claim
//     holds it; the stored steps are kept and replayed on resume.
//   - RunHoldPaused locks the pause row FOR SHARE until it commits, and
//     ResumeFunction deletes it, which waits for those holds and makes any
//     later claim find the function unpaused; the same transaction then makes
//     every held run's job available at the run's order time (RunResumeHeld),
//     so River fetches them oldest first, priority respected; a run that needs
//     a concurrency slot goes back in its key's line instead (by order time,
//     as a parked run), so that the runs do not race for the free slots. No
//     run is held after its function was resumed.
//   - Cron ticks of a paused function are skipped (cron.go), as Inngest does.

// PauseFunction pauses function id in every process. It returns false if the
// function was paused already. A function neither registered nor defined on
// this client is ErrNotFound.
func (c *Engine) PauseFunction(ctx context.Context, id string) (bool, error) {
	if id == "" {
		return false, fmt.Errorf("%w: a function ID is required", ErrNotFound)
	}
	known, paused, err := c.store.PauseFunction(ctx, c.pool, id, c.function(id) != nil)
	if err != nil {
		return false, fmt.Errorf("flow: pause function %q: %w", id, SchemaError(err))
	}
	if !known {
		return false, fmt.Errorf("%w: function %q", ErrNotFound, id)
	}
	if paused {
		c.cfg.Logger.InfoContext(ctx, "flow: function paused", "function_id", id)
	}
	return paused, nil
}

// ResumeFunction resumes function id and hands the runs its pause held back
// to River, oldest first. It returns how many runs it handed back, and false
// if the function was not paused. An unknown function is ErrNotFound.
func (c *Engine) ResumeFunction(ctx context.Context, id string) (int, bool, error) {
	if id == "" {
		return 0, false, fmt.Errorf("%w: a function ID is required", ErrNotFound)
	}
	var (
		known, resumed bool
		n              int
	)
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		var err error
		known, resumed, err = c.store.ResumeFunction(ctx, tx, id, c.function(id) != nil)
		if err != nil || !resumed {
			return err
		}
		n, err = c.store.ResumeHeldRuns(ctx, tx, id, slotRecheck)
		return err
	})
	if err != nil {
		return 0, false, fmt.Errorf("flow: resume function %q: %w", id, SchemaError(err))
	}
	if !known {
		return 0, false, fmt.Errorf("%w: function %q", ErrNotFound, id)
	}
	if resumed {
		c.cfg.Logger.InfoContext(ctx, "flow: function resumed", "function_id", id, "runs", n)
	}
	return n, resumed, nil
}

// PausedFunctions returns the paused functions with when each was paused.
func (c *Engine) PausedFunctions(ctx context.Context) (map[string]time.Time, error) {
	m, err := c.store.PausedFunctions(ctx, c.pool)
	if err != nil {
		return nil, fmt.Errorf("flow: list paused functions: %w", SchemaError(err))
	}
	return m, nil
}

// errNotHeld rolls back a hold that found the function not paused.
var errNotHeld = errors.New("flow: function not paused")

// holdPaused holds the run of job if its claim was refused because its
// function is paused, and reports whether it did. A run whose timeout
// passed is cancelled instead. A function that is not paused costs one
// probe of flow_function_pause.
func (c *Engine) holdPaused(ctx context.Context, job *river.Job[runArgs], startTimeout time.Duration) (bool, error) {
	if _, err := c.store.FunctionPausedAt(ctx, c.pool, job.Args.FunctionID); errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("flow: run %s: look up its function's pause: %w", job.Args.RunID, err)
	}
	var (
		held   store.HeldRun
		reason string
	)
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		next := runArgs{RunID: job.Args.RunID, Gen: job.Args.Gen + 1, FunctionID: job.Args.FunctionID, Slots: job.Args.Slots}
		jobID, err := c.jobs.InsertTx(ctx, tx, next, riverjob.Start{Pending: true})
		if err != nil {
			return fmt.Errorf("insert the held run's job: %w", err)
		}
		held, err = c.store.HoldPausedRun(ctx, tx, store.HoldParams{
			Run: store.RunRef{ID: job.Args.RunID, Gen: job.Args.Gen}, FunctionID: job.Args.FunctionID,
			JobID: jobID, StartTimeout: startTimeout,
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return errNotHeld
		}
		if err != nil {
			return err
		}
		switch {
		case held.DeadlineAt != nil && !time.Now().Before(*held.DeadlineAt):
			reason = "finish timeout: Timeouts.Finish passed while its function was paused"
		case held.NeverStarted && startTimeout > 0 && held.QueuedFor > startTimeout:
			reason = fmt.Sprintf("start timeout: queued for %s (its function paused), over Timeouts.Start %s",
				held.QueuedFor.Round(time.Millisecond), startTimeout)
		default:
			return nil
		}
		_, err = c.cancelRun(ctx, tx, job.Args.RunID, reason, nil)
		return err
	})
	if errors.Is(err, errNotHeld) {
		return false, nil // resumed meanwhile, or a stale job: the usual refusal
	}
	if err != nil {
		return true, fmt.Errorf("flow: hold run %s of paused function %q: %w", job.Args.RunID, job.Args.FunctionID, err)
	}
	if held.Slotted {
		// It left the line for a slot: wake the runs behind it if a slot is free.
		if err := c.wakeSlotWaiters(ctx, c.pool, job.Args.RunID); err != nil {
			c.resumer.addSlotWake(job.Args.RunID)
		}
	}
	if reason != "" {
		c.cfg.Logger.InfoContext(ctx, "flow: run cancelled", "run_id", job.Args.RunID, "function_id", job.Args.FunctionID, "reason", reason)
		return true, nil
	}
	if held.WakeAt != nil {
		c.waker.wakeAt(*held.WakeAt)
	}
	c.cfg.Logger.DebugContext(ctx, "flow: run held: its function is paused", "run_id", job.Args.RunID, "function_id", job.Args.FunctionID)
	return true, nil
}

// stopForPause makes the segment stop at its next step boundary: a step
// stored while the run's function is paused (store.SavePaused). The run
// suspends as queued and due, so that its next claim holds it (holdPaused);
// the steps stored so far are replayed when the function resumes.
func (s *Segment) stopForPause() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return
	}
	s.stopping = true
	now := time.Now()
	s.pending = append(s.pending, suspension{retry: true, wakeAt: &now})
}
