package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverflow/flow/internal/dberr"
	"github.com/riverflow/flow/internal/store"
	"github.com/riverqueue/river"
)

// cancelRun cancels a run in tx. self is the River job of the segment
// cancelling its own run (timeouts), completed in tx; any other job of the
// run is cancelled through River, which interrupts it if it is running.
func (c *Engine) cancelRun(ctx context.Context, tx pgx.Tx, runID, reason string, self *river.Job[runArgs]) (bool, error) {
	row, err := c.store.CancelRun(ctx, tx, runID, reason)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if row.JobID != nil && (self == nil || *row.JobID != self.ID) {
		if err := c.jobs.CancelTx(ctx, tx, *row.JobID); err != nil {
			return false, fmt.Errorf("cancel job %d: %w", *row.JobID, err)
		}
	}
	if row.Slotted {
		if err := c.wakeSlotWaiters(ctx, tx, runID); err != nil {
			return false, err
		}
	}
	if row.ParentRunID != nil && row.ParentStepID != nil {
		if err := c.resolveInvoke(ctx, tx, *row.ParentRunID, *row.ParentStepID, runID, RunCancelled, nil, &reason); err != nil {
			return false, err
		}
	}
	if err := c.emitRunEnded(ctx, tx, runEnd{
		runID: runID, functionID: row.FunctionID, eventID: row.EventID, status: RunCancelled, errMsg: reason,
	}); err != nil {
		return false, err
	}
	if c.metrics != nil {
		// Counted when the statement cancels it: a caller's transaction
		// that rolls back afterwards (CancelRunTx, SendTx with CancelOn)
		// is counted all the same.
		c.metrics.runEnded(row.FunctionID, RunCancelled)
	}
	return true, nil
}

// cancelSelf cancels the segment's own run (a timeout, a CancelOn event that
// came before the run started) and completes its job.
func (s *Segment) cancelSelf(ctx context.Context, reason string) error {
	err := pgx.BeginFunc(ctx, s.c.pool, func(tx pgx.Tx) error {
		ok, err := s.c.cancelRun(ctx, tx, s.run.ID, reason, s.job)
		if err != nil {
			return err
		}
		if !ok {
			return errLost
		}
		return nil
	})
	if errors.Is(err, errLost) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("flow: cancel run %s: %w", s.run.ID, err)
	}
	s.outcome = string(RunCancelled)
	s.c.cfg.Logger.InfoContext(ctx, "flow: run cancelled", "run_id", s.run.ID, "function_id", s.fn.id, "reason", reason)
	return nil
}

// Names of the events the library sends when a run ends (see
// flow.EventFunctionFinished and the others, which re-export them).
const (
	EventFunctionFinished  = "flow/function.finished"
	EventFunctionFailed    = "flow/function.failed"
	EventFunctionCancelled = "flow/function.cancelled"
)

// runEndedData is the data of the events sent when a run ends: flow.RunEnded
// as JSON, with the same tags (StoredEvent encodes as flow.TypedEvent does).
type runEndedData struct {
	FunctionID string          `json:"function_id"`
	RunID      string          `json:"run_id"`
	Status     RunStatus       `json:"status"`
	Output     json.RawMessage `json:"output,omitempty"`
	Error      string          `json:"error,omitempty"`
	Event      StoredEvent     `json:"event"`
}

// runEnd is a run's end, for emitRunEnded.
type runEnd struct {
	runID, functionID, eventID string
	status                     RunStatus
	output                     []byte
	errMsg                     string
	event                      *StoredEvent // the trigger, if the caller has it
	skipFinished               bool         // nobody listens for flow/function.finished
}

// emitRunEnded sends the system events for a run's end in tx. Runs started by
// system events send none, so a function triggered by them cannot loop.
func (c *Engine) emitRunEnded(ctx context.Context, tx pgx.Tx, e runEnd) error {
	ev := e.event
	if ev == nil {
		row, err := c.store.GetEvent(ctx, tx, e.eventID)
		if err != nil {
			return fmt.Errorf("load trigger of run %s: %w", e.runID, err)
		}
		ev = &StoredEvent{ID: row.ID, Name: row.Name, Data: row.Data, TS: row.Ts}
	}
	if strings.HasPrefix(ev.Name, "flow/function.") {
		return nil
	}
	var names []string
	if !e.skipFinished {
		names = append(names, EventFunctionFinished)
	}
	switch e.status {
	case RunFailed:
		names = append(names, EventFunctionFailed)
	case RunCancelled:
		names = append(names, EventFunctionCancelled)
	}
	if len(names) == 0 {
		return nil
	}
	data, err := json.Marshal(runEndedData{
		FunctionID: e.functionID, RunID: e.runID, Status: e.status, Output: e.output, Error: e.errMsg,
		Event: *ev,
	})
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	for _, name := range names {
		if _, err := c.sendPrepared(ctx, tx, PreparedEvent{Name: name, Data: data, TS: now}); err != nil {
			return fmt.Errorf("send %s: %w", name, err)
		}
	}
	return nil
}

// end closes the segment once the handler has returned: it finishes the run
// (finish), suspends it or schedules a retry of the function (suspend, which
// inserts the continuation job), or cancels it when its Timeouts.Finish has
// passed; or, when the segment lost its run, does nothing. None of these
// touches the segment's own River job: River completes it once Work returns
// nil, and retries it when end returns an error (an interruption).
func (s *Segment) end(ctx context.Context, out any, herr error) error {
	s.mu.Lock()
	s.ended = true
	lost, failErr, interrupted, pending := s.lost, s.failErr, s.interrupted, s.pending
	s.mu.Unlock()
	timedOut := errors.Is(context.Cause(s.ctx), errFinishTimeout)
	s.cancel()

	switch {
	case lost:
		return nil
	case timedOut:
		return s.cancelSelf(ctx, fmt.Sprintf("finish timeout: Timeouts.Finish %s passed", s.fn.timeouts.Finish))
	case interrupted != nil:
		s.c.cfg.Logger.WarnContext(ctx, "flow: run interrupted; River retries its segment", "run_id", s.run.ID, "error", interrupted)
		return interrupted
	case failErr != nil:
		return s.finish(ctx, RunFailed, nil, failErr.Error())
	case len(pending) > 0:
		return s.suspend(ctx, pending, s.run.Attempt)
	case herr == nil:
		body, err := json.Marshal(out)
		if err != nil {
			return s.finish(ctx, RunFailed, nil, fmt.Sprintf("flow: encode output of function %q as JSON: %v", s.fn.id, err))
		}
		if len(body) > s.c.cfg.MaxStepOutputBytes {
			return s.finish(ctx, RunFailed, nil, fmt.Sprintf("%v: the function's output is %d bytes, over the limit of %d (Config.MaxStepOutputBytes)",
				ErrStepOutputTooLarge, len(body), s.c.cfg.MaxStepOutputBytes))
		}
		return s.finish(ctx, RunCompleted, body, "")
	case errors.Is(herr, errSuspended):
		// The handler returned a suspend error with nothing pending: its
		// context ended. Let River retry; the lease hands the run on.
		return fmt.Errorf("flow: run %s interrupted: %w", s.run.ID, herr)
	}
	var stepErr *StepError
	attempt := s.run.Attempt + 1
	if errors.As(herr, &stepErr) || isNonRetriable(herr) || int(attempt) > s.fn.retries {
		return s.finish(ctx, RunFailed, nil, herr.Error())
	}
	delay, ok := retryAfterOf(herr)
	if !ok {
		delay = s.c.cfg.RetryBackoff(int(attempt))
	}
	wake := time.Now().Add(delay)
	s.c.cfg.Logger.InfoContext(ctx, "flow: function failed, retrying", "run_id", s.run.ID, "function_id", s.fn.id,
		"attempt", attempt, "retry_in", delay, "error", herr.Error())
	return s.suspend(ctx, []suspension{{retry: true, wakeAt: &wake}}, attempt)
}

// finish ends the run. A completed run with no parent and no deferred step
// records ends in one statement (RunCompleteQuiet); any other end is one
// transaction that sets the run's status, stores the deferred step records,
// resolves its parent's Invoke step if it has one and emits the run's
// system events. The run's concurrency slots are freed by the status change
// (a trigger) and their waiters woken after the commit (releaseSlots). The
// segment's River job is not part of it: River completes the job once Work
// returns. If the database refuses the end for good (an output jsonb cannot
// hold), the run fails with its message instead, rather than run again.
func (s *Segment) finish(ctx context.Context, status RunStatus, output []byte, errMsg string) error {
	errMsg = storableText(errMsg)
	err := s.finishOnce(ctx, status, output, errMsg)
	if err != nil && (dberr.IsPermanent(err) || errors.Is(err, errStepFinal)) {
		s.c.cfg.Logger.ErrorContext(ctx, "flow: run fails: its end was refused", "run_id", s.run.ID, "status", status, "error", err)
		s.dropDeferred()
		return s.finishOnce(ctx, RunFailed, nil, storableText(dberr.WithDetail(err).Error()))
	}
	if err != nil {
		s.c.cfg.Logger.WarnContext(ctx, "flow: run interrupted; River retries its segment", "run_id", s.run.ID, "error", err)
	}
	return err
}

// dropDeferred forgets the step records deferred to the segment's next
// write, when that write is the run's failure.
func (s *Segment) dropDeferred() {
	s.mu.Lock()
	s.deferred = nil
	s.mu.Unlock()
}

func (s *Segment) finishOnce(ctx context.Context, status RunStatus, output []byte, errMsg string) error {
	var errp *string
	if errMsg != "" {
		errp = &errMsg
	}
	// A completed run with no parent and no deferred rows ends in one
	// statement, the common case; no row sends us the full way.
	ended, err := s.c.store.FinishRun(ctx, store.Finish{
		Run: store.RunRef{ID: s.run.ID, Gen: s.run.Gen}, Status: string(status), Output: output, Error: errp,
		MayBeQuiet: status == RunCompleted && s.run.ParentRunID == nil && !s.hasDeferred(),
	}, func(ctx context.Context, tx pgx.Tx, e store.EndedRun) error {
		if err := s.flushDeferred(ctx, tx); err != nil {
			return err
		}
		if e.ParentRunID != nil && e.ParentStepID != nil {
			if err := s.c.resolveInvoke(ctx, tx, *e.ParentRunID, *e.ParentStepID, s.run.ID, status, output, errp); err != nil {
				return fmt.Errorf("resume parent run %s: %w", *e.ParentRunID, err)
			}
		}
		return s.c.emitRunEnded(ctx, tx, runEnd{
			runID: s.run.ID, functionID: s.fn.id, status: status, output: output, errMsg: errMsg, event: &s.event,
			skipFinished: !e.FinishedListened,
		})
	})
	switch {
	case errors.Is(err, errLost):
		return nil
	case err != nil:
		return fmt.Errorf("flow: finish run %s: %w", s.run.ID, err)
	case ended.Quiet:
		if ended.SlotWaiters {
			s.releaseSlots(ctx)
		}
		s.runEnded(status, "")
		return nil
	}
	s.releaseSlots(ctx)
	s.runEnded(status, errMsg)
	return nil
}

// runEnded records that the run ended: AwaitRun callers, the segment's span,
// the log.
func (s *Segment) runEnded(status RunStatus, errMsg string) {
	s.c.done.ended(s.run.ID)
	s.outcome = string(status)
	if s.c.metrics != nil {
		s.c.metrics.runEnded(s.fn.id, status)
	}
	level := slog.LevelDebug
	if status == RunFailed {
		level = slog.LevelWarn
		s.outcomeErr = errors.New(errMsg)
	}
	s.c.cfg.Logger.Log(context.WithoutCancel(s.ctx), level, "flow: run ended", "run_id", s.run.ID, "function_id", s.fn.id, "status", status, "error", errMsg)
}
