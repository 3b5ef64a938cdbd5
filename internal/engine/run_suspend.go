package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverflow/flow/internal/dberr"
	"github.com/riverflow/flow/internal/riverjob"
	"github.com/riverflow/flow/internal/store"
)

// suspend pauses the run until the earliest wake time of its pending
// suspensions (or until an event, child run or waker makes it runnable).
func (s *Segment) suspend(ctx context.Context, pending []suspension, attempt int32) error {
	var wake *time.Time
	status := RunSleeping
	allRetries := true
	for _, p := range pending {
		if p.wakeAt != nil && (wake == nil || p.wakeAt.Before(*wake)) {
			wake = p.wakeAt
		}
		if p.wait {
			status = RunWaiting
		}
		if !p.retry {
			allRetries = false
		}
	}
	if allRetries {
		status = RunQueued
	}
	if d := s.run.DeadlineAt; d != nil && (wake == nil || d.Before(*wake)) {
		wake = d // wake at the deadline, to be cancelled
	}
	now := time.Now()
	var start riverjob.Start
	runWake := wake
	switch {
	case wake == nil:
		start.Pending = true // only an event or a child run wakes it
	case wake.After(now):
		start.At = *wake // River's scheduler is the fallback; the waker is on time
	default:
		runWake = nil // due already: available now
	}
	var waiters bool // runs wait for the slots this suspend frees
	err := pgx.BeginFunc(ctx, s.c.pool, func(tx pgx.Tx) error {
		if err := s.fence(ctx, tx); err != nil {
			return err
		}
		var resumeOf []string
		for _, p := range pending {
			if p.save != nil {
				if err := p.save(ctx, tx); err != nil {
					return err
				}
			}
			if p.resumeOf != "" {
				resumeOf = append(resumeOf, p.resumeOf)
			}
			if p.due != nil && *p.due {
				start, runWake = riverjob.Start{}, nil
			}
		}
		if len(resumeOf) > 0 {
			// A step this segment found waiting was resolved meanwhile
			// (senders skip no open run): resume at once.
			n, err := s.c.store.CountResolvedSteps(ctx, tx, s.run.ID, resumeOf)
			if err != nil {
				return err
			}
			if n > 0 {
				start, runWake = riverjob.Start{}, nil
			}
		}
		jobID, err := s.c.jobs.InsertTx(ctx, tx, runArgs{RunID: s.run.ID, Gen: s.run.Gen + 1, FunctionID: s.fn.id, Slots: s.run.Slotted, TraceParent: s.job.Args.TraceParent}, start)
		if err != nil {
			return fmt.Errorf("insert continuation job: %w", err)
		}
		// River completes this segment's job itself once Work returns: the
		// continuation does not wait for that, and the gen fence makes the
		// old job harmless whatever becomes of it.
		waiters, err = s.c.store.SuspendRun(ctx, tx, store.Suspend{
			Run: store.RunRef{ID: s.run.ID, Gen: s.run.Gen}, Status: string(status), JobID: jobID, WakeAt: runWake, Attempt: attempt,
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return errLost
		}
		return err
	})
	switch {
	case errors.Is(err, errLost):
		return nil
	case errors.Is(err, errStepFinal), dberr.IsPermanent(err):
		// Suspending again would meet the same refusal: fail the run.
		s.c.cfg.Logger.ErrorContext(ctx, "flow: run fails: its suspend was refused", "run_id", s.run.ID, "error", err)
		s.dropDeferred()
		return s.finish(ctx, RunFailed, nil, fmt.Sprintf("flow: suspend run %s: %v", s.run.ID, dberr.WithDetail(err)))
	case err != nil:
		err = fmt.Errorf("flow: suspend run %s: %w", s.run.ID, err)
		s.c.cfg.Logger.WarnContext(ctx, "flow: run interrupted; River retries its segment", "run_id", s.run.ID, "error", err)
		return err
	}
	if waiters {
		s.releaseSlots(ctx)
	}
	s.outcome = "suspended:" + string(status)
	if runWake != nil {
		s.c.waker.wakeAt(*runWake)
	}
	for _, p := range pending {
		if p.after != nil {
			p.after(ctx)
		}
	}
	s.c.cfg.Logger.DebugContext(ctx, "flow: run suspended", "run_id", s.run.ID, "status", status, "wake_at", runWake)
	return nil
}
