package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow/internal/store"
)

type invokeDetail struct {
	FunctionID string     `json:"function_id"`
	ChildRunID string     `json:"child_run_id"`
	Until      *time.Time `json:"until,omitempty"`
}

// Invoke starts fn as a child run of this run (see the root Invoke), or,
// on replay, returns the child's outcome: its stored JSON output and the
// stored step ID (for the caller's decode errors), or the step's error.
// encode gives the child's event data; it runs only for a new step.
func (s *Segment) Invoke(ctx context.Context, id string, fn *Function, encode func() ([]byte, error), timeout time.Duration) ([]byte, string, error) {
	sid, st, seq, err := s.begin(ctx, id, kindInvoke)
	if err != nil {
		return nil, "", err
	}
	now := time.Now()
	if st != nil {
		out, err := s.resumeInvoke(ctx, st, now)
		return out, sid, err
	}
	body, err := encode()
	if err != nil {
		return nil, sid, err
	}
	var until *time.Time
	if timeout > 0 {
		t := now.Add(timeout).UTC()
		if err := checkTime(sid, "timeout", t); err != nil {
			return nil, sid, err
		}
		until = &t
	}
	rec := stepRecord{id: sid, seq: seq, kind: kindInvoke, status: stepWaiting, attempts: 1, wakeAt: until, startedAt: now}
	ev := StoredEvent{ID: NewID(), Name: eventInvoked, Data: body, TS: now.UTC()}
	// The child's flow-control keys are evaluated here: one over
	// Config.MaxExpressionCost fails the step, where in the suspend
	// transaction it would fail (and retry) the segment.
	keys, err := s.c.directKeys(fn, ev)
	if err != nil {
		rec.wakeAt = nil
		return nil, sid, s.stepFailed(ctx, rec, NonRetriable(err))
	}
	refused := false
	s.suspendFor(ctx, suspension{wait: true, wakeAt: until, due: &refused, save: func(ctx context.Context, tx pgx.Tx) error {
		parentRunID, parentStepID := s.run.ID, sid
		child, err := s.c.startDirect(ctx, tx, fn, ev, keys, startOpts{direct: true, parentRunID: &parentRunID, parentStepID: &parentStepID})
		if err != nil {
			return fmt.Errorf("start child run of %q: %w", fn.id, err)
		}
		r := rec
		r.detail, _ = json.Marshal(invokeDetail{FunctionID: fn.id, ChildRunID: child.runID, Until: until})
		refused = child.skipped != ""
		if refused {
			// Flow control refused the child (upstream Inngest fails the
			// invoke for a rate limit): the step fails at once, and the run
			// resumes to see it.
			msg := storableText(invokeRefused(fn.id, child))
			end := time.Now()
			r.status, r.err, r.wakeAt, r.endedAt = stepFailed, &msg, nil, &end
		}
		return s.saveTx(ctx, tx, r)
	}})
	return nil, sid, errSuspended
}

// invokeRefused is the error of an Invoke step whose child flow control
// skipped; it starts with ErrRunSkipped's text, which resumeInvoke turns
// back into the sentinel on replay.
func invokeRefused(fnID string, child startedRun) string {
	return fmt.Sprintf("%s: invoked function %q: %s (run %s)", ErrRunSkipped.Error(), fnID, child.skipped, child.runID)
}

// resumeInvoke returns a replayed Invoke step's outcome (the child's
// stored output, or the step's error), or suspends again.
func (s *Segment) resumeInvoke(ctx context.Context, st *store.Step, now time.Time) ([]byte, error) {
	switch st.Status {
	case stepCompleted:
		return st.Output, nil
	case stepFailed:
		e := s.storedStepError(st)
		switch {
		case e.Message == ErrInvokeTimeout.Error():
			e.cause = ErrInvokeTimeout
		case strings.HasPrefix(e.Message, ErrRunSkipped.Error()+": "):
			e.cause = ErrRunSkipped
		}
		return nil, e
	}
	// Still waiting: the child may have ended without reaching us (its end
	// found this run executing), or the timeout may have passed.
	child, err := s.c.store.GetChildRun(context.WithoutCancel(s.ctx), s.c.pool, s.run.ID, st.ID)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, s.markLostOrInterrupted(st.ID, err)
	}
	ended := err == nil && RunStatus(child.Status).Ended()
	timedOut := !ended && st.WakeAt != nil && !st.WakeAt.After(now)
	if !ended && !timedOut {
		s.suspendFor(ctx, suspension{wait: true, wakeAt: st.WakeAt, resumeOf: st.ID})
		return nil, errSuspended
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
		return nil, s.markLostOrInterrupted(st.ID, storeError(s.run.ID, st.ID, err))
	case out == saveLost:
		return nil, s.markLostOrInterrupted(st.ID, errLost)
	case out == saveRefused:
		// The child's end (or an earlier timeout) reached the step
		// meanwhile: its stored outcome stands.
		cur, err := s.c.store.GetStep(context.WithoutCancel(s.ctx), s.c.pool, s.run.ID, st.ID)
		if err != nil {
			return nil, s.markLostOrInterrupted(st.ID, err)
		}
		return s.resumeInvoke(ctx, cur, now)
	}
	if cause != nil {
		return nil, &StepError{RunID: s.run.ID, StepID: st.ID, Message: cause.Error(), Attempts: int(st.Attempts), cause: cause}
	}
	return rec.output, nil
}

func childError(child *store.Run) string {
	msg := fmt.Sprintf("invoked run %s %s", child.ID, child.Status)
	if child.Error != nil {
		msg += ": " + *child.Error
	}
	return msg
}

// resolveInvoke gives a parent run's Invoke step the outcome of its child,
// in the child's finishing transaction, and wakes the parent (or, if it is
// executing, lets its segment find the outcome when it suspends).
func (c *Engine) resolveInvoke(ctx context.Context, tx pgx.Tx, parentRunID, stepID, childRunID string, status RunStatus, output []byte, errMsg *string) error {
	if _, err := c.store.LockOpenRun(ctx, tx, parentRunID); err != nil {
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
