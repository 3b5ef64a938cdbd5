package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow/internal/dbsqlc"
	"github.com/riverflow/flow/internal/riverjob"
)

// InvokeOpts configures Invoke.
type InvokeOpts struct {
	// Timeout bounds the wait for the child run; past it, Invoke returns a
	// *StepError wrapping ErrInvokeTimeout (the child run goes on). Zero
	// waits as long as the child runs.
	Timeout time.Duration
}

type invokeDetail struct {
	FunctionID string     `json:"function_id"`
	ChildRunID string     `json:"child_run_id"`
	Until      *time.Time `json:"until,omitempty"`
}

// Invoke runs fn as a child run with data as its event's data, and returns
// the child's output decoded into T. The parent run waits durably (holding
// no worker) and resumes when the child ends. If the child fails, Invoke
// returns a *StepError with the child's error; it is not retried. A replay
// never starts the child twice.
func Invoke[T any](ctx context.Context, id string, fn *Function, data any, opts InvokeOpts) (T, error) {
	var zero T
	s, err := segmentFrom(ctx)
	if err != nil {
		return zero, err
	}
	if fn == nil {
		return zero, NonRetriable(fmt.Errorf("flow: Invoke %q: nil function", id))
	}
	sid, st, seq, err := s.begin(ctx, id, kindInvoke)
	if err != nil {
		return zero, err
	}
	now := time.Now()
	if st != nil {
		return resumeInvoke[T](ctx, s, st, now)
	}
	body, err := json.Marshal(data)
	if err != nil {
		return zero, NonRetriable(fmt.Errorf("flow: Invoke %q: data cannot be encoded as JSON: %w", id, err))
	}
	if err := checkStorableJSON(body, isRawJSON(data)); err != nil {
		return zero, NonRetriable(fmt.Errorf("%w: Invoke %q: data: %v", ErrInvalidEvent, id, err))
	}
	var until *time.Time
	if opts.Timeout > 0 {
		t := now.Add(opts.Timeout).UTC()
		if err := checkTime(sid, "timeout", t); err != nil {
			return zero, err
		}
		until = &t
	}
	childRunID := ""
	rec := stepRecord{id: sid, seq: seq, kind: kindInvoke, status: stepWaiting, attempts: 1, wakeAt: until, startedAt: now}
	eventID := newID()
	// A concurrency key over Config.MaxExpressionCost fails the step here:
	// in the suspend transaction it would fail (and retry) the segment.
	if _, _, _, _, err := s.c.concurrencyKeysOf(fn.id, fn.control, storedEvent{ID: eventID, Name: eventInvoked, Data: body, TS: now.UTC()}); err != nil {
		rec.wakeAt = nil
		return zero, s.stepFailed(ctx, rec, NonRetriable(err))
	}
	s.suspendFor(ctx, suspension{wait: true, wakeAt: until, save: func(ctx context.Context, tx pgx.Tx) error {
		if err := s.c.q.EventInsert(ctx, tx, &dbsqlc.EventInsertParams{ID: eventID, Name: eventInvoked, Data: body, Ts: now.UTC()}); err != nil {
			return err
		}
		child, err := s.c.q.RunInsertChild(ctx, tx, &dbsqlc.RunInsertChildParams{
			FunctionID: fn.id, EventID: eventID, ParentRunID: &s.run.ID, ParentStepID: &sid,
		})
		if err != nil {
			return fmt.Errorf("start child run of %q: %w", fn.id, err)
		}
		childRunID = child
		// An invoked run takes concurrency slots like any run of its function.
		slotted, err := s.c.limitRun(ctx, tx, child, fn.id, fn.control,
			storedEvent{ID: eventID, Name: eventInvoked, Data: body, TS: now.UTC()})
		if err != nil {
			return err
		}
		if _, err := s.c.jobs.InsertTx(ctx, tx, runArgs{RunID: child, FunctionID: fn.id, Slots: slotted}, riverjob.Start{}); err != nil {
			return fmt.Errorf("insert child job: %w", err)
		}
		rec.detail, _ = json.Marshal(invokeDetail{FunctionID: fn.id, ChildRunID: childRunID, Until: until})
		return s.saveTx(ctx, tx, rec)
	}})
	return zero, errSuspended
}

// resumeInvoke returns a replayed Invoke step's outcome, or suspends again.
func resumeInvoke[T any](ctx context.Context, s *segment, st *dbsqlc.FlowStep, now time.Time) (T, error) {
	var zero T
	switch st.Status {
	case stepCompleted:
		return decodeOutput[T](s, st.ID, st.Output)
	case stepFailed:
		e := s.storedStepError(st)
		if e.Message == ErrInvokeTimeout.Error() {
			e.cause = ErrInvokeTimeout
		}
		return zero, e
	}
	// Still waiting: the child may have ended without reaching us (its end
	// found this run executing), or the timeout may have passed.
	child, err := s.c.q.RunGetChild(context.WithoutCancel(s.ctx), s.c.pool, &dbsqlc.RunGetChildParams{ParentRunID: &s.run.ID, ParentStepID: &st.ID})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return zero, s.markLostOrInterrupted(st.ID, err)
	}
	ended := err == nil && RunStatus(child.Status).Ended()
	timedOut := !ended && st.WakeAt != nil && !st.WakeAt.After(now)
	if !ended && !timedOut {
		s.suspendFor(ctx, suspension{wait: true, wakeAt: st.WakeAt, resumeOf: st.ID})
		return zero, errSuspended
	}
	rec := stepRecord{id: st.ID, seq: st.Seq, kind: kindInvoke, attempts: st.Attempts, wakeAt: st.WakeAt,
		detail: st.Detail, startedAt: st.StartedAt, endedAt: &now}
	var cause error
	switch {
	case timedOut:
		rec.status, cause = stepFailed, ErrInvokeTimeout
	case RunStatus(child.Status) == RunCompleted:
		rec.status, rec.output = stepCompleted, child.Output
	default:
		rec.status, cause = stepFailed, errors.New(childError(child))
	}
	if cause != nil {
		msg := storableText(cause.Error())
		rec.err = &msg
	}
	out, err := s.storeStep(rec)
	switch {
	case err != nil:
		return zero, s.markLostOrInterrupted(st.ID, storeError(s.run.ID, st.ID, err))
	case out == saveLost:
		return zero, s.markLostOrInterrupted(st.ID, errLost)
	case out == saveRefused:
		// The child's end (or an earlier timeout) reached the step
		// meanwhile: its stored outcome stands.
		cur, err := s.c.q.StepGet(context.WithoutCancel(s.ctx), s.c.pool, &dbsqlc.StepGetParams{RunID: s.run.ID, ID: st.ID})
		if err != nil {
			return zero, s.markLostOrInterrupted(st.ID, err)
		}
		return resumeInvoke[T](ctx, s, cur, now)
	}
	if cause != nil {
		return zero, &StepError{RunID: s.run.ID, StepID: st.ID, Message: cause.Error(), Attempts: int(st.Attempts), cause: cause}
	}
	return decodeOutput[T](s, st.ID, rec.output)
}

func childError(child *dbsqlc.FlowRun) string {
	msg := fmt.Sprintf("invoked run %s %s", child.ID, child.Status)
	if child.Error != nil {
		msg += ": " + *child.Error
	}
	return msg
}

// resolveInvoke gives a parent run's Invoke step the outcome of its child,
// in the child's finishing transaction, and wakes the parent (or, if it is
// executing, lets its segment find the outcome when it suspends).
func (c *Client) resolveInvoke(ctx context.Context, tx pgx.Tx, parentRunID, stepID, childRunID string, status RunStatus, output []byte, errMsg *string) error {
	if _, err := c.q.RunLockOpen(ctx, tx, parentRunID); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	}
	if status == RunCompleted {
		return c.resolveStep(ctx, tx, parentRunID, stepID, stepCompleted, output, nil)
	}
	msg := fmt.Sprintf("invoked run %s %s", childRunID, status)
	if errMsg != nil {
		msg += ": " + *errMsg
	}
	return c.resolveStep(ctx, tx, parentRunID, stepID, stepFailed, nil, &msg)
}
