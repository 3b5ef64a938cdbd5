package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow/internal/dbsqlc"
)

// Step runs fn once per run and remembers its result: when the run replays,
// Step returns the stored result without calling fn. id names the step
// within the run; a repeated id (in a loop) gets a deterministic suffix
// (":1", ":2", ...), the first that no earlier step of the run has, so that
// it never takes the ID of a step named "id:1" explicitly. The result is
// stored as JSON and returned decoded from it, on the first execution as on
// replays; a stored result never changes.
//
// id must be non-empty UTF-8 text, without NUL bytes, of at most
// MaxStepIDBytes: any other fails the step at once with an error wrapping
// ErrInvalidStepID (this holds for every kind of step). A result the
// database refuses to store (such as a string holding "\u0000", which jsonb
// cannot) fails the step without retries, with the database's message.
//
// If fn returns an error (or panics), the step is retried with backoff, up to
// FunctionOpts.Retries more times, in later executions of the run; wrap the
// error with NonRetriable to fail at once, or RetryAfter to choose the delay.
// Once the step has failed for good, Step returns a *StepError, which the
// function may handle. Any other error Step returns (the run is suspending)
// must be returned by the function unchanged.
func Step[T any](ctx context.Context, id string, fn func(ctx context.Context) (T, error)) (T, error) {
	var zero T
	s, err := segmentFrom(ctx)
	if err != nil {
		return zero, err
	}
	sid, st, seq, err := s.begin(ctx, id, kindRun)
	if err != nil {
		return zero, err
	}
	attempts, done, val, err := replayStep[T](s, st)
	if done {
		return val, err
	}
	rec := stepRecord{id: sid, seq: seq, kind: kindRun, attempts: attempts + 1, startedAt: time.Now()}
	sctx, span := s.startStepSpan(ctx, sid, kindRun, rec.attempts)
	val, runErr := callStep(sctx, s, sid, fn)
	if s.ctx.Err() != nil {
		err := s.markLostOrInterrupted(sid, context.Cause(s.ctx))
		endStepSpan(span, "interrupted", context.Cause(s.ctx))
		return zero, err
	}
	if runErr == nil {
		var out []byte
		if out, runErr = s.encodeOutput(sid, val); runErr == nil {
			now := time.Now()
			rec.status, rec.output, rec.endedAt = stepCompleted, out, &now
			err := s.saveFenced(rec)
			switch {
			case IsSuspend(err):
				endStepSpan(span, "lost", nil)
				return zero, err
			case err != nil:
				// The database refuses the result for good: running the
				// step again would give it the same.
				rec.endedAt = nil
				runErr = NonRetriable(err)
			}
			if runErr == nil {
				endStepSpan(span, stepCompleted, nil)
				return decodeOutput[T](s, sid, out)
			}
		}
	}
	err = s.stepFailed(ctx, rec, runErr)
	endStepSpan(span, stepStatusOf(err), runErr)
	return zero, err
}

// stepStatusOf names the outcome of a failed step attempt, for its span.
func stepStatusOf(err error) string {
	if IsSuspend(err) {
		return stepErrored // a retry is scheduled
	}
	return stepFailed
}

// StepTx is Step for work in the database: fn's writes in tx and the step's
// stored result commit in one transaction, so the step's database effects
// happen exactly once. If fn returns an error, tx is rolled back and the
// step is retried as Step's is. fn must not commit or roll back tx.
func StepTx[T any](ctx context.Context, id string, fn func(ctx context.Context, tx pgx.Tx) (T, error)) (T, error) {
	var zero T
	s, err := segmentFrom(ctx)
	if err != nil {
		return zero, err
	}
	sid, st, seq, err := s.begin(ctx, id, kindRun)
	if err != nil {
		return zero, err
	}
	attempts, done, val, err := replayStep[T](s, st)
	if done {
		return val, err
	}
	rec := stepRecord{id: sid, seq: seq, kind: kindRun, attempts: attempts + 1, startedAt: time.Now()}
	var out []byte
	var stepErr error // the user's failure, as opposed to a lost or broken transaction
	sctx, span := s.startStepSpan(ctx, sid, kindRun, rec.attempts)
	defer func() { endStepSpan(span, rec.status, stepErr) }()
	rec.status = "lost"
	txErr := pgx.BeginFunc(context.WithoutCancel(ctx), s.c.pool, func(tx pgx.Tx) error {
		if err := s.fence(ctx, tx); err != nil {
			return err
		}
		fenced := time.Now()
		val, err := callStep(sctx, s, sid, func(ctx context.Context) (T, error) { return fn(ctx, tx) })
		if err == nil {
			out, err = s.encodeOutput(sid, val)
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
		return zero, s.markLostOrInterrupted(sid, context.Cause(s.ctx))
	case stepErr != nil:
		return zero, s.stepFailed(ctx, rec, stepErr)
	case txErr != nil:
		return zero, s.txFailed(ctx, rec, txErr)
	}
	return decodeOutput[T](s, sid, out)
}

// replayStep returns a stored step's outcome (done) when it completed or
// failed for good; otherwise the attempts it has used so far.
func replayStep[T any](s *segment, st *dbsqlc.FlowStep) (attempts int32, done bool, val T, err error) {
	if st == nil {
		return 0, false, val, nil
	}
	switch st.Status {
	case stepCompleted:
		val, err = decodeOutput[T](s, st.ID, st.Output)
		return st.Attempts, true, val, err
	case stepFailed:
		return st.Attempts, true, val, s.storedStepError(st)
	}
	return st.Attempts, false, val, nil
}

// callStep calls a step's function, turning a panic into an error that
// keeps the panic's value and top frames; the log gets the whole stack.
func callStep[T any](ctx context.Context, s *segment, sid string, fn func(ctx context.Context) (T, error)) (val T, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.c.cfg.Logger.WarnContext(ctx, "flow: step panicked", "run_id", s.run.ID, "step_id", sid,
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fmt.Errorf("flow: step %q panicked: %v%s", sid, r, panicFrames())
		}
	}()
	return fn(context.WithValue(ctx, inStepKey{}, sid))
}

func (s *segment) encodeOutput(sid string, val any) ([]byte, error) {
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

func decodeOutput[T any](s *segment, sid string, out []byte) (T, error) {
	var v T
	if len(out) == 0 {
		return v, nil
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return v, NonRetriable(fmt.Errorf("flow: run %s: decode stored result of step %q into %T: %w", s.run.ID, sid, v, err))
	}
	return v, nil
}

// txFailed handles the failure of a step's own transaction (StepTx,
// SendEvent) other than the step's function's error: the run was lost or a
// final row would have been replaced (see markLostOrInterrupted); the
// database was out of reach (an interruption: the commit may have happened,
// and the replay finds out); the database refused a statement for good (the
// step fails, without retries); or another error (nothing committed: a
// failed attempt, retried).
func (s *segment) txFailed(ctx context.Context, rec stepRecord, txErr error) error {
	switch {
	case errors.Is(txErr, errLost), errors.Is(txErr, errStepFinal), isTransientDBError(txErr):
		return s.markLostOrInterrupted(rec.id, txErr)
	case isPermanentDBError(txErr):
		return s.stepFailed(ctx, rec, NonRetriable(withDBDetail(txErr)))
	}
	return s.stepFailed(ctx, rec, txErr)
}
