package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow/internal/dberr"
	"github.com/riverflow/flow/internal/store"
)

// RunID returns the ID of the run the segment executes.
func (s *Segment) RunID() string { return s.run.ID }

// MaxEventBytes returns Config.MaxEventBytes, the limit SendEvent's shell
// checks its events against.
func (s *Segment) MaxEventBytes() int { return s.c.cfg.MaxEventBytes }

// Step runs fn once per run and remembers its result (see the root Step).
// It returns the step's stored JSON result and its stored step ID (for the
// caller's decode errors), or the step's error: a *StepError once the step
// has failed for good, or another error the function must return unchanged.
// With a *StepError it also returns the JSON value fn returned with its last
// error, when one was stored (see failedValue). fn returns the step's value;
// Step encodes it.
func (s *Segment) Step(ctx context.Context, id string, fn func(ctx context.Context) (any, error)) ([]byte, string, error) {
	sid, st, seq, err := s.begin(ctx, id, kindRun)
	if err != nil {
		return nil, "", err
	}
	attempts, done, out, err := s.replayStep(st)
	if done {
		return out, sid, err
	}
	rec := stepRecord{id: sid, seq: seq, kind: kindRun, attempts: attempts + 1, startedAt: time.Now()}
	sctx, span := s.startStepSpan(ctx, sid, kindRun, rec.attempts)
	val, runErr := callStep(sctx, s, sid, fn)
	failed := failedValue{val: val, ok: runErr != nil && val != nil}
	if s.ctx.Err() != nil {
		err := s.markLostOrInterrupted(sid, context.Cause(s.ctx))
		s.endStepAttempt(span, rec.startedAt, "interrupted", context.Cause(s.ctx))
		return nil, sid, err
	}
	if runErr == nil {
		if out, runErr = s.encodeOutput(sid, val); runErr == nil {
			now := time.Now()
			rec.status, rec.output, rec.endedAt = stepCompleted, out, &now
			err := s.saveFenced(rec)
			switch {
			case IsSuspend(err):
				s.endStepAttempt(span, rec.startedAt, "lost", nil)
				return nil, sid, err
			case err != nil:
				// The database refuses the result for good: running the
				// step again would give it the same.
				rec.endedAt = nil
				runErr = NonRetriable(err)
			}
			if runErr == nil {
				s.endStepAttempt(span, rec.startedAt, stepCompleted, nil)
				return out, sid, nil
			}
		}
	}
	err = s.stepFailedWith(ctx, rec, runErr, failed)
	s.endStepAttempt(span, rec.startedAt, stepStatusOf(err), runErr)
	return stepErrorOutput(err), sid, err
}

// stepStatusOf names the outcome of a failed step attempt, for its span.
func stepStatusOf(err error) string {
	if IsSuspend(err) {
		return stepErrored // a retry is scheduled
	}
	return stepFailed
}

// StepTx is Step for work in the database (see the root StepTx): fn's
// writes in tx and the step's stored result commit in one transaction.
func (s *Segment) StepTx(ctx context.Context, id string, fn func(ctx context.Context, tx pgx.Tx) (any, error)) ([]byte, string, error) {
	sid, st, seq, err := s.begin(ctx, id, kindRun)
	if err != nil {
		return nil, "", err
	}
	attempts, done, out, err := s.replayStep(st)
	if done {
		return out, sid, err
	}
	rec := stepRecord{id: sid, seq: seq, kind: kindRun, attempts: attempts + 1, startedAt: time.Now()}
	var stepErr error // the user's failure, as opposed to a lost or broken transaction
	var failed failedValue
	sctx, span := s.startStepSpan(ctx, sid, kindRun, rec.attempts)
	defer func() { s.endStepAttempt(span, rec.startedAt, rec.status, stepErr) }()
	rec.status = "lost"
	txErr := pgx.BeginFunc(context.WithoutCancel(ctx), s.c.pool, func(tx pgx.Tx) error {
		if err := s.fence(ctx, tx); err != nil {
			return err
		}
		fenced := time.Now()
		val, err := callStep(sctx, s, sid, func(ctx context.Context) (any, error) { return fn(ctx, tx) })
		if err == nil {
			out, err = s.encodeOutput(sid, val)
		} else {
			failed = failedValue{val: val, ok: val != nil}
		}
		if err != nil {
			stepErr = err
			return err
		}
		now := time.Now()
		rec.status, rec.output, rec.endedAt = stepCompleted, out, &now
		if now.Sub(fenced) > s.c.cfg.LeaseTTL/3 {
			// The run's row was locked for the whole of fn, and lease
			// renewals skip locked rows: renew the lease before the commit,
			// or it could lapse as the lock goes.
			if err := s.fence(ctx, tx); err != nil {
				return err
			}
		}
		return s.saveTx(ctx, tx, rec)
	})
	switch {
	case s.ctx.Err() != nil:
		rec.status = "interrupted" // for the attempt's span and metrics
		return nil, sid, s.markLostOrInterrupted(sid, context.Cause(s.ctx))
	case stepErr != nil:
		err := s.stepFailedWith(ctx, rec, stepErr, failed)
		rec.status = stepStatusOf(err) // for the attempt's span and metrics
		return stepErrorOutput(err), sid, err
	case txErr != nil:
		return nil, sid, s.txFailed(ctx, rec, txErr)
	}
	return out, sid, nil
}

// replayStep returns a stored step's outcome (done) when it completed (its
// stored result) or failed for good (its *StepError, with the value stored
// beside it, if any); otherwise the attempts it has used so far.
func (s *Segment) replayStep(st *store.Step) (attempts int32, done bool, out []byte, err error) {
	if st == nil {
		return 0, false, nil, nil
	}
	switch st.Status {
	case stepCompleted:
		return st.Attempts, true, st.Output, nil
	case stepFailed:
		return st.Attempts, true, st.Output, s.storedStepError(st)
	}
	return st.Attempts, false, nil, nil
}

// callStep calls a step's function, turning a panic into an error that
// keeps the panic's value and top frames; the log gets the whole stack. A
// step a test mocked (step_mock.go) returns the mock instead.
func callStep(ctx context.Context, s *Segment, sid string, fn func(ctx context.Context) (any, error)) (val any, err error) {
	if mock, ok := s.c.mocks.lookup(s.fn.id, sid); ok {
		if mock.out == nil {
			return nil, mock.err
		}
		return mock.out, mock.err
	}
	defer func() {
		if r := recover(); r != nil {
			s.c.cfg.Logger.WarnContext(ctx, "flow: step panicked", "run_id", s.run.ID, "step_id", sid,
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fmt.Errorf("flow: step %q panicked: %v%s", sid, r, panicFrames())
		}
	}()
	return fn(context.WithValue(ctx, inStepKey{}, sid))
}

func (s *Segment) encodeOutput(sid string, val any) ([]byte, error) {
	out, err := json.Marshal(val)
	if err != nil {
		return nil, NonRetriable(fmt.Errorf("flow: step %q: encode result as JSON: %w", sid, err))
	}
	if len(out) > s.c.cfg.MaxStepOutputBytes {
		return nil, NonRetriable(fmt.Errorf("%w: step %q returned %d bytes, over the limit of %d (Config.MaxStepOutputBytes)",
			ErrStepOutputTooLarge, sid, len(out), s.c.cfg.MaxStepOutputBytes))
	}
	return out, nil
}

// txFailed handles the failure of a step's own transaction (StepTx,
// SendEvent) other than the step's function's error: the run was lost or a
// final row would have been replaced (see markLostOrInterrupted); the
// database was out of reach (an interruption: the commit may have happened,
// and the replay finds out); the database refused a statement for good (the
// step fails, without retries); or another error (nothing committed: a
// failed attempt, retried).
func (s *Segment) txFailed(ctx context.Context, rec stepRecord, txErr error) error {
	switch {
	case errors.Is(txErr, errLost), errors.Is(txErr, errStepFinal), dberr.IsTransient(txErr):
		return s.markLostOrInterrupted(rec.id, txErr)
	case dberr.IsPermanent(txErr):
		return s.stepFailed(ctx, rec, NonRetriable(dberr.WithDetail(txErr)))
	}
	return s.stepFailed(ctx, rec, txErr)
}

// stepFailed records a failed attempt of a step that has no value to keep
// (see stepFailedWith).
func (s *Segment) stepFailed(ctx context.Context, r stepRecord, cause error) error {
	return s.stepFailedWith(ctx, r, cause, failedValue{})
}

// stepFailedWith records a failed attempt of a step. It returns the
// StepError the step gives its function when the step has failed for good,
// or errSuspended when a retry is scheduled. A step that fails for good
// stores val beside its error (see storeFailedValue).
func (s *Segment) stepFailedWith(ctx context.Context, r stepRecord, cause error, val failedValue) error {
	now := time.Now()
	var wake time.Time
	if !isNonRetriable(cause) && int(r.attempts) <= s.fn.retries {
		delay, ok := retryAfterOf(cause)
		if !ok {
			delay = s.c.cfg.RetryBackoff(int(r.attempts))
		}
		wake = now.Add(delay)
		if err := checkTime(r.id, "retry time", wake); err != nil {
			cause = fmt.Errorf("%w (after: %w)", err, cause)
		}
	}
	msg := storableText(cause.Error())
	r.err = &msg
	r.output = nil
	if isNonRetriable(cause) || int(r.attempts) > s.fn.retries {
		r.status = stepFailed
		r.endedAt = &now
		if val.ok {
			if err := s.storeFailedValue(&r, &cause, val.val); err != nil {
				return err
			}
		} else if err := s.mustSave(r); err != nil {
			return err
		}
		return &StepError{RunID: s.run.ID, StepID: r.id, Message: *r.err, Attempts: int(r.attempts), output: string(r.output), cause: cause}
	}
	r.status = stepErrored
	r.wakeAt = &wake
	s.suspendFor(ctx, suspension{retry: true, wakeAt: &wake, save: func(ctx context.Context, tx pgx.Tx) error {
		return s.saveTx(ctx, tx, r)
	}})
	return errSuspended
}

func (s *Segment) storedStepError(st *store.Step) *StepError {
	e := &StepError{RunID: s.run.ID, StepID: st.ID, Attempts: int(st.Attempts), output: string(st.Output)}
	if st.Error != nil {
		e.Message = *st.Error
	}
	return e
}
